"""Reading answers in context, in Debian's chromium: `?q=` links, the source view opened from a citation,
copy with citation, the conversation export, abstentions without evidence marks, a 390 px screen."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.present import NO_ANSWER, md_literal, question_link
from index.storage.store import load_version

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")

ANSWERED = "How many times has the state of emergency been extended?"
WOLA_QUESTION = "What does Beatriz Magaloni say about the prisons?"
OFF_TOPIC = "What is the boiling point of mercury?"
QUOTE = re.compile(r'^> "(.*)" — (.*)$', re.M)
MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a Markdown backslash escape
HIGHLIGHTED = re.compile(r'^\*\*\d+\.\*\* Highlighted: "(.*)"$', re.M)
IN_VIEW = "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.height > 0; }"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


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


@pytest.fixture(scope="module")
def texts(bundled_settings) -> dict[str, str]:
    """Each bundled source's cleaned text, as the live index holds it."""
    return {name: record.text for name, record in load_version(bundled_settings.index_dir).sources.items()}


def _query(href: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}


def _open_source(context, link):
    """Click a citation (it opens a new tab) and wait for the highlighted passage."""
    with context.expect_page() as opened:
        link.click()
    page = opened.value
    page.locator("#vb-focus").wait_for(timeout=60000)
    page.wait_for_timeout(500)  # the scroll runs on the next animation frame
    return page


def test_a_link_answers_and_a_citation_opens_the_source_at_the_passage(browser, server_url, texts, artifacts_dir):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server_url + question_link(ANSWERED))  # a shared link asks its question on load
    page.locator("#vb-chat mark").first.wait_for(timeout=60000)
    assert ANSWERED in page.locator("#vb-chat").inner_text()
    assert "46 times" in page.locator("#vb-chat").inner_text()

    hit = page.locator("#vb-chat .vb-hit").first
    citation = hit.locator(".vb-cite a.vb-open").first
    where = _query(citation.get_attribute("href"))
    start, end = int(where["start"]), int(where["end"])
    text = texts[where["file"]]
    answer_marks = [m.text_content() for m in hit.locator("mark").all()]

    source = _open_source(context, citation)
    focus = source.locator("mark.vb-focus")
    assert "".join(m.text_content() for m in focus.all()) == text[start:end]
    a, b = (int(x) for x in where["ev"].split("-"))
    evidence = "".join(m.text_content() for m in source.locator("mark.vb-evidence").all())
    assert evidence == text[start + a : start + b] and all(m in evidence for m in answer_marks)
    assert source.locator("#vb-focus").evaluate(IN_VIEW)
    assert source.locator(".vb-pnum").count() == len(text.split("\n\n"))
    assert source.locator(".vb-para-focus .vb-pnum").first.is_visible()  # the cited paragraph shows its number
    source.screenshot(path=str(artifacts_dir / "source-view-desktop.png"))

    # Next and previous passage: one click each, the bar stays on screen, the new passage is in view.
    label = source.locator(".vb-doc-where").inner_text()
    assert source.locator("#vb-next").evaluate(IN_VIEW)
    source.locator("#vb-next").click()
    source.wait_for_function(f"document.querySelector('.vb-doc-where').innerText !== {label!r}", timeout=30000)
    source.wait_for_timeout(500)
    following = "".join(m.text_content() for m in source.locator("mark.vb-focus").all())
    assert following and following in text and text.index(following) > start
    assert source.locator("#vb-focus").evaluate(IN_VIEW)
    source.locator("#vb-prev").click()
    source.wait_for_function(f"document.querySelector('.vb-doc-where').innerText === {label!r}", timeout=30000)
    assert "".join(m.text_content() for m in source.locator("mark.vb-focus").all()) == text[start:end]
    source.close()

    # A passage that stands in both WOLA files opens in either.
    page.locator("#vb-question textarea").fill(WOLA_QUESTION)
    page.locator("#vb-ask").click()
    page.wait_for_function("document.querySelectorAll('#vb-chat .vb-md').length >= 2", timeout=60000)
    shared = page.locator("#vb-chat .vb-hit").filter(has=page.locator(".vb-cite li:nth-child(2)")).first
    links = shared.locator(".vb-cite a.vb-open")
    assert links.count() == 2
    files = []
    for i in range(2):
        where = _query(links.nth(i).get_attribute("href"))
        source = _open_source(context, links.nth(i))
        marked = "".join(m.text_content() for m in source.locator("mark.vb-focus").all())
        assert marked == texts[where["file"]][int(where["start"]) : int(where["end"])]
        assert where["file"] in source.locator(".vb-doc-head").inner_text()
        files.append(where["file"])
        source.close()
    assert len(set(files)) == 2 and all(f.startswith("wola-") for f in files)
    context.close()


def test_copied_quotes_and_the_export_are_verbatim(browser, server_url, texts):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(server_url + question_link(ANSWERED))
    page.locator("#vb-chat mark").first.wait_for(timeout=60000)

    answering = page.locator("#vb-chat .vb-hit").filter(has=page.locator("button.vb-copy-sentence"))
    assert answering.count() >= 2
    for rank in range(2):
        hit = answering.nth(rank)
        where = _query(hit.locator(".vb-cite a.vb-open").first.get_attribute("href"))
        text, start, end = texts[where["file"]], int(where["start"]), int(where["end"])
        hit.locator("button.vb-copy-passage").click()
        page.wait_for_function("window.verbatimLastCopy !== undefined", timeout=10000)
        copied = page.evaluate("navigator.clipboard.readText()")
        quote, citation = QUOTE.fullmatch(copied).groups()
        # The cleaned text at the cited offsets, made literal for Markdown (its own markup escaped, issue 26).
        assert quote == md_literal(text[start:end])
        paragraph = hit.locator(".vb-cite a.vb-open").first.inner_text().split("¶ ")[1].split(",")[0]
        assert f"¶ {paragraph}" in citation and "*" in citation and where["file"] in citation
        hit.locator("button.vb-copy-sentence").click()
        page.wait_for_function(f"navigator.clipboard.readText().then(t => t !== {copied!r})", timeout=10000)
        sentence, same_citation = QUOTE.fullmatch(page.evaluate("navigator.clipboard.readText()")).groups()
        a, b = (int(x) for x in where["ev"].split("-"))
        assert sentence == md_literal(text[start + a : start + b]) and same_citation == citation
        assert all(mark.text_content() in MD_ESCAPE.sub(r"\1", sentence) for mark in hit.locator("mark").all())  # it spans the highlight

    # Over plain http on a network address the Clipboard API is missing: the selection copy takes over.
    page.evaluate("navigator.clipboard.writeText('before')")
    page.evaluate("Object.defineProperty(window, 'isSecureContext', {get: () => false})")
    answering.first.locator("button.vb-copy-passage").click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t !== 'before')", timeout=10000)
    assert QUOTE.fullmatch(page.evaluate("navigator.clipboard.readText()"))

    page.locator("#vb-question textarea").fill(OFF_TOPIC)
    page.locator("#vb-ask").click()
    page.wait_for_function("document.querySelectorAll('#vb-chat .vb-md').length >= 2", timeout=60000)
    with page.expect_download() as download:
        page.locator("#vb-export").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename.startswith("verbatim-conversation-")
    assert f"## {ANSWERED}" in exported and f"## {OFF_TOPIC}" in exported
    assert NO_ANSWER in exported.split(f"## {OFF_TOPIC}")[1] and "Highlighted" not in exported.split(f"## {OFF_TOPIC}")[1]
    quotes = QUOTE.findall(exported)
    highlighted = HIGHLIGHTED.findall(exported)
    assert len(quotes) >= 6 and highlighted
    for quote in [q for q, _ in quotes] + highlighted:
        assert any(MD_ESCAPE.sub(r"\1", quote) in text for text in texts.values()), quote
    context.close()


def test_abstention_is_set_apart_and_a_phone_reads_without_sideways_scrolling(browser, server_url, texts, artifacts_dir):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server_url + question_link(OFF_TOPIC))
    page.locator("#vb-chat .vb-closest").first.wait_for(timeout=60000)
    chat = page.locator("#vb-chat")
    assert NO_ANSWER in chat.inner_text()
    assert chat.locator("mark").count() == 0 and chat.locator(".vb-copy-sentence").count() == 0
    assert chat.locator(".vb-hit").count() == chat.locator(".vb-hit.vb-closest").count() >= 1
    assert chat.locator(".vb-closest .vb-label").first.inner_text() == "closest passage — does not answer"
    assert "ev" not in _query(chat.locator(".vb-closest a.vb-open").first.get_attribute("href"))
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    page.goto(server_url + question_link(ANSWERED))
    page.locator("#vb-chat mark").first.wait_for(timeout=60000)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=str(artifacts_dir / "answer-phone.png"))
    source = _open_source(context, page.locator("#vb-chat .vb-hit .vb-cite a.vb-open").first)
    assert source.evaluate(NO_SIDEWAYS_SCROLL)
    assert source.locator("#vb-focus").evaluate(IN_VIEW) and source.locator("#vb-next").evaluate(IN_VIEW)
    source.screenshot(path=str(artifacts_dir / "source-view-phone.png"))
    context.close()
