"""Hostile source text in a real browser (Debian chromium + playwright): indexed, shown, and inert."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from index.config import Settings
from index.build.pipeline import build_index
from tests.conftest import running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")

LONG_WORDS = " ".join(["the lighthouse keeper logged the weather again"] * 450)  # ~20,000 characters on one line
LONG_TOKEN = "x" * 6000  # one unbroken 'word' that must wrap, not stretch the page
HOSTILE_TEXT = f"""Lighthouse Maintenance Memo

The Port of Veradale spent 42,000 euros repairing the north lighthouse lamp in 2023. <script>alert(1)</script><script>window.__pwned = "script"</script>
The inspection found corroded wiring <img src=x onerror="window.__pwned='img'; alert(2)"> inside the lamp housing of the north lighthouse.
Read [the full lighthouse report](javascript:alert(3)) or <a href="javascript:window.__pwned='link'">the lighthouse annex</a> and <iframe src="javascript:alert(4)"></iframe>.

{LONG_WORDS}

Lighthouse reference code {LONG_TOKEN}
"""
HOSTILE_TITLE = 'Memo <img src=x onerror="window.__pwned=\'title\'"> <script>window.__pwned="title"</script> [t](javascript:alert(5))'


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("hostile")
    sources = root / "sources"
    shutil.copytree(Path(__file__).resolve().parent.parent / "sources", sources)
    (sources / "hostile-memo.txt").write_text(HOSTILE_TEXT, encoding="utf-8")
    with (sources / "sources.toml").open("a", encoding="utf-8") as fh:
        title = HOSTILE_TITLE.replace("\\", "\\\\").replace('"', '\\"')
        fh.write(
            f'\n["hostile-memo.txt"]\ntitle = "{title}"\npublisher = "<b onmouseover=alert(6)>Evil Press</b>"\n'
            'url = "javascript:window.__pwned=\'url\'"\n'
        )
    settings = Settings(sources_dir=sources, index_dir=root / "index")
    report = build_index(settings, embedder=embedder)
    assert not report.skipped and report.sources == 5
    with running_server(settings, root / "serve.log") as url:
        yield url


def test_hostile_source_is_shown_as_inert_text(hostile_server, artifacts_dir):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(hostile_server)
        page.locator("#vb-question textarea").fill("How much did the Port of Veradale spend repairing the north lighthouse lamp?")
        page.locator("#vb-ask").click()
        page.locator("#vb-chat mark").first.wait_for(timeout=30000)
        # The links' paragraph is not among the first question's five passages (the memo's title,
        # indexed since issue 17, is): a second question brings it in.
        page.locator("#vb-question textarea").fill("Where can the full lighthouse report and the lighthouse annex be read?")
        page.locator("#vb-ask").click()
        page.locator("#vb-chat .vb-quote").get_by_text("the full lighthouse report](javascript:", exact=False).first.wait_for(timeout=30000)
        page.wait_for_timeout(1000)  # give any injected handler the chance to fire
        chat = page.locator("#vb-chat")
        text = chat.inner_text()

        # The evidence is marked in pieces around the reader's answer span (<mark><strong class="vb-answer">).
        hit = page.locator("#vb-chat .vb-hit").filter(has_text="42,000 euros").first
        assert "42,000 euros" in "".join(m.text_content() for m in hit.locator("mark").all())
        # The markup is there, as text a reader can see...
        assert "<script>alert(1)</script>" in text
        assert "onerror=\"window.__pwned='img'; alert(2)\"" in text
        # A .txt keeps its characters (issue 26, item 12): its Markdown link is shown as the text it is, never linked.
        assert "Read [the full lighthouse report](javascript:alert(3)) or" in text
        assert """<a href="javascript:window.__pwned='link'">the lighthouse annex</a>""" in text
        assert HOSTILE_TITLE in text  # the citation shows the hostile title literally
        # ...and none of it became an element or ran.
        assert dialogs == []
        assert page.evaluate("window.__pwned") is None
        assert chat.locator("script, iframe, img[src='x'], [onerror], [onmouseover]").count() == 0
        assert page.locator("a[href^='javascript:' i], iframe[src^='javascript:' i], [onerror], [onmouseover]").count() == 0
        # Long lines wrap inside the chat instead of stretching the page.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(artifacts_dir / "hostile.png"), full_page=False)

        # The Sources tab and the source filter render the hostile title and publisher as text too.
        page.get_by_role("tab", name="Sources").click()
        table = page.locator("#vb-sources")
        table.get_by_text("Evil Press", exact=False).first.wait_for(timeout=15000)
        assert "<b onmouseover=alert(6)>Evil Press</b>" in table.inner_text()
        assert table.locator("b, img, script").count() == 0
        page.wait_for_timeout(500)
        assert dialogs == [] and page.evaluate("window.__pwned") is None
        assert page.locator("a[href^='javascript:' i], [onerror], [onmouseover]").count() == 0

        # The source view, opened from the hostile passage's citation, shows the same text as text.
        page.get_by_role("tab", name="Ask").click()
        link = page.locator("#vb-chat .vb-hit").filter(has_text="42,000 euros").locator("a.vb-open").first
        with page.context.expect_page() as opened:
            link.click()
        source = opened.value
        source.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        source.locator("#vb-focus").wait_for(timeout=30000)
        source.wait_for_timeout(1000)
        view = source.locator("#vb-source-view")
        text = view.inner_text()
        assert "42,000 euros" in source.locator("mark.vb-focus").first.inner_text()
        assert "<script>alert(1)</script>" in text and "onerror=\"window.__pwned='img'; alert(2)\"" in text
        assert """<a href="javascript:window.__pwned='link'">the lighthouse annex</a>""" in text
        assert "[the full lighthouse report](javascript:alert(3))" in text
        assert HOSTILE_TITLE in text and "<b onmouseover=alert(6)>Evil Press</b>" in text
        assert "javascript:window.__pwned='url'" in text  # the hostile URL is shown, not linked
        assert dialogs == [] and source.evaluate("window.__pwned") is None
        assert view.locator("script, iframe, img, b, [onerror], [onmouseover]").count() == 0
        assert source.locator("a[href^='javascript:' i], iframe[src^='javascript:' i], [onerror], [onmouseover]").count() == 0
        assert source.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        source.screenshot(path=str(artifacts_dir / "hostile-source.png"), full_page=False)
        browser.close()
