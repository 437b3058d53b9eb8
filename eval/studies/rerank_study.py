"""Reranking study: which candidates to pass to the cross-encoder, as what text, and how to combine.

    python -m eval.studies.rerank_study collect [--squad-sample 400]   # scores cached in var/studies
    python -m eval.studies.rerank_study report                          # the tables in README "Quality"

`collect` asks every question of gold, a SQuAD part 1 sample and TREC-DL 5k through the search
path's candidate stage (Searcher.candidates + the shipped fusion), keeps the top M candidates, and
scores with the cross-encoder: each whole passage, a window around each passage's best sentence
(by the bi-encoder), and every sentence of the top 5 (for evidence). `report` recombines cached
scores without calling the model again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eval import metrics
from eval.studies.common import STUDIES_DIR, Dataset, ScoreCache, gold, squad, trec
from index.config import Settings
from index.search.evidence import count_bonus, sentence_scores
from index.storage.lexical import tokenize
from index.models.rerank import DEFAULT_RERANKER, window_span
from index.search import Searcher, fuse

TOP_M = 20
SENTENCES_OF = 5
WINDOW_CHARS = 400


def collect_question(searcher: Searcher, cache: ScoreCache, question: str, m: int = TOP_M) -> list[dict]:
    """The top `m` fused candidates of `question`, each with bi-encoder and cross-encoder signals."""
    s = searcher.settings
    c = searcher.candidates(question)
    index = c.index
    fused = fuse(c.semantic(s.sentence_weight), c.lexical, "hybrid", s.dense_weight, s.fusion)
    order = np.argsort(-fused, kind="stable")[:m]
    terms = set(tokenize([question])[0])
    out = []
    for rank, i in enumerate(order):
        row = int(c.rows[i])
        passage = index.passages[row]
        texts = [passage.text[sp.start : sp.end] for sp in passage.sentences]
        bi = sentence_scores(c.question_vector, terms, texts, index.sentence_vectors(row))
        center = int(np.argmax(bi))
        first, last = window_span(len(texts), [len(t) for t in texts], center, WINDOW_CHARS)
        window = passage.text[passage.sentences[first].start : passage.sentences[last].end]
        out.append(
            {
                "pid": passage.id,
                "files": list(passage.files),
                "text": passage.text,
                "sentences": [[sp.start, sp.end] for sp in passage.sentences],
                "fused": float(fused[i]),
                "dense": float(c.dense[i]),
                "lexical": float(c.lexical[i]),
                "best_sentence": float(c.best_sentence[i]),
                "bi_sentences": [round(float(x), 4) for x in bi],
                "window": [first, last],
                "ce_passage": float(cache.score(question, [passage.text])[0]),
                "ce_window": float(cache.score(question, [window])[0]),
                "ce_sentences": [float(x) for x in cache.score(question, texts)] if rank < SENTENCES_OF else None,
            }
        )
    return out


def collect(dataset: Dataset, cache: ScoreCache, out: Path) -> None:
    searcher = Searcher(dataset.settings)
    done = set()
    if out.is_file():
        done = {json.loads(line)["id"] for line in out.read_text().splitlines() if line.strip()}
    with out.open("a", encoding="utf-8") as fh:
        for n, q in enumerate(dataset.questions):
            if q.id in done:
                continue
            record = {
                "id": q.id,
                "question": q.question,
                "answers": list(q.answers),
                "sources": list(q.sources),
                "candidates": collect_question(searcher, cache, q.question),
            }
            if dataset.qrels is not None:
                record["qrels"] = dataset.qrels[q.id]
                for cand in record["candidates"]:
                    cand["doc"] = dataset.doc_of_file[cand["files"][0]]
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            if n % 20 == 0:
                print(f"{dataset.name}: {n}/{len(dataset.questions)}", file=sys.stderr, flush=True)
    cache.save()


def load_records(name: str) -> list[dict]:
    path = STUDIES_DIR / f"rerank-{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- combinations ------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def unit_score(cand: dict, unit: str) -> float:
    if unit == "passage":
        return cand["ce_passage"]
    if unit == "window":
        return cand["ce_window"]
    if unit == "max":
        return max(cand["ce_passage"], cand["ce_window"])
    raise ValueError(unit)


def rerank_order(cands: list[dict], n: int, unit: str, method: str, weight: float) -> list[int]:
    """Order of candidate indexes: the top n re-scored, the rest after them in fused order."""
    n = min(n, len(cands))
    fused = np.array([c["fused"] for c in cands[:n]])
    ce = np.array([unit_score(c, unit) for c in cands[:n]])
    if method == "ce":
        score = ce
    elif method == "ce+fused":  # probability-scale CE blended with the fused score
        score = (1 - weight) * _sigmoid(ce) + weight * fused
    elif method == "logit+fused":
        score = ce + weight * 10 * fused
    elif method == "rrf":
        ce_rank = np.argsort(np.argsort(-ce))
        score = 1 / (60 + ce_rank) + weight / (60 + np.arange(n))
    else:
        raise ValueError(method)
    head = sorted(range(n), key=lambda i: -score[i])
    return head + list(range(n, len(cands)))


def ranking_metrics(records: list[dict], order_of) -> dict[str, float]:
    ranks, ndcgs = [], []
    for r in records:
        order = order_of(r["candidates"])
        cands = [r["candidates"][i] for i in order]
        if "qrels" in r:
            ndcgs.append(metrics.ndcg_at_k([c["doc"] for c in cands], r["qrels"], 10))
            continue
        if not r["answers"]:
            continue
        hits = [metrics.is_hit(c["text"], c["files"], r["answers"], r["sources"]) for c in cands]
        ranks.append(metrics.first_hit_rank(hits))
    if ndcgs:
        return {"ndcg@10": float(np.mean(ndcgs))}
    return {"hit@1": metrics.hit_at_k(ranks, 1), "hit@5": metrics.hit_at_k(ranks, 5), "mrr": metrics.mrr_at_k(ranks, 10)}


def evidence_accuracy(records: list[dict], choose, chooser_for=None) -> float:
    """Share of answerable questions whose first passage containing an answer has it in the chosen sentence."""
    right, total = 0, 0
    for r in records:
        if not r["answers"] or "qrels" in r:
            continue
        for cand in r["candidates"][:SENTENCES_OF]:
            if metrics.is_hit(cand["text"], cand["files"], r["answers"], r["sources"]):
                best = (chooser_for(r["question"]) if chooser_for else choose)(cand)
                a, b = cand["sentences"][best]
                total += 1
                right += metrics.evidence_correct(cand["text"][a:b], r["answers"])
                break
    return right / total if total else 0.0


def report(names: list[str]) -> None:
    data = {name: load_records(name) for name in names}
    print("| N | text | combination | " + " | ".join(f"{n} {m}" for n in names for m in _metric_names(data[n])) + " |")
    print("|---|---|---|" + "---|" * sum(len(_metric_names(data[n])) for n in names))
    rows = [("-", "-", "fused (no rerank)", lambda c: list(range(len(c))))]
    for n in (5, 10, 15, 20):
        for unit in ("passage", "window", "max"):
            rows.append((n, unit, "ce", lambda c, n=n, u=unit: rerank_order(c, n, u, "ce", 0)))
            for w in (0.2, 0.4):
                rows.append((n, unit, f"ce+fused {w}", lambda c, n=n, u=unit, w=w: rerank_order(c, n, u, "ce+fused", w)))
            for w in (0.5, 1.0):
                rows.append((n, unit, f"logit+fused {w}", lambda c, n=n, u=unit, w=w: rerank_order(c, n, u, "logit+fused", w)))
            rows.append((n, unit, "rrf", lambda c, n=n, u=unit: rerank_order(c, n, u, "rrf", 1.0)))
    for n, unit, label, order_of in rows:
        cells = []
        for name in names:
            values = ranking_metrics(data[name], order_of)
            cells += [f"{values[m]:.3f}" for m in _metric_names(data[name])]
        print(f"| {n} | {unit} | {label} | " + " | ".join(cells) + " |")
    print()
    print("| evidence chosen by | " + " | ".join(n for n in names if n != "trec") + " |")
    print("|---|" + "---|" * len([n for n in names if n != "trec"]))
    choosers = {
        "bi-encoder + term share (current)": lambda c: int(np.argmax(c["bi_sentences"])),
        "cross-encoder per sentence": lambda c: int(np.argmax(c["ce_sentences"])),
    }
    for w in (0.25, 0.5, 1.0, 2.0):
        choosers[f"CE + {w} x 10 x bi"] = lambda c, w=w: int(np.argmax(np.array(c["ce_sentences"]) + w * 10 * np.array(c["bi_sentences"])))
    for label, choose in choosers.items():
        print(f"| {label} | " + " | ".join(f"{evidence_accuracy(data[n], choose):.3f}" for n in names if n != "trec") + " |")
    print()
    print("Highlighting every sentence within a margin of the best (as the app does): accuracy / sentences highlighted")
    print()
    print("| evidence score | margin | " + " | ".join(n for n in names if n != "trec") + " |")
    print("|---|---|" + "---|" * len([n for n in names if n != "trec"]))
    variants = [("bi-encoder + term share (shipped without reranking)", 0.1, True)]
    variants += [("CE + 10 x (bi + count bonus)", m, False) for m in (0.0, 2.0, 4.0, 6.0)]
    for label, margin, bi_only in variants:
        cells = [_margin_accuracy(data[n], margin, bi_only) for n in names if n != "trec"]
        print(f"| {label} | {margin:g} | " + " | ".join(cells) + " |")


def _margin_accuracy(records: list[dict], margin: float, bi_only: bool) -> str:
    right = total = shown = 0
    for r in records:
        if not r["answers"]:
            continue
        for cand in r["candidates"][:SENTENCES_OF]:
            if metrics.is_hit(cand["text"], cand["files"], r["answers"], r["sources"]):
                texts = [cand["text"][a:b] for a, b in cand["sentences"]]
                bi = np.array(cand["bi_sentences"])
                if bi_only:
                    score = bi
                else:
                    score = np.array(cand["ce_sentences"]) + 10 * (bi + count_bonus(r["question"], texts))
                chosen = [t for t, v in zip(texts, score) if v >= score.max() - margin]
                total += 1
                shown += len(chosen)
                right += metrics.evidence_correct(" ".join(chosen), r["answers"])
                break
    return f"{right / max(1, total):.3f} / {shown / max(1, total):.2f}"


def _metric_names(records: list[dict]) -> list[str]:
    return ["ndcg@10"] if records and "qrels" in records[0] else ["hit@1", "hit@5", "mrr"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("collect", "report"))
    parser.add_argument("--datasets", nargs="+", default=["gold", "squad", "trec"])
    parser.add_argument("--squad-sample", type=int, default=400)
    parser.add_argument("--reranker", default=DEFAULT_RERANKER)
    args = parser.parse_args(argv)
    if args.action == "report":
        report(args.datasets)
        return 0
    base = Settings()
    for name in args.datasets:
        cache = ScoreCache(args.reranker, name)
        dataset = {"gold": lambda: gold(base), "squad": lambda: squad(base, args.squad_sample), "trec": lambda: trec(base)}[name]()
        collect(dataset, cache, STUDIES_DIR / f"rerank-{name}.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
