"""Reranking's cost as a ratio: the same 40 gold questions, with and without the second stage, interleaved.

    python -m eval.studies.rerank_latency

Prints p50/p95 of each and the ratio of the p50s, measured in the same run (so a loaded machine
slows both alike). The absolute web-answer latency is `verbatim bench`'s hybrid+rerank column.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from eval.datasets import load_gold
from eval.run import default_gold_files
from index.config import Settings
from index.search import Searcher


def main() -> int:
    questions = [q.question for path in default_gold_files() for q in load_gold(path)][:40]
    searcher = Searcher(Settings())
    searcher.search(questions[0])  # load models and index before the clock
    searcher.search(questions[0], rerank=False)
    times: dict[bool, list[float]] = {True: [], False: []}
    for question in questions:
        for rerank in (False, True):
            started = time.perf_counter()
            searcher.search(question, rerank=rerank)
            times[rerank].append((time.perf_counter() - started) * 1000)
    for rerank in (False, True):
        print(f"{'hybrid+rerank' if rerank else 'hybrid'}: p50 {np.percentile(times[rerank], 50):.0f} ms, p95 {np.percentile(times[rerank], 95):.0f} ms")
    print(f"ratio of p50s: {np.percentile(times[True], 50) / np.percentile(times[False], 50):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
