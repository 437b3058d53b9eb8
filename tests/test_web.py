"""The web app through its real HTTP API (gradio_client) and in a real browser (Chromium)."""

import os
import shutil
from pathlib import Path

import pytest
from gradio_client import Client

from app.web import validate_question

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def test_app_answers_through_the_api(client):
    reply = client.predict("How many prisoners does El Salvador hold?", 5, "hybrid", api_name="/ask")
    assert reply["abstained"] is False
    assert any("119,000" in r["text"] for r in reply["results"][:3])
    assert all(r["title"] and r["source"] for r in reply["results"])


def test_chat_reply_marks_evidence_and_cites(client):
    history, box = client.predict("How many people are in prison in El Salvador?", [], 5, "hybrid", [], api_name="/chat")
    assert box == ""
    reply = history[-1]["content"][0]["text"] if isinstance(history[-1]["content"], list) else history[-1]["content"]
    assert "<mark>" in reply and "119,000" in reply
    assert "pism-international-echoes-of-el-salvador-public-security-model.txt" in reply
    assert "Barbara Midziak" in reply


def test_bad_questions_get_a_clear_reply(client):
    for question, expected in [("", "Please type a question"), ("   ", "Please type a question"), ("x" * 5000, "under 1,000")]:
        history, _ = client.predict(question, [], 5, "hybrid", [], api_name="/chat")
        reply = history[-1]["content"][0]["text"] if isinstance(history[-1]["content"], list) else history[-1]["content"]
        assert expected in reply
    # The server keeps serving afterwards.
    assert client.predict("CECOT capacity", 3, "hybrid", api_name="/ask")["results"]


def test_validation_rules():
    assert validate_question("How many?") is None
    assert validate_question("¿Cuántos presos hay?") is None
    assert validate_question("🙂🙂") == "Please ask a question with words in it."


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")
def test_browser_shows_quoted_cited_answer(server_url, artifacts_dir):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server_url)
        page.locator("#vb-question textarea").fill("How many people are in prison in El Salvador?")
        page.locator("#vb-ask").click()
        page.locator("#vb-chat mark").first.wait_for(timeout=30000)
        chat = page.locator("#vb-chat")
        assert "119,000" in chat.inner_text()
        assert chat.locator(".vb-cite li").count() >= 5
        assert "International Echoes of El Salvador" in chat.inner_text()
        page.screenshot(path=str(artifacts_dir / "answer.png"), full_page=False)
        browser.close()
