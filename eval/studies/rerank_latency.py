"""Reranking's cost as a ratio: the same 40 gold questions, without the second stage, with round 1's
reading (windows only, blended with the fused score) and with the shipped one, interleaved.

    python -m eval.studies.rerank_latency

Prints p50/p95 of each and its p50 over the hybrid p50, measured in the same run (so a loaded machine
slows all alike). The absolute web-answer latency is `verbatim bench`'s hybrid+rerank column.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from eval.datasets import load_gold
from eval.run import default_gold_files
from index.config import Settings
from index.search import Searcher


def main() -> int:
    questions = [q.question for path in default_gold_files() for q in load_gold(path)][:40]
    base = Settings()
    variants = {
        "hybrid": (Searcher(base), False),
        "rerank, windows + 0.2 fused (round 1)": (Searcher(dataclasses.replace(base, rerank_text="window", rerank_fused_weight=0.2)), True),
        "rerank, max, all 10 read whole": (Searcher(dataclasses.replace(base, rerank_passages=base.rerank_top)), True),
        f"rerank, shipped (max, {base.rerank_passages} read whole)": (Searcher(base), True),
    }
    for searcher, rerank in variants.values():
        searcher.search(questions[0], rerank=rerank)  # load models and index before the clock
    times: dict[str, list[float]] = {name: [] for name in variants}
    for question in questions:
        for name, (searcher, rerank) in variants.items():
            started = time.perf_counter()
            searcher.search(question, rerank=rerank)
            times[name].append((time.perf_counter() - started) * 1000)
    hybrid = np.percentile(times["hybrid"], 50)
    for name, values in times.items():
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        print(f"{name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p50 {p50 / hybrid:.1f}x hybrid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
