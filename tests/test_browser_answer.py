"""The reader's answer in Debian's chromium: the words that answer are marked inside the highlighted sentence."""

from __future__ import annotations

from app.present import question_link

from test_browser_read import browser, pytestmark  # noqa: F401 - the module's browser and skip rule


def test_the_answer_span_is_marked_inside_the_highlighted_sentence(browser, server_url, artifacts_dir):  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    # A question whose span the gate is confident in (a span is marked only then).
    page.goto(server_url + question_link("How many times has the state of emergency in El Salvador been extended?"))
    span = page.locator("#vb-chat .vb-hit mark strong.vb-answer").first
    span.wait_for(timeout=60000)
    assert span.is_visible()
    words = span.text_content()
    sentence = span.locator("xpath=ancestor::blockquote").first.inner_text()
    assert words and words in sentence and len(words) < len(sentence)
    weight = span.evaluate("el => getComputedStyle(el).fontWeight")
    assert int(weight) >= 600  # shown bold, apart from the rest of the highlighted sentence
    page.screenshot(path=str(artifacts_dir / "answer-span.png"))
