"""The web app: a Gradio chat that answers with cited, verbatim passages from the one search path."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from index.config import Settings
from app.present import answer_to_dicts, answer_to_html, escape
from app.questions import MAX_QUESTION_CHARS, clean_question, validate_question
from index.build import build_index, list_sources
from index.search import MODES, Answer, Searcher
from index.model_files import ModelFileError
from index.store import IndexError_
from ingest.library import MAX_FILE_BYTES, add_sources, remove_source
from ingest.readers import SUPPORTED_SUFFIXES

EXAMPLES = [
    "How many people are in prison in El Salvador?",
    "How many times has the state of emergency been extended?",
    "Which countries have copied Bukele's approach?",
    "What does Beatriz Magaloni say about the prisons?",
]
log = logging.getLogger("verbatim.web")
UNEXPECTED = "Something went wrong while answering; the details are in the server log. Please try again."
CSS = """
.vb-hit { border-left: 3px solid #8aa; padding: 4px 10px; margin: 10px 0; }
.vb-head { font-size: 0.85em; color: #567; }
.vb-quote { margin: 6px 0; font-family: Georgia, serif; white-space: pre-wrap; overflow-wrap: anywhere; }
.vb-quote mark { background: #fff1a8; padding: 0 2px; }
.vb-cite { font-size: 0.85em; color: #456; margin: 0; padding-left: 18px; overflow-wrap: anywhere; }
.vb-abstain { color: #7a3b00; }
.vb-source { margin: 14px 0 2px; font-size: 0.95em; }
"""


def make_app(settings: Settings, searcher: Searcher | None = None) -> gr.Blocks:
    """The Blocks app; the Searcher (model and index) is loaded once and shared by all users."""
    searcher = searcher or Searcher(settings)

    def source_choices() -> list[tuple[str, str]]:
        try:
            return [(rec.meta.title or name, name) for name, rec in sorted(searcher.index().sources.items())]
        except IndexError_:
            return []  # the Ask tab says why; the Sources tab still lists the files

    def source_table() -> list[list]:
        try:
            live = searcher.index()
        except IndexError_:
            live = None
        return [[r.file, r.title, r.publisher, r.date, r.passages if r.indexed else "not indexed", r.added] for r in list_sources(settings, live)]

    def answer(question: str, k: int, mode: str, files: list[str] | None) -> tuple[Answer | None, str | None]:
        """The answer, or the message to show instead: a validation problem or an index fault and its fix."""
        problem = validate_question(question)
        if problem:
            return None, problem
        if mode not in MODES:
            return None, f"Unknown retriever {mode!r}; choose one of {', '.join(MODES)}."
        try:
            return searcher.search(clean_question(question), k=max(1, min(int(k), 50)), mode=mode, files=files or None), None
        except ModelFileError as exc:
            return None, f"A model file cannot be used: {exc}"
        except IndexError_ as exc:
            return None, f"The index cannot be used: {exc}"
        except Exception:
            # Never a stack trace in the reply: it goes to the server log, the user gets a plain message.
            log.exception("search failed")
            return None, UNEXPECTED

    def rebuild(notes: list[str], progress=gr.Progress(track_tqdm=True)):
        """Index the sources folder (only new text is embedded); the chat switches when it is done."""
        try:
            report = build_index(settings, progress=True)  # loads the full model on the first rebuild only
        except IndexError_ as exc:
            notes.append(f"The index was not rebuilt: {exc}")
        except Exception:
            log.exception("rebuild failed")
            notes.append("The index was not rebuilt (the details are in the server log); the previous index is still live.")
        else:
            notes.append(
                f"Indexed {report.sources} sources into {report.passages} passages "
                f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s."
            )
            notes.extend(f"Skipped {s.file}: {s.reason}" for s in report.skipped)
        choices = source_choices()
        return (
            "\n\n".join(escape(n) for n in notes),
            source_table(),
            gr.Dropdown(choices=choices, value=[]),
            gr.Dropdown(choices=[name for _, name in choices], value=None),
        )

    def upload(paths: list[str] | None, progress=gr.Progress(track_tqdm=True)):
        if not paths:
            return "Choose files to upload first.", source_table(), gr.Dropdown(), gr.Dropdown()
        added, skipped = add_sources([Path(p) for p in paths], settings.sources_dir)
        notes = [f"{'Updated' if a.replaced else 'Added'} {a.file}: {a.title}" for a in added]
        notes += [f"Skipped {s.file}: {s.reason}" for s in skipped]
        return rebuild(notes, progress)

    def remove(name: str | None, progress=gr.Progress(track_tqdm=True)):
        if not name:
            return "Choose a source to remove.", source_table(), gr.Dropdown(), gr.Dropdown()
        try:
            remove_source(name, settings.sources_dir)
        except FileNotFoundError as exc:
            return escape(str(exc)), source_table(), gr.Dropdown(), gr.Dropdown()
        return rebuild([f"Removed {name}."], progress)

    def respond(
        question: str, history: list | None, k: int, mode: str, files: list[str] | None, by_source: bool = False
    ):
        history = list(history or [])
        result, problem = answer(question, k, mode, files)
        reply = f"<p>{escape(problem)}</p>" if problem else answer_to_html(result, by_source=bool(by_source))
        history.append({"role": "user", "content": escape(clean_question(question)[:MAX_QUESTION_CHARS])})
        history.append({"role": "assistant", "content": reply})
        return history, ""

    def ask_json(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """API: the same search as the chat, as JSON records."""
        result, problem = answer(question, k, mode, None)
        if problem:
            return {"error": problem, "results": []}
        return {"abstained": result.abstained, "version": result.version, "results": answer_to_dicts(result)}

    with gr.Blocks(title="Verbatim") as app:
        gr.Markdown("## Verbatim\nAnswers are quoted word for word from the sources, with citations. Highlighted: the sentence that answers.")
        with gr.Tab("Ask"), gr.Row():
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
                files = gr.Dropdown(source_choices(), multiselect=True, label="Only these sources", value=[])
                by_source = gr.Checkbox(label="Group passages by source", value=False, elem_id="vb-by-source")
        with gr.Tab("Sources"):
            table = gr.Dataframe(
                value=source_table,
                headers=["file", "title", "publisher", "date", "passages", "added"],
                interactive=False,
                elem_id="vb-sources",
            )
            status = gr.Markdown(elem_id="vb-status")
            with gr.Row():
                uploads = gr.File(
                    file_count="multiple",
                    file_types=list(SUPPORTED_SUFFIXES),
                    label=f"Add documents ({', '.join(SUPPORTED_SUFFIXES)}; up to {MAX_FILE_BYTES // 2**20} MB each)",
                    elem_id="vb-upload",
                )
                with gr.Column():
                    doomed = gr.Dropdown([name for _, name in source_choices()], label="Source to remove")
                    remove_button = gr.Button("Remove source", variant="stop")
                    rebuild_button = gr.Button("Rebuild index")
        outputs = [status, table, files, doomed]
        uploads.upload(upload, [uploads], outputs, api_name="upload", concurrency_id="build", concurrency_limit=1)
        remove_button.click(remove, [doomed], outputs, api_name="remove", concurrency_id="build", concurrency_limit=1)
        rebuild_button.click(
            lambda progress=gr.Progress(track_tqdm=True): rebuild([], progress),
            None,
            outputs,
            api_name="rebuild",
            concurrency_id="build",
            concurrency_limit=1,
        )
        inputs = [box, chat, k, mode, files, by_source]
        box.submit(respond, inputs, [chat, box], api_name="chat")
        send.click(respond, inputs, [chat, box], api_name=False)
        gr.api(ask_json, api_name="ask")
    return app


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None, **launch
) -> None:
    """Start the app (blocking unless prevent_thread_lock=True is passed); `auth` asks for a password."""
    app = make_app(settings)
    app.queue(default_concurrency_limit=4)
    app.launch(
        server_name=host,
        server_port=port,
        auth=[auth] if auth else None,
        auth_message="Verbatim: sign in" if auth else None,
        css=CSS,
        show_error=False,
        max_file_size=MAX_FILE_BYTES,
        **launch,
    )
