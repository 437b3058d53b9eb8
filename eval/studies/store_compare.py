"""FAISS vs Milvus (milvus-lite here) as Verbatim's vector store, on the same real vectors, in one run.

    python -m eval.studies.store_compare --index-dir var/bench/cache/squad-recombined-100000-seed0/index \\
        --sizes 10000 100000 --out docs/bench/stores.json
    python -m eval.studies.store_compare --vectors vectors10k.npy --sizes 10000 100000   # no 100k index at hand

Takes the first N passage vectors of a built index (the benchmark's cached 100k index: recombined
SQuAD text embedded by the real model) or of a .npy of real passage vectors; when N exceeds the
vectors given, the rest are noisy copies of them (each real vector plus Gaussian noise, re-normalised;
see `extend`), which keeps count, dimension and clustering realistic for timing and memory. Questions
are SQuAD question vectors. For each store, in a fresh
process: writes the vectors the way a build does, then runs the dense search a question makes
(the 100 candidates Verbatim asks for). Reports write time, p50/p95 search latency, recall@10
against exact inner products, the resident memory the store added to the process (milvus-lite runs
in it) and the process's peak RSS; ratios are Milvus over FAISS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from index.config import Settings
from index.storage.store import current_version_path
from index.storage.vector_store import FaissStore, MilvusStore, StoreConfig

CANDIDATES = 100
NOISE = 0.025  # per-coordinate sigma of the copies: cosine ~0.9 to their original at 384 dimensions


def extend(vectors: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """`size` unit vectors: the real ones, then noisy re-normalised copies of them in turn."""
    if size <= len(vectors):
        return vectors[:size]
    rng = np.random.default_rng(seed)
    extra = vectors[np.arange(size - len(vectors)) % len(vectors)]
    extra = extra + rng.normal(0, NOISE, extra.shape).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.concatenate([vectors, extra]).astype(np.float32)


def rss_mb() -> float:
    """This process's resident memory now (milvus-lite runs inside it, no server process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def probe(store: str, vectors_path: Path, size: int, questions_path: Path, workdir: Path) -> dict:
    """Write and search one store in this process; the figures for one row of the table."""
    real = np.load(vectors_path, mmap_mode="r")[:size].astype(np.float32)
    vectors = extend(real, size)
    questions = np.load(questions_path)
    ids = np.arange(size, dtype=np.int64) * 7919 + 11  # sparse ids, like passage hashes
    config = StoreConfig(store, str(workdir / "milvus.db"), Settings().ann_threshold)
    baseline = rss_mb()  # the vectors as a build holds them, before the store has any
    started = time.perf_counter()
    if store == "milvus":
        entry = MilvusStore.write(workdir, ids, vectors, config, workdir, None, full=True)
        index = MilvusStore.open(entry, size)
    else:
        entry = FaissStore.write(workdir, ids, vectors, config)
        index = FaissStore.open(workdir, entry)
    write_s = time.perf_counter() - started
    truth = np.argsort(-(questions @ vectors.T), axis=1)[:, :10]
    for q in questions[:5]:
        index.search(q, CANDIDATES)
    times, recall = [], []
    for q, want in zip(questions, truth, strict=True):
        t = time.perf_counter()
        found, _ = index.search(q, CANDIDATES)
        times.append((time.perf_counter() - t) * 1000)
        recall.append(len(set(found[:10].tolist()) & set(ids[want].tolist())) / 10)
    return {
        "store": store,
        "size": size,
        "real_vectors": len(real),
        "index": ("hnsw" if index.approximate else "exact") if store == "faiss" else ("AUTOINDEX" if index.approximate else "FLAT"),
        "write_s": round(write_s, 2),
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "recall_at_10": round(float(np.mean(recall)), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "store_rss_mb": round(rss_mb() - baseline, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--index-dir", type=Path, help="a built index whose vectors to use")
    source.add_argument("--vectors", type=Path, help="a .npy of real unit passage vectors")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--squad", type=Path, default=None)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--probe", nargs=4, metavar=("STORE", "VECTORS", "SIZE", "QUESTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        store, vectors, size, questions = args.probe
        with tempfile.TemporaryDirectory(prefix="verbatim-store-") as tmp:
            print(json.dumps(probe(store, Path(vectors), int(size), Path(questions), Path(tmp))))
        return 0

    from eval.studies.bench import DEFAULT_SQUAD, squad_questions
    from index.models.embed import get_embedder

    vectors_path = args.vectors or current_version_path(args.index_dir) / "vectors.npy"
    with tempfile.TemporaryDirectory(prefix="verbatim-store-compare-") as tmp:
        questions_path = Path(tmp) / "questions.npy"
        encoder = get_embedder(Settings().model)
        np.save(questions_path, encoder.encode(squad_questions(args.squad or DEFAULT_SQUAD, args.questions)))
        rows = []
        for size in args.sizes:
            for store in ("faiss", "milvus"):
                result = subprocess.run(
                    [sys.executable, "-m", "eval.studies.store_compare", "--vectors", str(vectors_path),
                     "--probe", store, str(vectors_path), str(size), str(questions_path)],
                    capture_output=True, text=True, check=True, timeout=3600,
                )
                rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)
    for size in args.sizes:
        faiss_row, milvus_row = (next(r for r in rows if r["size"] == size and r["store"] == s) for s in ("faiss", "milvus"))
        milvus_row["ratio_vs_faiss"] = {
            key: round(milvus_row[key] / faiss_row[key], 2) for key in ("write_s", "p50_ms", "p95_ms", "store_rss_mb") if faiss_row[key]
        }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    print("| passages | store | index | write | search p50 / p95 (100 candidates) | recall@10 | RSS added by the store | peak RSS | Milvus / FAISS |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ratio = r.get("ratio_vs_faiss")
        ratios = ", ".join(f"{k.replace('_ms', '').replace('_s', '').replace('_mb', '')} {v}×" for k, v in ratio.items()) if ratio else ""
        print(f"| {r['size']:,} | {r['store']} | {r['index']} | {r['write_s']:.1f} s | {r['p50_ms']:.2f} / {r['p95_ms']:.2f} ms | "
              f"{r['recall_at_10']:.4f} | {r['store_rss_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB | {ratios} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
