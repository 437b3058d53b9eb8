"""Cross-lingual retrieval study: Spanish questions over English paragraphs, today's English pipeline against the
multilingual e5 shipped in index/models/trained/multilingual-e5-small (eval/studies/dequantize_e5.py).

    python -m eval.studies.crosslingual_study [--squad-sample N] [--out var/studies/crosslingual.json]

Configurations, each through the one search path (index.search.Searcher, scored by eval.run.score_questions):
  a  today: all-MiniLM-L6-v2 dense + bm25s, fused, reranked by the English cross-encoder
  b  e5 dense alone
  c  e5 dense + bm25s, the existing fusion (convex, dense weight 0.8)
  d  e5 dense + bm25s fused, reranked by today's English cross-encoder
  plus, as references: MiniLM dense, MiniLM fused without the reranker, e5 dense reranked.
Datasets: XQuAD-es (406 Spanish questions over the English paragraphs of 15 articles, paired by id), the same
406 questions in English on the same index, SQuAD v1.1 part 1's held-out articles (every paragraph of the 12
articles indexed) and the gold questions on the bundled corpus. Retrieval only: the reader is off (it reads
after the ranking and never reorders it; hit@k is the same with it on).
Also: question-encoding latency of e5 against MiniLM (both ONNX, one thread, the same questions interleaved),
and how well a simple language check tells the Spanish questions from the English ones.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

from eval.datasets import BENCHMARKS, GoldQuestion, load_paired_squad, load_squad, with_source_files
from eval.run import default_gold_files, held_out_documents, score_questions
from eval.datasets import load_gold
from eval.studies.common import SQUAD, STUDIES_DIR, kept_index
from index.build.pipeline import build_index, index_is_current
from index.config import DEFAULT_MODEL, Settings
from index.models.embed import load_embedder
from index.search import Searcher

E5 = "multilingual-e5-small-en-es"
XQUAD = BENCHMARKS / "xquad-es"
CONFIGS = {
    "a": (DEFAULT_MODEL, "hybrid+rerank", "today: MiniLM + bm25s fused, English reranker"),
    "b": (E5, "dense", "e5 dense alone"),
    "c": (E5, "hybrid", "e5 + bm25s fused (existing fusion)"),
    "d": (E5, "hybrid+rerank", "e5 + bm25s fused, English reranker"),
    "minilm-dense": (DEFAULT_MODEL, "dense", "MiniLM dense alone"),
    "minilm-hybrid": (DEFAULT_MODEL, "hybrid", "MiniLM + bm25s fused, no reranker"),
    "e5-dense-rerank": (E5, "dense+rerank", "e5 dense, English reranker"),
    # e5's cosines lie close together (0.75-0.9), so the shipped diversification (every source whose best
    # passage scores >= 0.8 x the top gets a place) promotes one passage of every source above a second
    # passage of the first: these show e5's own order.
    "b1": (E5, "dense", "e5 dense alone, no diversification", {"diversify_ratio": 1.0}),
    "c1": (E5, "hybrid", "e5 + bm25s fused, no diversification", {"diversify_ratio": 1.0}),
}
_TAGS = {DEFAULT_MODEL: "minilm", E5: "e5ml"}
_SPANISH = re.compile(
    r"[¿¡ñáéíóú]|\b(qu[eé]|cu[aá]l(es)?|cu[aá]nt[oa]s?|cu[aá]ndo|d[oó]nde|c[oó]mo|qui[eé]n(es)?|el|la|los|las|del|de|en|es|por|para|se|un|una|y|fue|son)\b",
    re.IGNORECASE,
)
_ENGLISH = re.compile(r"\b(what|which|who|whom|when|where|how|why|the|of|in|is|was|are|were|did|does|do|a|an|and|to)\b", re.IGNORECASE)


def looks_spanish(question: str) -> bool:
    """A language check of the simplest kind: at least two Spanish marks and function words, and more of them
    than English ones (one is not enough: "El Salvador police force size")."""
    spanish = len(_SPANISH.findall(question))
    return spanish >= 2 and spanish > len(_ENGLISH.findall(question))


def _settings(model: str, **extra) -> Settings:
    return Settings(model=model, read=False, **extra)


def datasets(model: str, squad_sample: int | None, seed: int) -> dict[str, tuple[Settings, list[GoldQuestion]]]:
    """dataset name -> (settings of its index for `model`, questions)."""
    tag = _TAGS[model]
    out = {}
    documents, spanish = load_paired_squad(XQUAD / "xquad.en.shared.json", XQUAD / "xquad.es.shared.json")
    _, english = load_squad(XQUAD / "xquad.en.shared.json")
    settings, doc_of_file = kept_index(f"xquad-en-{tag}", documents, _settings(model))
    file_of_doc = {v: k for k, v in doc_of_file.items()}
    out["xquad-es"] = (settings, with_source_files(spanish, file_of_doc))
    out["xquad-en"] = (settings, with_source_files(english, file_of_doc))
    documents, questions = load_squad(SQUAD)
    settings, doc_of_file = kept_index(f"squad-{tag}", documents, _settings(model))
    file_of_doc = {v: k for k, v in doc_of_file.items()}
    held = {file_of_doc[name] for name in held_out_documents(documents)}
    kept = [q for q in with_source_files(questions, file_of_doc) if set(q.sources) <= held]
    if squad_sample and squad_sample < len(kept):
        kept = sorted(random.Random(seed).sample(kept, squad_sample), key=lambda q: q.id)
    out["squad-heldout"] = (settings, kept)
    gold = _settings(model, index_dir=STUDIES_DIR / f"gold-{tag}" / "index")
    if not index_is_current(gold):
        build_index(gold, full=True)
    out["gold"] = (gold, [q for path in default_gold_files() for q in load_gold(path)])
    return out


def encoding_latency(questions: list[str], repeats: int = 1) -> dict[str, float]:
    """Per-question encoding time (ms) of MiniLM's and e5's ONNX encoders, one thread each, interleaved."""
    encoders = {name: load_embedder(name, threads=1) for name in (DEFAULT_MODEL, E5)}
    for encoder in encoders.values():
        encoder.encode(questions[:5])  # warm
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(repeats):
        for question in questions:
            for name, encoder in encoders.items():
                started = time.perf_counter()
                encoder.encode([question])
                times[name].append(1000 * (time.perf_counter() - started))
    out = {}
    for name, values in times.items():
        tag = _TAGS[name]
        out[f"{tag}_p50_ms"] = round(float(np.percentile(values, 50)), 2)
        out[f"{tag}_p95_ms"] = round(float(np.percentile(values, 95)), 2)
    out["e5_over_minilm_p50"] = round(out["e5ml_p50_ms"] / out["minilm_p50_ms"], 2)
    out["questions"] = len(questions) * repeats
    return out


def study(configs: list[str], sets: list[str], squad_sample: int | None, seed: int, out_path: Path) -> dict:
    results: dict = json.loads(out_path.read_text()) if out_path.is_file() else {}
    results.setdefault("runs", {})
    by_model: dict[str, dict] = {}
    for key in configs:
        model, mode, label, *extra = CONFIGS[key]
        overrides = extra[0] if extra else {}
        if model not in by_model:
            by_model[model] = datasets(model, squad_sample, seed)
        for name in sets:
            settings, questions = by_model[model][name]
            searcher = Searcher(settings.with_overrides(**overrides) if overrides else settings)
            started = time.perf_counter()
            r = score_questions(searcher, questions, mode, 10, name)
            figures = {k: round(v, 4) for k, v in r.metrics.items() if k in ("questions", "hit@1", "hit@3", "hit@5", "mrr", "p50_ms", "p95_ms")}
            figures["seconds"] = round(time.perf_counter() - started, 1)
            results["runs"][f"{key}/{name}"] = {"config": key, "label": label, "model": model, "mode": mode, "dataset": name, "settings": overrides, **figures}
            print(f"{key:16} {name:14} {label:50} " + " ".join(f"{k}={v}" for k, v in figures.items()), file=sys.stderr, flush=True)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def step_seconds(base: str, steps: int = 3, batch: int = 16, tokens: int = 256) -> float:
    """Median seconds of one training step of the reader's model (index/models/reader.py's heads on `base`):
    forward, backward and AdamW on a batch of `batch` windows of `tokens` pieces, every core."""
    import torch

    from eval.studies.train_reader import build_model
    from index.config import cpu_threads

    torch.set_num_threads(cpu_threads())
    torch.manual_seed(0)
    model = build_model(base).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(5, model.bert.config.vocab_size, (batch, tokens))
    mask, types = torch.ones_like(ids), torch.zeros_like(ids)
    times = []
    for _ in range(steps + 1):  # the first step warms up
        started = time.perf_counter()
        start, end, has_answer = model(ids, mask, types)
        (start.logsumexp(-1).mean() + end.logsumexp(-1).mean() + has_answer.mean()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def pieces_per_paragraph() -> dict[str, float]:
    """Word pieces per paragraph of the current reader's tokenizer (English BERT, uncased) and e5's, on English
    (SQuAD v1.1 part 1) and Spanish (SQuAD-es) paragraphs: a reader's windows, and so its steps, scale with it."""
    from tokenizers import Tokenizer

    from index.models.reader import reader_dir
    from index.models.shipped import shipped_encoder

    tokenizers = {"reader": Tokenizer.from_file(str(reader_dir() / "tokenizer.json")),
                  "e5": Tokenizer.from_file(str(shipped_encoder(E5).folder / "tokenizer.json"))}
    texts = {
        "en": [p["context"] for a in json.loads(SQUAD.read_text(encoding="utf-8"))["data"] for p in a["paragraphs"]],
        "es": [p["context"] for a in json.loads((BENCHMARKS / "squad-es" / "squad-es-v2.0-dev.shared.json").read_text(encoding="utf-8"))["data"] for p in a["paragraphs"]],
    }
    out = {}
    for language, paragraphs in texts.items():
        for name, tok in tokenizers.items():
            tok.no_truncation()
            out[f"{name} pieces per {language} paragraph"] = round(float(np.mean([len(e.ids) for e in tok.encode_batch(paragraphs)])), 1)
    return out


def language_check() -> dict[str, float]:
    """Share of questions the check calls Spanish: XQuAD-es (should be 1), XQuAD-en and gold (should be 0)."""
    _, spanish = load_paired_squad(XQUAD / "xquad.en.shared.json", XQUAD / "xquad.es.shared.json")
    _, english = load_squad(XQUAD / "xquad.en.shared.json")
    gold = [q for path in default_gold_files() for q in load_gold(path)]
    share = lambda qs: round(sum(looks_spanish(q.question) for q in qs) / len(qs), 4)  # noqa: E731
    return {"xquad-es called Spanish": share(spanish), "xquad-en called Spanish": share(english), "gold called Spanish": share(gold)}


def report(paths: list[Path], sets: list[str]) -> str:
    """A Markdown table of hit@1 / hit@5 per configuration and dataset from the runs of one or more result files."""
    runs: dict = {}
    for path in paths:
        runs |= json.loads(path.read_text()).get("runs", {})
    questions = {name: next((int(r["questions"]) for r in runs.values() if r["dataset"] == name), 0) for name in sets}
    head = "| configuration | " + " | ".join(f"{name} ({questions[name]}) hit@1 / hit@5" for name in sets) + " |"
    lines = [head, "| --- |" + " --- |" * len(sets)]
    for key, (_, _, label, *_) in CONFIGS.items():
        cells = [f"{runs[f'{key}/{n}']['hit@1']:.3f} / {runs[f'{key}/{n}']['hit@5']:.3f}" if f"{key}/{n}" in runs else "–" for n in sets]
        if any(c != "–" for c in cells):
            lines.append(f"| {key}: {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.crosslingual_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--sets", nargs="+", default=["xquad-es", "xquad-en", "squad-heldout", "gold"])
    parser.add_argument("--squad-sample", type=int, default=None, help="held-out SQuAD questions (default: all 841)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-runs", action="store_true", help="skip the retrieval runs (latency, language check, pieces only)")
    parser.add_argument("--latency", type=int, default=0, help="questions timed for the encoding latency (0: skip)")
    parser.add_argument("--step-time", action="store_true", help="time training steps of a reader on MiniLM-L12 and on e5 (only on an idle machine)")
    parser.add_argument("--out", default=str(STUDIES_DIR / "crosslingual.json"))
    parser.add_argument("--report", nargs="+", type=Path, help="print the Markdown table of these result files and stop")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.report, args.sets))
        return 0
    out_path = Path(args.out)
    results = study(args.configs, args.sets, args.squad_sample, args.seed, out_path) if not args.no_runs else {}
    results = json.loads(out_path.read_text()) if out_path.is_file() else results
    results["language_check"] = language_check()
    results["pieces"] = pieces_per_paragraph()
    if args.step_time:
        from eval.studies.dequantize_cross_encoder import ensure_base as minilm_base
        from eval.studies.dequantize_e5 import ensure_base as e5_base

        minilm, e5 = step_seconds(str(minilm_base())), step_seconds(str(e5_base()))
        results["step_seconds"] = {"minilm_l12_reader": round(minilm, 2), "e5_reader": round(e5, 2), "e5_over_minilm": round(e5 / minilm, 2)}
    if args.latency:
        _, spanish = load_paired_squad(XQUAD / "xquad.en.shared.json", XQUAD / "xquad.es.shared.json")
        _, english = load_squad(XQUAD / "xquad.en.shared.json")
        pool = [q.question for q in spanish] + [q.question for q in english]
        sample = random.Random(args.seed).sample(pool, min(args.latency, len(pool)))
        results["latency"] = encoding_latency(sample)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
