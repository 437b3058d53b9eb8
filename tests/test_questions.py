"""Hostile and unusual questions: each gets a clear reply or validation message, never a traceback,
and the server keeps serving afterwards."""

from __future__ import annotations

import html

import pytest
from gradio_client import Client

from app.cli import main as cli_main
from app.questions import clean_question, validate_question

# question -> what the reply must contain: a validation message, or None for a normal answer/abstention
QUESTIONS: dict[str, str | None] = {
    "": "Please type a question",
    " \t\n  ": "Please type a question",
    "x" * 100_000: "under 1,000",
    ("prison " * 20_000): "under 1,000",
    "\x00\x01\x1b\x7f\u202e": "Please type a question",
    "\x1b[31m?!": None,
    "How many\x00 prisoners\x1b[2J are\u202e in El Salvador?": None,
    "🙂🙂🔥": "Please ask a question with words in it",
    "How many prisoners 🚔 does El Salvador hold? 🤔": None,
    "萨尔瓦多有多少囚犯？": None,
    "كم عدد السجناء في السلفادور؟": None,
    "Сколько заключённых в Сальвадоре?": None,
    "¿Cuántas personas están presas en El Salvador?": None,
    "<script>alert(1)</script> prisons": None,
    "[x](javascript:alert(1)) CECOT": None,
}


def test_cleaning_and_validation_rules():
    assert clean_question("a\x00b\u202ec\n d") == "a b c d"
    assert validate_question("How many?") is None
    assert validate_question("¿Cuántos presos hay?") is None
    for question, expected in QUESTIONS.items():
        problem = validate_question(question)
        assert (problem is None) if expected is None else (expected in problem), question[:40]


def _chat_text(history) -> str:
    content = history[-1]["content"]
    return html.unescape(content[0]["text"] if isinstance(content, list) else content)


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def test_every_question_gets_a_clear_reply_and_the_server_keeps_serving(client, server_url):
    for question, expected in QUESTIONS.items():
        reply = client.predict(question, 5, "hybrid", api_name="/ask")
        history, box = client.predict(question, [], 5, "hybrid", [], api_name="/chat")
        chat = _chat_text(history)
        assert box == ""
        assert "Traceback" not in chat and "Error" not in chat
        if expected is not None:
            assert expected in reply["error"] and reply["results"] == []
            assert expected in chat
        else:
            # A real answer or an explicit abstention, from the live index.
            assert "error" not in reply and reply["version"].startswith("v-")
            assert reply["results"] or reply["abstained"]
            assert ("The sources do not answer this" in chat) or ("<mark>" in chat)
        # The echoed question is the cleaned text, cut to the limit: no control characters reach the page.
        echoed = history[-2]["content"]
        echoed = html.unescape(echoed[0]["text"] if isinstance(echoed, list) else echoed)
        assert len(echoed) <= 1000 and all(ch.isprintable() for ch in echoed)
    reply = client.predict("How many people are in prison in El Salvador?", 5, "hybrid", api_name="/ask")
    assert any("119,000" in r["text"] for r in reply["results"][:3])


def test_bad_parameters_get_a_clear_reply(client):
    assert "Unknown retriever" in client.predict("CECOT", 5, "telepathy", api_name="/ask")["error"]
    # An out-of-range k is refused with the range, not silently clamped (issue 17).
    reply = client.predict("CECOT capacity", 10_000, "hybrid", api_name="/ask")
    assert reply["results"] == [] and "from 1 to 50" in reply["error"]


def test_cli_replies_to_every_question(bundled_settings, capsys):
    base = ["ask", "--sources-dir", str(bundled_settings.sources_dir), "--index-dir", str(bundled_settings.index_dir), "--json"]
    for question, expected in QUESTIONS.items():
        code = cli_main([*base, question])
        out = capsys.readouterr()
        if expected is not None:
            assert code == 2 and expected in out.err and out.out == ""
        else:
            assert code == 0 and out.out.startswith("[")
        assert "Traceback" not in out.err
