"""Calibrate the abstention threshold on data: when is the best passage too far from the question?

    python -m eval.studies.calibrate --offcorpus ../shared/benchmarks/squad-v1.1-dev-part1.json

Three groups of questions are asked of the bundled index through the search path: answerable gold
questions (should be answered), unanswerable gold questions and questions from another corpus
(SQuAD: should abstain). For each candidate signal it prints the threshold that maximizes the
balanced accuracy over the three groups and what each group gets at that threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from index.config import Settings
from eval.datasets import load_gold, load_squad
from eval.run import default_gold_files
from index.search import Searcher

SIGNALS = ("best_passage", "best_sentence", "best_semantic")


def signals(searcher: Searcher, question: str) -> dict[str, float]:
    c = searcher.candidates(question)
    semantic = c.semantic(searcher.settings.sentence_weight)
    return {
        "best_passage": float(c.dense.max()) if len(c.dense) else 0.0,
        "best_sentence": float(c.best_sentence.max()) if len(c.dense) else 0.0,
        "best_semantic": float(semantic.max()) if len(c.dense) else 0.0,
    }


def best_threshold(answer: np.ndarray, abstain_groups: list[np.ndarray]) -> tuple[float, float]:
    """(threshold, balanced accuracy): answer when signal >= threshold."""
    values = np.unique(np.concatenate([answer, *abstain_groups]))
    best = (0.0, -1.0)
    for t in values:
        rates = [float(np.mean(answer >= t))] + [float(np.mean(g < t)) for g in abstain_groups if len(g)]
        score = float(np.mean(rates))
        if score > best[1]:
            best = (float(t), score)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offcorpus", type=Path, required=True, help="SQuAD JSON: questions the corpus cannot answer")
    parser.add_argument("--max-offcorpus", type=int, default=1000)
    args = parser.parse_args(argv)
    searcher = Searcher(Settings())
    gold = [q for path in default_gold_files() for q in load_gold(path)]
    _, squad = load_squad(args.offcorpus)
    rng = np.random.default_rng(0)
    squad = [squad[i] for i in sorted(rng.choice(len(squad), min(args.max_offcorpus, len(squad)), replace=False))]
    groups: dict[str, list[dict[str, float]]] = {"answerable": [], "unanswerable": [], "offcorpus": []}
    for q in gold:
        groups["answerable" if q.answerable else "unanswerable"].append(signals(searcher, q.question))
    for q in squad:
        groups["offcorpus"].append(signals(searcher, q.question))
    print("| signal | threshold | balanced accuracy | answerable answered | unanswerable abstained | off-corpus abstained |")
    print("|---|---|---|---|---|---|")
    for name in SIGNALS:
        values = {g: np.array([s[name] for s in rows]) for g, rows in groups.items()}
        t, score = best_threshold(values["answerable"], [values["unanswerable"], values["offcorpus"]])
        print(
            f"| {name} | {t:.3f} | {score:.3f} | {np.mean(values['answerable'] >= t):.3f} "
            f"| {np.mean(values['unanswerable'] < t):.3f} | {np.mean(values['offcorpus'] < t):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
