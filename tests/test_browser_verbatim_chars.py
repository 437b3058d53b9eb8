"""Issue 34: quotes show the source's characters exactly in the chat, the source view, the copied quote
and the export (`$`, `*`, `<`, `_`, backticks, a backslash); typos get a "did you mean"; the examples
come from the collection; an upload of many files reports every file; in Debian's chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from markdown_it import MarkdownIt

from index.build.pipeline import build_index
from index.config import Settings
from index.storage.store import load_version
from tests.conftest import running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")

TRICKY = (
    "The harbour fee rose from $145 to $314 per *boat* between 2019 and 2025, and <b>pilots</b> pay "
    "fee_base_rate plus `tonnage` times 2 \\ 3 of the old rate."
)
HARBOUR = f"""Marlow Bay harbour report

{TRICKY}

The lighthouse at Marlow Bay was built in 1871 and still guides the fishing fleet home.
"""
QUESTION = "How much did the harbour fee rise per boat?"


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("chars")
    (root / "sources").mkdir()
    (root / "sources" / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    settings = Settings(sources_dir=root / "sources", index_dir=root / "index")
    build_index(settings, embedder=embedder, full=True)
    with running_server(settings, root / "serve.log") as url:
        yield url, settings


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def _rendered(markdown: str) -> str:
    """What a CommonMark viewer shows of `markdown`, as text."""
    html = MarkdownIt("commonmark").render(markdown)
    from html.parser import HTMLParser

    out: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = out.append  # type: ignore[method-assign]
    parser.feed(html)
    return "".join(out)


def test_every_view_and_export_shows_the_source_characters(served, browser):
    url, settings = served
    text = load_version(settings.index_dir).sources["harbour.txt"].text
    assert TRICKY in text
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(url)
    page.locator("#vb-question textarea").fill(QUESTION)
    page.locator("#vb-ask").click()
    page.locator("#vb-chat .vb-quote").first.wait_for(timeout=60000)
    quotes = [q.text_content() for q in page.locator("#vb-chat .vb-quote").all()]
    assert any(TRICKY in q for q in quotes), quotes  # the chat: no backslash, entity or markup added or lost
    assert page.locator("#vb-chat .vb-quote b").count() == 0  # the source's <b> is text, not bold

    hit = page.locator("#vb-chat .vb-hit").filter(has_text="harbour fee").first
    where = {k: v[0] for k, v in parse_qs(urlsplit(hit.locator(".vb-cite a.vb-open").first.get_attribute("href")).query).items()}
    start, end = int(where["start"]), int(where["end"])
    with context.expect_page() as opened:
        hit.locator(".vb-cite a.vb-open").first.click()
    source = opened.value
    source.locator("#vb-focus").wait_for(timeout=60000)
    assert "".join(m.text_content() for m in source.locator("mark.vb-focus").all()) == text[start:end]
    assert TRICKY in source.locator("body").text_content()
    source.close()

    hit.locator("button.vb-copy-passage").click()
    page.wait_for_function("window.verbatimLastCopy !== undefined", timeout=10000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert TRICKY in _rendered(copied)  # Markdown whose rendering is the source's characters

    with page.expect_download() as download:
        page.locator("#vb-export").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert TRICKY in _rendered(exported)
    context.close()


def test_typos_are_answered_and_offered_as_spelled(served, browser):
    url, _ = served
    page = browser.new_page()
    page.goto(url)
    page.locator("#vb-question textarea").fill("When was the lighthuose at Marlow Bay bulit?")
    page.locator("#vb-ask").click()
    page.locator("#vb-chat .vb-spelled").wait_for(timeout=60000)
    assert page.locator("#vb-chat .vb-spelled").inner_text() == "When was the lighthouse at Marlow Bay built?"
    assert "1871" in page.locator("#vb-chat .vb-quote").first.text_content()
    page.close()


def test_examples_come_from_the_collection(served, browser):
    from app.web import example_questions
    from tests.conftest import SOURCES

    url, _ = served
    page = browser.new_page()
    page.goto(url)
    page.locator("#vb-question textarea").wait_for(timeout=60000)
    page.wait_for_timeout(1500)  # the page-load event that hides them
    assert "El Salvador" not in page.locator("body").inner_text()
    page.close()
    bundled = {p.name for p in SOURCES.glob("*.txt")}  # the bundled collection: its own examples, all four
    assert len(example_questions(bundled)) == 4 and example_questions({"harbour.txt"}) == []


def test_an_upload_of_many_files_reports_every_file(served, browser, tmp_path):
    url, _ = served
    files = []
    for i in range(19):
        path = tmp_path / f"note-with-a-rather-long-name-{i:02d}.txt"
        path.write_text(f"Note {i}\n\nThe storehouse number {i} keeps {i * 7 + 3} barrels of tar for the winter.\n", encoding="utf-8")
        files.append(path)
    (tmp_path / "empty-one.txt").write_text("   \n", encoding="utf-8")
    files.append(tmp_path / "empty-one.txt")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.get_by_role("tab", name="Sources").click()
    page.locator("#vb-upload input[type=file]").set_input_files([str(f) for f in files])
    page.wait_for_function("document.querySelector('#vb-status textarea').value.includes('Indexed')", timeout=180000)
    status = page.locator("#vb-status textarea").input_value()
    assert len(status) > 600
    assert status.startswith("20 files: 19 added, 1 skipped.")
    assert all(f"note-with-a-rather-long-name-{i:02d}.txt" in status for i in range(19))
    assert "Skipped empty-one.txt" in status
    page.locator("#vb-status-box button, #vb-status-box .label-wrap").first.click()  # folds away
    page.wait_for_timeout(500)
    assert not page.locator("#vb-status textarea").is_visible()
    page.close()
