"""Study of rank fusion: every fusion method on the same candidates, side by side, per benchmark.

    python -m eval.studies.fusion_study --squad ../shared/benchmarks/squad-v1.1-dev-part1.json \
        --beir ../shared/benchmarks/trec-dl-msmarco-5k [--gold eval/gold/bundled.jsonl]

Candidates (dense and BM25 scores of the union of both retrievers' top lists) are computed once per
question through the search path, then each fusion method ranks them; so differences come from the
fusion alone. The shipped method is whatever `Settings.fusion` names; this study is how it was chosen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.config import Settings
from eval import metrics
from eval.datasets import GoldQuestion, load_beir, load_gold, load_squad
from eval.run import temporary_index
from index.build.pipeline import build_index, index_is_current
from index.search import Searcher, fuse


@dataclass
class Case:
    dense: np.ndarray
    best_sentence: np.ndarray
    lexical: np.ndarray
    confidence: float
    labels: np.ndarray  # gold: 1 where the passage contains an answer; beir: graded relevance of its doc
    docs: list[str]
    qrels: dict[str, int] | None = None


def gold_cases(searcher: Searcher, questions: list[GoldQuestion]) -> list[Case]:
    cases = []
    for q in questions:
        if not q.answerable:
            continue
        c = searcher.candidates(q.question)
        passages = [c.index.passages[r] for r in c.rows]
        labels = np.array([metrics.is_hit(p.text, p.files, q.answers, q.sources) for p in passages], dtype=float)
        cases.append(Case(c.dense, c.best_sentence, c.lexical, c.lexical_confidence, labels, [p.files[0] for p in passages]))
    return cases


def beir_cases(searcher: Searcher, queries: dict[str, str], qrels: dict, doc_of_file: dict[str, str]) -> list[Case]:
    cases = []
    for qid in sorted(qrels):
        c = searcher.candidates(queries[qid])
        docs = [doc_of_file[c.index.passages[r].files[0]] for r in c.rows]
        labels = np.array([qrels[qid].get(d, 0) for d in docs], dtype=float)
        cases.append(Case(c.dense, c.best_sentence, c.lexical, c.lexical_confidence, labels, docs, qrels[qid]))
    return cases


def evaluate(cases: list[Case], method: str, weight: float, sentence_weight: float, shift: float = 0.0) -> dict[str, float]:
    ranks, ndcgs = [], []
    for case in cases:
        semantic = (1 - sentence_weight) * case.dense + sentence_weight * case.best_sentence
        mode = method if method in ("dense", "lexical") else "hybrid"
        scores = fuse(semantic, case.lexical, mode, weight, method, case.confidence, shift)
        order = np.argsort(-scores, kind="stable")
        if case.qrels is not None:
            ndcgs.append(metrics.ndcg_at_k([case.docs[i] for i in order], case.qrels, 10))
        else:
            ranks.append(metrics.first_hit_rank(list(case.labels[order][:10] > 0)))
    if case.qrels is not None:
        return {"ndcg@10": float(np.mean(ndcgs))}
    return {"hit@1": metrics.hit_at_k(ranks, 1), "hit@5": metrics.hit_at_k(ranks, 5), "mrr": metrics.mrr_at_k(ranks, 10)}


def grid() -> list[tuple[str, float, float, float]]:
    configs: list[tuple[str, float, float, float]] = [("lexical", 0.0, 0.0, 0.0)]
    for beta in (0.0, 0.3, 0.5, 1.0):
        configs += [("dense", 1.0, beta, 0.0), ("rrf", 0.5, beta, 0.0)]
        for method in ("convex", "minmax", "zscore"):
            configs += [(method, w, beta, 0.0) for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
        configs += [("adaptive", w, beta, shift) for w in (0.8, 0.9, 1.0) for shift in (0.2, 0.3, 0.4, 0.5)]
    return configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, action="append")
    parser.add_argument("--squad", type=Path)
    parser.add_argument("--beir", type=Path)
    parser.add_argument("--max-articles", type=int)
    args = parser.parse_args(argv)
    settings = Settings()
    datasets: dict[str, list[Case]] = {}
    with tempfile.TemporaryDirectory(prefix="verbatim-study-") as tmp:
        if args.gold:
            if not index_is_current(settings):
                build_index(settings)
            questions = [q for p in args.gold for q in load_gold(p)]
            datasets["gold"] = gold_cases(Searcher(settings), questions)
        if args.squad:
            documents, questions = load_squad(args.squad, max_articles=args.max_articles)
            temp, doc_of_file = temporary_index(documents, settings, Path(tmp) / "squad")
            file_of_doc = {v: k for k, v in doc_of_file.items()}
            questions = [GoldQuestion(q.id, q.question, q.answers, tuple(file_of_doc[s] for s in q.sources)) for q in questions]
            datasets["squad"] = gold_cases(Searcher(temp), questions)
        if args.beir:
            data = load_beir(args.beir)
            temp, doc_of_file = temporary_index(data.documents, settings, Path(tmp) / "beir")
            datasets["beir"] = beir_cases(Searcher(temp), data.queries, data.qrels, doc_of_file)
    header = ["method", "dense weight", "sentence weight", "lexical shift"]
    header += [f"{d} {m}" for d, cases in datasets.items() for m in evaluate(cases[:1], "dense", 1, 0)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for method, weight, beta, shift in grid():
        cells = [method, f"{weight:.1f}", f"{beta:.1f}", f"{shift:.1f}"]
        for cases in datasets.values():
            cells += [f"{v:.3f}" for v in evaluate(cases, method, weight, beta, shift).values()]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
