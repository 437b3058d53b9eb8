"""One serving process, measured: load an index, answer questions per retriever, report latency and memory.

    python -m eval.studies.bench_probe --index-dir DIR --questions FILE.json [--warmup 5]

Run by `verbatim bench` in a fresh process per corpus size, so the peak RSS is that of a process
serving exactly that index with the model loaded, not of the benchmark that built it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    values = np.asarray(milliseconds)
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p95_ms": round(float(np.percentile(values, 95)), 2)}


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: after fork + exec, Linux's ru_maxrss
    keeps the parent's high-water mark, so a probe started by a large bench process read the bench's size."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True, help="JSON list of question strings")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--store", default="faiss", help="the store the index keeps its vectors in")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from index.config import Settings
    from index.search import MODES, Searcher

    questions: list[str] = json.loads(args.questions.read_text())
    searcher = Searcher(Settings(index_dir=args.index_dir, store=args.store))
    index = searcher.index()
    load_seconds = time.perf_counter() - started
    for question in questions[: args.warmup]:
        searcher.search(question)
    latency = {}
    # Each retriever alone, then the web answer's default: hybrid with the cross-encoder's second stage.
    for label, mode, rerank in [*((m, m, False) for m in MODES), ("hybrid+rerank", "hybrid", True)]:
        times = []
        for question in questions:
            # As for a fresh question: the Searcher reuses an earlier mode's candidates for the same question.
            times.append(searcher.search(question, mode=mode, rerank=rerank).fresh_ms)
        latency[label] = percentiles(times)
    result = {
        "passages": len(index.passages),
        "dense_index": "hnsw" if index.dense.approximate else "exact",
        "load_s": round(load_seconds, 2),
        "queries_per_mode": len(questions),
        "latency": latency,
        "peak_rss_mb": peak_rss_mb(),
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
