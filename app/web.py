"""The web app: a Gradio chat that answers with cited, verbatim passages from the one search path."""

from __future__ import annotations

import html

import gradio as gr

from app.config import Settings
from app.present import answer_to_dicts, answer_to_html
from index.search import MODES, Searcher

MAX_QUESTION_CHARS = 1000
EXAMPLES = [
    "How many people are in prison in El Salvador?",
    "How many times has the state of emergency been extended?",
    "Which countries have copied Bukele's approach?",
    "What does Beatriz Magaloni say about the prisons?",
]
CSS = """
.vb-hit { border-left: 3px solid #8aa; padding: 4px 10px; margin: 10px 0; }
.vb-head { font-size: 0.85em; color: #567; }
.vb-quote { margin: 6px 0; font-family: Georgia, serif; white-space: pre-wrap; }
.vb-quote mark { background: #fff1a8; padding: 0 2px; }
.vb-cite { font-size: 0.85em; color: #456; margin: 0; padding-left: 18px; }
.vb-abstain { color: #7a3b00; }
.vb-source { margin: 14px 0 2px; font-size: 0.95em; }
"""


def validate_question(question: str | None) -> str | None:
    """The reason a question cannot be searched, or None when it can."""
    text = (question or "").strip()
    if not text:
        return "Please type a question."
    if len(text) > MAX_QUESTION_CHARS:
        return f"That question is {len(text):,} characters long; please keep it under {MAX_QUESTION_CHARS:,}."
    if not any(ch.isalnum() for ch in text):
        return "Please ask a question with words in it."
    return None


def _clean_question(question: str) -> str:
    # Control characters carry no meaning for search and break some tokenizers' assumptions.
    return "".join(ch if ch.isprintable() else " " for ch in question).strip()


def make_app(settings: Settings, searcher: Searcher | None = None) -> gr.Blocks:
    """The Blocks app; the Searcher (model and index) is loaded once and shared by all users."""
    searcher = searcher or Searcher(settings)
    index = searcher.index()
    choices = [(rec.meta.title or name, name) for name, rec in sorted(index.sources.items())]

    def respond(
        question: str, history: list | None, k: int, mode: str, files: list[str] | None, by_source: bool = False
    ):
        history = list(history or [])
        problem = validate_question(question)
        if problem:
            reply = f"<p>{html.escape(problem)}</p>"
        else:
            answer = searcher.search(_clean_question(question), k=int(k), mode=mode, files=files or None)
            reply = answer_to_html(answer, by_source=bool(by_source))
        history.append({"role": "user", "content": html.escape((question or "")[:MAX_QUESTION_CHARS])})
        history.append({"role": "assistant", "content": reply})
        return history, ""

    def ask_json(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """API: the same search as the chat, as JSON records."""
        problem = validate_question(question)
        if problem:
            return {"error": problem, "results": []}
        answer = searcher.search(_clean_question(question), k=int(k), mode=mode)
        return {"abstained": answer.abstained, "version": answer.version, "results": answer_to_dicts(answer)}

    with gr.Blocks(title="Verbatim") as app:
        gr.Markdown("## Verbatim\nAnswers are quoted word for word from the sources, with citations. Highlighted: the sentence that answers.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Answers",
                    height=620,
                    sanitize_html=True,
                    latex_delimiters=[],
                    feedback_options=None,
                    autoscroll=False,
                    buttons=["copy_all"],
                    elem_id="vb-chat",
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask a question about the sources…",
                        show_label=False,
                        scale=5,
                        max_length=MAX_QUESTION_CHARS * 100,
                        elem_id="vb-question",
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="vb-ask")
                gr.Examples(EXAMPLES, inputs=box)
            with gr.Column(scale=1):
                k = gr.Slider(1, 10, value=settings.k, step=1, label="Passages")
                mode = gr.Radio(list(MODES), value=settings.mode, label="Retriever")
                files = gr.Dropdown(choices, multiselect=True, label="Only these sources", value=[])
                by_source = gr.Checkbox(label="Group passages by source", value=False, elem_id="vb-by-source")
        inputs = [box, chat, k, mode, files, by_source]
        box.submit(respond, inputs, [chat, box], api_name="chat")
        send.click(respond, inputs, [chat, box], api_name=False)
        gr.api(ask_json, api_name="ask")
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, **launch) -> None:
    """Start the app (blocking unless prevent_thread_lock=True is passed)."""
    app = make_app(settings)
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=host, server_port=port, css=CSS, show_error=False, **launch)
