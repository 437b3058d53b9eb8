"""The web app: a Gradio chat that answers with cited, verbatim passages from the one search path."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from app.gradio_import import import_gradio

gr = import_gradio()  # gradio, without regenerating its type stubs at every start

from index.config import Settings
from app.present import answer_to_dicts, answer_to_html, escape, problem_to_html, question_link, says_to_dict
from app.questions import MAX_QUESTION_CHARS, clean_question, language_note, shown, unknown_sources, validate_k, validate_question
from app.source_page import source_routes
from index.build.add_progress import AddProgress
from index.build.ocr_progress import adding_ocr
from index.build.pipeline import build_index, list_sources
from index.build.progress import Report
from index.search import MODES, Answer, Searcher
from index.search.filters import FilterError, document_fields, parse_where
from index.models.model_files import EncoderUnavailable, ModelFileError
from index.storage.store import IndexError_
from ingest.library import MAX_FILE_BYTES, NotASource, add_sources, list_trash, managed_sources, remove_source, restore_source
from ingest.metadata import MetadataError
from ingest.ocr import OCR_NOTE, ocr_language_note, ocr_settings
from ingest.readers import SUPPORTED_SUFFIXES

# Example questions, each with the source that answers it: shown only while that source is indexed, so a
# collection of other documents is never offered questions about El Salvador.
EXAMPLES = [
    ("How many people are in prison in El Salvador?", "pism-international-echoes-of-el-salvador-public-security-model.txt"),
    ("How many times has the state of emergency been extended?", "pism-international-echoes-of-el-salvador-public-security-model.txt"),
    ("Which countries have copied Bukele's approach?", "csis-burgeoning-regional-appeal-of-mano-dura.txt"),
    ("What does Beatriz Magaloni say about the prisons?", "wola-podcast-grim-side-of-el-salvador-security-model.txt"),
]
log = logging.getLogger("verbatim.web")
UNEXPECTED = "Something went wrong while answering; the details are in the server log. Please try again."
CSS = """
.vb-hit { border-left: 3px solid #8aa; padding: 4px 10px; margin: 10px 0; }
.vb-head { font-size: 0.85em; color: #567; }
.vb-quote { margin: 6px 0; font-family: Georgia, serif; white-space: pre-wrap; overflow-wrap: anywhere; }
.vb-quote mark { background: #fff1a8; padding: 0 2px; }
.vb-answer { font-weight: 700; text-decoration: underline; text-decoration-thickness: 2px; }
.vb-says ul { margin: 2px 0 8px 18px; }
.vb-cite { font-size: 0.85em; color: #456; margin: 0; padding-left: 18px; overflow-wrap: anywhere; }
.vb-abstain { color: #7a3b00; }
.vb-source { margin: 14px 0 2px; font-size: 0.95em; }
""" + (Path(__file__).with_name("read_in_context.css")).read_text(encoding="utf-8")
# Copy buttons and the conversation export run in the page (app/chat_tools.js).
HEAD = f"<script>{Path(__file__).with_name('chat_tools.js').read_text(encoding='utf-8')}</script>"


MAX_REPLY_CHARS = 600  # an error reply in the chat longer than this is cut (a list of every source, say)
# What is left of an absolute path after the known folders are named: its folders are dropped, its file kept.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/])/(?:[^\s/'\"]+/)+")


def plain_reply(message: str, settings: Settings, limit: int | None = MAX_REPLY_CHARS) -> str:
    """`message` as a web reply may carry it: plain text, without the server's file-system paths (a file
    under a known folder by its path there, the folder itself by what it is, other folders dropped), and
    cut at `limit` characters (None: whole, as a Sources report is: every file's line counts)."""
    named = {settings.sources_dir: "the sources folder", settings.index_dir: "the index folder", settings.trash: "the trash"}
    for folder in sorted(named, key=lambda f: -len(str(f))):  # the trash may sit inside the index folder
        for form in dict.fromkeys((str(folder), str(Path(folder).resolve()))):
            message = message.replace(form + "/", "").replace(form, named[folder])
    message = _ABSOLUTE_PATH.sub("", message)
    return message if limit is None or len(message) <= limit else message[: limit - 1] + "…"


def report_summary(notes: list[str]) -> list[str]:
    """The report of a change with a first line that counts it when it names many files, so the outcome
    is read before the list ("19 files: 17 added, 2 skipped.")."""
    kinds = {"Added": "added", "Updated": "updated", "Unchanged": "unchanged", "Skipped": "skipped"}
    counts = {word: sum(n.startswith(k + " ") for n in notes) for k, word in kinds.items()}
    files = sum(counts.values())
    if files < 4:
        return notes
    counted = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    return [f"{files} files: {counted}.", *notes]


def progress_report(progress, prefix: str = "") -> Report:
    """A Gradio progress bar as a build's or an add's `report`: the line (which file, which page, the
    ETA, counted down every second) as its text, the count as its bar."""
    return lambda line, done, total, unit: progress((done, total), desc=prefix + line, unit=unit)


def example_questions(indexed: set[str]) -> list[list[str]]:
    """The example questions whose answering source is indexed."""
    return [[question] for question, source in EXAMPLES if source in indexed]


def example_dataset(indexed: set[str]) -> gr.Dataset:
    """The examples as the collection is now (sources change while the app runs): hidden when none applies."""
    samples = example_questions(indexed)
    return gr.Dataset(samples=samples or [[""]], visible=bool(samples))


def did_you_mean(searcher: Searcher, question: str) -> str:
    """A note offering the question as the sources spell its unknown words (typos), or ""."""
    from index.search.candidates import spelled_question

    try:
        spelled = spelled_question(searcher.index(), question)
    except IndexError_:
        return ""
    if spelled == question:
        return ""
    link = escape(question_link(spelled))
    return (
        f'<p class="vb-note">Did you mean <a class="vb-spelled" href="{link}" target="_blank" rel="noopener">'
        f"{escape(spelled)}</a>? Words the sources do not have were searched as the nearest words they have.</p>"
    )


def trash_choices(settings: Settings) -> list[tuple[str, str]]:
    """(label, id) of every removal that can be restored, most recent first: each removal by its own id,
    so an older removal of a name is reachable too (`verbatim restore --list` shows the same)."""
    return [
        (f"{t.file} ({t.reason} {t.removed})", t.id)
        for t in list_trash(settings.trash, settings.sources_dir, settings.old_trash)
    ]


def make_app(settings: Settings, searcher: Searcher | None = None) -> gr.Blocks:
    """The Blocks app; the Searcher (model and index) is loaded once and shared by all users."""
    searcher = searcher or Searcher(settings)

    def source_names() -> list[str]:
        try:
            return list(searcher.index().sources)
        except IndexError_:
            return []

    def _multilingual() -> bool:
        """Whether the live index answers questions in other languages than English (its multilingual part)."""
        try:
            return searcher.index().multilingual is not None
        except IndexError_:
            return False

    def source_choices() -> list[tuple[str, str]]:
        try:
            return [(rec.meta.title or name, name) for name, rec in sorted(searcher.index().sources.items())]
        except IndexError_:
            return []  # the Ask tab says why; the Sources tab still lists the files

    def source_table() -> list[list]:
        return sources_view()[0]

    def sources_view(status: str = "") -> tuple[list[list], str]:
        """The Sources table as it is on disk now, and a problem to show (a broken sources.toml)."""
        try:
            live = searcher.index()
        except IndexError_:
            live = None
        problem = ""
        try:
            rows = list_sources(settings, live)
        except MetadataError as exc:
            # Said once: a status that already holds this error (a rebuild it stopped) is not repeated.
            problem = "" if str(exc) in status else f"{exc} The index in use is the last one built; fix the file and rebuild."
            rows = list_sources(settings, live, with_sidecar=False)
        table = [[r.file, r.title, r.publisher, r.date, r.passages if r.indexed else "not indexed", r.added] for r in rows]
        return table, problem

    def lists(status: str = ""):
        """Everything that names sources, computed now: per page load and after every change."""
        table, problem = sources_view(status)
        choices = source_choices()
        removable = managed_sources(settings.sources_dir)
        trashed = trash_choices(settings)
        return (
            # Plain text (a Textbox shows it as written): API callers read it without entities or paths.
            # Whole: with many files, the skipped and "Indexed…" lines come last (the box scrolls, and folds).
            "\n\n".join(plain_reply(part, settings, limit=None) for part in (status, problem) if part),
            table,
            gr.Dropdown(choices=choices, value=[]),
            gr.Dropdown(choices=removable, value=None),
            gr.Dropdown(choices=trashed, value=None),
            gr.Row(visible=False),
            "",
        )

    def metadata_fields() -> str:
        """What the filter box can name: the fields the indexed documents have, most common first."""
        try:
            sources = searcher.index().sources
        except IndexError_:
            return ""
        counts: dict[str, int] = {}
        for record in sources.values():
            for name in document_fields(record.meta):
                counts[name] = counts.get(name, 0) + 1
        return ", ".join(sorted(counts, key=lambda name: (-counts[name], name)))

    def fields_line() -> str:
        """The line under the filter box, per page load (documents change while the app runs)."""
        names = metadata_fields()
        return f"Fields: {escape(names)}" if names else ""

    def answer(
        question: str, k: int, mode: str, files: list[str] | None, where: str | None = None
    ) -> tuple[Answer | None, str | None]:
        """The answer, or the message to show instead: a validation problem or an index fault and its fix.

        `where` holds filter clauses (index/search/filters.py), one per line: all must match."""
        problem = validate_question(question)
        if problem:
            return None, problem
        if where is not None and not isinstance(where, str):
            return None, "The filter must be text: one clause per line, such as year>=2024."
        try:
            chosen = parse_where((where or "").splitlines())
        except FilterError as exc:
            return None, f"The filter cannot be read: {exc}."
        if not isinstance(mode, str) or mode not in MODES:
            return None, f"Unknown retriever{' ' + shown(mode) if shown(mode) else ''}; choose one of {', '.join(MODES)}."
        k, problem = validate_k(k)
        if problem:
            return None, problem
        if files is not None and (not isinstance(files, list) or not all(isinstance(f, str) for f in files)):
            return None, "The sources to search must be a list of file names."
        try:
            if files:
                problem = unknown_sources(files, searcher.index().sources, "the sources are listed in the Sources tab")
                if problem:
                    return None, problem
            return searcher.search(clean_question(question), k=k, mode=mode, files=files or None, where=chosen), None
        except EncoderUnavailable as exc:  # the model the index was built with is not on this machine
            return None, plain_reply(f"The index cannot be used: {exc}", settings)
        except ModelFileError as exc:
            return None, plain_reply(f"A model file cannot be used: {exc}", settings)
        except IndexError_ as exc:
            return None, plain_reply(f"The index cannot be used: {exc}", settings)
        except Exception:
            # Never a stack trace in the reply: it goes to the server log, the user gets a plain message.
            log.exception("search failed")
            return None, UNEXPECTED

    def rebuild(notes: list[str], progress=gr.Progress()):
        """Index the sources folder (only new text is embedded); the chat switches when it is done. Each
        step (the file read, its OCR pages, the passages embedded) is shown with its ETA on the report box."""
        try:
            report = build_index(settings, report=progress_report(progress, "Rebuilding the index: "))
        except (IndexError_, MetadataError) as exc:
            notes.append(f"The index was not rebuilt: {exc} The previous index is still live.")
        except Exception:
            log.exception("rebuild failed")
            notes.append("The index was not rebuilt (the details are in the server log); the previous index is still live.")
        else:
            notes.append(
                f"Indexed {report.sources} sources into {report.passages} passages "
                f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s."
            )
            notes.extend(f"Skipped {s.file}: {s.reason}" for s in report.skipped)
        return lists("\n\n".join(notes))

    def upload(paths: list[str] | None, progress=gr.Progress()):
        """Add the uploaded files and rebuild; the upload widget is emptied either way, so a
        later upload never sends these files again. While the files are read, the report box shows which
        file of how many, its OCR pages and the ETA; the OCR pages are cached in the index as they are read."""
        if not paths:
            return *lists("Choose files to upload first."), None
        try:
            with AddProgress("Reading the upload", report=progress_report(progress)) as meter:
                with ocr_settings(adding_ocr(settings, meter.pages)):
                    added, skipped = add_sources(
                        [Path(p) for p in paths], settings.sources_dir, trash_dir=settings.trash, on_file=meter.file
                    )
        except MetadataError as exc:
            return *lists(f"Nothing was added: {exc}"), None
        notes = [
            f"Unchanged {a.file}: the same bytes are already a source." if a.unchanged  # as `verbatim add` says
            else f"{'Updated' if a.replaced else 'Added'} {a.file}: {a.title}" for a in added
        ]
        notes = report_summary(notes + [f"Skipped {s.file}: {s.reason}" for s in skipped])
        note = ocr_language_note([a.file for a in added if not a.unchanged and OCR_NOTE in a.title])
        if note:
            notes.append(f"Note: {note}")
        if all(a.unchanged for a in added):  # nothing new: no rebuild
            return *lists("\n\n".join(notes)), None
        return *rebuild(notes, progress), None

    def removal_outcome(name: str) -> str:
        """What happens next to a removed source: Restore brings it back, but a synced copy comes back by itself."""
        from ingest.library import resolve_source
        from ingest.sync import synced_origin

        try:
            name = resolve_source(name, settings.sources_dir)
        except (FileNotFoundError, NotASource):
            pass  # already removed: its path is the name
        origin = synced_origin(settings.sources_dir, name)
        if origin:  # the folder is not named: replies name no server path (the Synced folders list has it)
            return "It is a copy that `verbatim sync` keeps from a folder elsewhere: the next sync adds it again. Delete or move the file there to remove it for good."
        return "Restore brings it back."

    def confirm_removal(name: str | None):
        """First step of removing: name the source, on the question and on the button, and ask; nothing is
        removed yet. The name is kept (`pending`): the second step removes that one or nothing."""
        if not name:
            return gr.Row(visible=False), "", "Choose a source to remove first.", gr.skip()
        question = f"Remove {name} from the sources? It goes to the trash with its metadata. {removal_outcome(name)}"
        return gr.Row(visible=True), name, plain_reply(question, settings), gr.Button(value=f"Yes, remove {name}")

    def withdraw_confirmation(name: str | None, pending: str | None):
        """Another source chosen while a confirmation is open: the confirmation named the old one, so it goes."""
        if not pending or name == pending:
            return gr.skip(), gr.skip(), gr.skip()
        status = f"Nothing was removed: the choice changed from {pending}. Press Remove source… to remove {name or 'another source'}."
        return gr.Row(visible=False), "", plain_reply(status, settings)

    def remove_confirmed(pending: str | None, chosen: str | None, progress=gr.Progress()):
        """"Yes, remove NAME": removes NAME, the source the confirmation named, and only while it is still
        the one chosen (a choice changed after the question was asked removes nothing)."""
        if pending and chosen != pending:
            return lists(f"Nothing was removed: the confirmation named {pending}, but {chosen or 'no source'} is chosen now. Press Remove source… again.")
        return remove(pending, progress)

    def change_sources(action, name: object, missing: str, done, progress):
        """Remove or restore `name` (an explicit choice), then rebuild; a refusal is shown as the status."""
        if not name or not isinstance(name, str):
            return lists(missing)
        try:
            item = action(name, settings.sources_dir, settings.trash, **({"old_trash": settings.old_trash} if action is restore_source else {}))
        except (FileNotFoundError, FileExistsError, NotASource, MetadataError) as exc:
            return lists(str(exc))
        return rebuild([done(item)], progress)

    def remove(name: str | None, progress=gr.Progress()):
        """Second step (or the API): move the named source to the trash and rebuild."""
        done = lambda item: f"Removed {item.file} (in the trash). {removal_outcome(item.file)}"  # noqa: E731
        return change_sources(remove_source, name, "Choose a source to remove.", done, progress)

    def restore(name: str | None, progress=gr.Progress()):
        """Bring a removed source back from the trash, with its metadata, and rebuild."""
        return change_sources(restore_source, name, "Choose a removed source to restore.", lambda item: f"Restored {item.file}.", progress)

    def respond(
        question: str, history: list | None, k: int, mode: str, files: list[str] | None, by_source: bool = False,
        where: str | None = None,
    ):
        history = list(history or [])
        result, problem = answer(question, k, mode, files, where)
        asked = clean_question(question)[:MAX_QUESTION_CHARS]
        if problem:
            reply = problem_to_html(asked, problem)
        else:
            reply = answer_to_html(result, by_source=bool(by_source), link=question_link(asked, int(k), mode, files))
            note = language_note(asked, settings.model, _multilingual())
            if note:
                reply = f'<p class="vb-note">{escape(note)}</p>\n{reply}'
            spelled = did_you_mean(searcher, asked)  # typos: the question as the sources spell it
            if spelled:
                reply = f"{spelled}\n{reply}"
        history.append({"role": "user", "content": escape(asked)})
        history.append({"role": "assistant", "content": reply})
        return history, ""

    def ask_from_link(history, k_value, mode_value, files_value, by_source_value, request: gr.Request):
        """`/?q=…[&k=5&mode=hybrid&source=FILE…]` asks the question as the page opens."""
        params = request.query_params
        question = params.get("q", "")
        if not question:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            k_value = max(1, min(int(params.get("k", k_value)), 10))
        except ValueError:
            pass  # a mistyped k keeps the default
        if params.get("mode") in MODES:
            mode_value = params["mode"]
        known = {name for _, name in source_choices()}
        chosen = [f for f in params.getlist("source") if f in known]
        history, box_value = respond(question, history, k_value, mode_value, chosen or files_value, by_source_value)
        return history, box_value, k_value, mode_value, chosen or files_value

    def ask_json(question: str, k: int = 5, mode: str = "hybrid", where: str = "") -> dict:
        """API: the same search as the chat, as JSON records; `where`: filter clauses, one per line."""
        result, problem = answer(question, k, mode, None, where)
        if problem:
            return {"error": problem, "results": []}  # the same reply for a bad k, mode or question
        return {
            "abstained": result.abstained,
            "version": result.version,
            "note": language_note(clean_question(question), settings.model, _multilingual()) or "",  # e.g. Russian
            "sources_say": [says_to_dict(line) for line in result.sources_say],
            "results": answer_to_dicts(result),
        }

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
                # Only questions the collection answers: none about El Salvador in a collection without its sources.
                shown_examples = example_questions(set(source_names()))
                examples = gr.Examples(shown_examples or [[""]], inputs=box, elem_id="vb-examples", visible=bool(shown_examples))
                export = gr.Button("Export conversation (Markdown)", size="sm", elem_id="vb-export")
            with gr.Column(scale=1):
                k = gr.Slider(1, 10, value=settings.k, step=1, label="Passages")
                mode = gr.Radio(list(MODES), value=settings.mode, label="Retriever")
                # Choices are filled per page load (sources change while the app runs); custom values let
                # API callers name a source added since start-up, and `answer` checks them.
                files = gr.Dropdown([], multiselect=True, allow_custom_value=True, label="Only these sources", value=[], elem_id="vb-files")
                # The source picker, by metadata: clauses of `verbatim ask --where`, one per line (all must match).
                where = gr.Textbox(
                    label="Only documents whose metadata match",
                    placeholder="year>=2024\npublisher~CSIS | tags in [a, b]",
                    lines=2,
                    max_lines=6,
                    elem_id="vb-where",
                )
                gr.Markdown(value=fields_line, elem_id="vb-fields")
                by_source = gr.Checkbox(label="Group passages by source", value=False, elem_id="vb-by-source")
        with gr.Tab("Sources"):
            table = gr.Dataframe(
                value=source_table,
                headers=["file", "title", "publisher", "date", "passages", "added"],
                interactive=False,
                elem_id="vb-sources",
            )
            # Plain text, shown as written: a file name with markup in it is inert, and API callers get no entities.
            # The whole report of the last change (every file's line; the box scrolls), folded away on demand.
            with gr.Accordion("Report of the last change", open=True, elem_id="vb-status-box"):
                status = gr.Textbox(show_label=False, interactive=False, container=False, lines=1, max_lines=15, elem_id="vb-status")
            # Folders `verbatim sync` keeps in step, with their last sync (sync.json in the index folder).
            from ingest.sync import synced_lines

            gr.Markdown(value=lambda: "  \n".join(escape(line) for line in synced_lines(settings.index_dir)), elem_id="vb-synced")
            with gr.Row():
                uploads = gr.File(
                    file_count="multiple",
                    file_types=list(SUPPORTED_SUFFIXES),
                    label=f"Add documents ({', '.join(SUPPORTED_SUFFIXES)}; up to {MAX_FILE_BYTES // 2**20} MB each)",
                    elem_id="vb-upload",
                )
                with gr.Column():
                    # No source is preselected: removing takes a choice, then a confirmation.
                    doomed = gr.Dropdown([], value=None, allow_custom_value=True, label="Source to remove", elem_id="vb-doomed")
                    remove_button = gr.Button("Remove source…", variant="stop", elem_id="vb-remove")
                    with gr.Row(visible=False, elem_id="vb-confirm") as confirm_row:
                        pending = gr.Textbox(visible=False)
                        confirm_button = gr.Button("Yes, remove it", variant="stop", elem_id="vb-remove-yes")
                        cancel_button = gr.Button("Cancel", elem_id="vb-remove-cancel")
                    trashed = gr.Dropdown([], value=None, allow_custom_value=True, label="Removed sources", elem_id="vb-trashed")
                    restore_button = gr.Button("Restore source", elem_id="vb-restore")
                    rebuild_button = gr.Button("Rebuild index")
        outputs = [status, table, files, doomed, trashed, confirm_row, pending]
        app.load(lists, None, outputs, api_name=False)
        app.load(lambda: example_dataset(set(source_names())), None, examples.dataset, api_name=False)
        uploads.upload(upload, [uploads], outputs + [uploads], api_name="upload", concurrency_id="build", concurrency_limit=1, show_progress_on=[status])
        remove_button.click(confirm_removal, [doomed], [confirm_row, pending, status, confirm_button], api_name=False)
        doomed.change(withdraw_confirmation, [doomed, pending], [confirm_row, pending, status], api_name=False)
        cancel_button.click(lambda: (gr.Row(visible=False), "", "Nothing was removed."), None, [confirm_row, pending, status], api_name=False)
        confirm_button.click(remove_confirmed, [pending, doomed], outputs, api_name=False, concurrency_id="build", concurrency_limit=1, show_progress_on=[status])
        # The API's /remove NAME (one step: the caller named it) rides on a button the page never shows.
        api_remove = gr.Button(visible=False)
        api_remove.click(remove, [pending], outputs, api_name="remove", concurrency_id="build", concurrency_limit=1, show_progress_on=[status])
        restore_button.click(restore, [trashed], outputs, api_name="restore", concurrency_id="build", concurrency_limit=1, show_progress_on=[status])
        rebuild_button.click(
            lambda progress=gr.Progress(): rebuild([], progress),
            None,
            outputs,
            api_name="rebuild",
            concurrency_id="build",
            concurrency_limit=1,
            show_progress_on=[status],
        )
        inputs = [box, chat, k, mode, files, by_source, where]
        box.submit(respond, inputs, [chat, box], api_name="chat")
        send.click(respond, inputs, [chat, box], api_name=False)
        gr.api(ask_json, api_name="ask")
        export.click(None, None, None, js="() => window.verbatimExport()")
        app.load(
            ask_from_link,
            [chat, k, mode, files, by_source],
            [chat, box, k, mode, files],
            api_visibility="private",
        )

    return app


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    searcher: Searcher | None = None,
    **launch,
) -> None:
    """Start the app (blocking unless prevent_thread_lock=True is passed); `auth` asks for a password."""
    searcher = searcher or Searcher(settings)
    app = make_app(settings, searcher)
    app.queue(default_concurrency_limit=4)
    # /source is a plain page on the app's server, matched before Gradio's routes (app/source_page.py).
    app_kwargs = {**launch.pop("app_kwargs", {}), "routes": source_routes(settings, searcher)}
    app.launch(
        app_kwargs=app_kwargs,
        server_name=host,
        server_port=port,
        auth=[auth] if auth else None,
        auth_message="Verbatim: sign in" if auth else None,
        css=CSS,
        head=HEAD,
        show_error=False,
        max_file_size=MAX_FILE_BYTES,
        **launch,
    )
