"""The source view is one server-rendered page: the marked passage is in the first response, hostile
links get a plain message, and in Debian's chromium the passage is on screen soon after the click.

The time from opening a /source link to the marked passage being visible is printed (and written to
tests/artifacts/source_page.json), not asserted tightly: a shared 2-core machine makes timed tests flaky.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.present import question_link
from index.storage.store import load_version

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IN_VIEW = "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.height > 0; }"
QUESTION = "How many times has the state of emergency been extended?"


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode("utf-8")
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read().decode("utf-8")


@pytest.fixture(scope="module")
def cited(bundled_settings):
    """A passage of the live index: its file, offsets and text."""
    index = load_version(bundled_settings.index_dir)
    occurrence = next(p for p in index.passages if "46 times" in p.text).occurrences[0]
    text = index.sources[occurrence.file].text[occurrence.start : occurrence.end]
    return occurrence.file, occurrence.start, occurrence.end, text


def _link(server_url: str, file: str, start: int, end: int) -> str:
    return f"{server_url}source?" + urlencode({"file": file, "start": start, "end": end})


def test_the_marked_passage_is_in_the_first_response(server_url, cited):
    file, start, end, text = cited
    status, headers, body = _get(_link(server_url, file, start, end))
    assert status == 200
    assert 'id="vb-focus"' in body and 'id="vb-source-view"' in body and 'id="vb-next"' in body
    assert "<script src" not in body and "<link" not in body  # no app shell: nothing to load before the text shows
    policy = headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert body.count("<script") == 1 and f'<script nonce="{nonce}">' in body  # only the page's own script runs
    assert "default-src 'none'" in policy and headers["cache-control"] == "no-store"
    assert text.split()[0] in body


@pytest.mark.parametrize(
    "query, status, says",
    [
        ({"file": "../../../../etc/passwd"}, 404, "no source named"),
        ({"file": "/etc/passwd", "start": "0", "end": "10"}, 404, "no source named"),
        ({"file": "..%2F..%2Fpyproject.toml"}, 404, "no source named"),
        ({"file": ""}, 400, "No source given"),
        ({"start": "1", "end": "2"}, 400, "No source given"),
    ],
)
def test_a_link_to_no_source_is_a_plain_message(server_url, query, status, says):
    code, _, body = _get(f"{server_url}source?" + urlencode(query))
    assert code == status and says in html.unescape(body) and "root:" not in body and "Traceback" not in body
    assert 'id="vb-focus"' not in body


@pytest.mark.parametrize(
    "start, end",
    [("-5", "10"), ("10", "5"), ("0", str(10**30)), ("x", "4"), ("1e3", "2e3"), (str(-(10**40)), "0"), ("0x10", "0x20")],
)
def test_hostile_offsets_show_the_whole_source_with_a_notice(server_url, cited, start, end):
    file, *_ = cited
    code, _, body = _get(_link(server_url, file, start, end))  # type: ignore[arg-type]
    assert code == 200 and "Cannot show that place" in body and 'class="vb-pnum"' in body
    assert 'id="vb-focus"' not in body and "Traceback" not in body


def test_a_head_request(server_url, cited):
    file, start, end, _ = cited
    request = urllib.request.Request(_link(server_url, file, start, end), method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")
def test_time_from_a_click_to_the_marked_passage(server_url, cited, artifacts_dir):
    """Reports how long "Read in context" takes to show the marked passage: opened directly and from the chat."""
    from playwright.sync_api import sync_playwright

    file, start, end, text = cited
    link = _link(server_url, file, start, end)
    opened, clicked = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        for _ in range(5):  # a link opened in a new tab, as a citation opens
            page = context.new_page()
            began = time.perf_counter()
            page.goto(link, wait_until="commit")
            focus = page.locator("#vb-focus")
            focus.wait_for(state="visible", timeout=30000)
            page.wait_for_function(f"() => ({IN_VIEW})(document.getElementById('vb-focus'))", timeout=30000)
            opened.append(time.perf_counter() - began)
            assert "".join(m.text_content() for m in page.locator("mark.vb-focus").all()) == text
            page.close()

        chat = context.new_page()
        chat.goto(server_url + question_link(QUESTION))
        chat.locator("#vb-chat mark").first.wait_for(timeout=60000)
        citations = chat.locator("#vb-chat .vb-hit .vb-cite a.vb-open")
        for i in range(min(3, citations.count())):
            with context.expect_page() as new_tab:
                began = time.perf_counter()
                citations.nth(i).click()
            page = new_tab.value
            page.wait_for_function(
                f"() => {{ const f = document.getElementById('vb-focus'); return f && ({IN_VIEW})(f); }}", timeout=30000
            )
            clicked.append(time.perf_counter() - began)
            page.close()
        browser.close()

    figures = {
        "opened_s": [round(t, 3) for t in opened],
        "clicked_s": [round(t, 3) for t in clicked],
        "opened_median_s": round(statistics.median(opened), 3),
        "clicked_median_s": round(statistics.median(clicked), 3),
        "load_average": os.getloadavg()[0],
    }
    (artifacts_dir / "source_page.json").write_text(json.dumps(figures, indent=2))
    print(
        f"\nsource view: link opened -> marked passage visible {figures['opened_median_s']:.3f} s median of {len(opened)} "
        f"({min(opened):.3f}-{max(opened):.3f}); citation clicked in the chat -> visible "
        f"{figures['clicked_median_s']:.3f} s median of {len(clicked)}; load average {figures['load_average']:.1f}"
    )
    assert max(opened + clicked) < 15, figures  # generous: a hang, not a slow machine, should fail this
