"""`verbatim bench`: how ingestion and search costs grow with the collection, against the hardware's own limit.

    verbatim bench [--squad ../shared/benchmarks/squad-v1.1-dev-part1.json] [--out docs/bench]
    verbatim bench --quick --out tests/artifacts/bench      # CI-sized: every figure, smaller corpora

Corpora of about 1k, 10k and 100k passages are SQuAD sentences cut and recombined (eval/studies/corpus_gen.py;
real text, no random strings). In one run it measures:
- ingestion: passages/s of a full `build_index` end to end, against the build's own embedder encoding
  the same passage texts alone (onnxruntime on the model's export, or sentence-transformers), same
  batch size (the ratio is the figure), and encode throughput per batch size;
- search: p50/p95 per retriever in a fresh serving process per size, its peak RSS, index bytes on disk;
- cold start: `verbatim ask` and `verbatim serve` from process start to answer, next to a bare `python`;
- approximate search: HNSW against exact FAISS search, recall@10 and speed-up;
- index on disk: the index `verbatim eval --squad` builds of every SQuAD paragraph, file by file, and
  the model files it names (kept once per machine, outside it).

The largest corpus's index is kept under var/bench/cache (an ordinary Verbatim index, updated
incrementally), so only the first run embeds its 100k passages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.datasets import BENCHMARKS
from index.config import Settings
from eval.studies.corpus_gen import recombined_documents, write_documents

DEFAULT_SQUAD = BENCHMARKS / "squad-v1.1-dev-part1.json"
CACHE_DIR = Path("var/bench/cache")
GOALS = {
    "ingest_ratio": 0.9,
    "hybrid_p95_ms_largest": 50.0,
    "ask_cold_start_s": 1.5,
    "ask_vs_bare_import": 3.0,
    "web_http_s": 3.0,
    "web_first_answer_s": 4.0,
    "web_answer_p95_ms": 700.0,
    "web_rss_mb": 700.0,
    "ann_recall_at_10": 0.98,
    "squad_index_mb": 6.0,
}


@dataclass(frozen=True)
class Plan:
    """What one benchmark run measures."""

    sizes: tuple[int, ...]  # corpus sizes (paragraphs ~ passages) for search, memory and disk
    ingest_sizes: tuple[int, ...]  # sizes whose full build is timed against raw encode
    ann_sizes: tuple[int, ...]  # sizes whose vectors are searched exactly and with HNSW
    batch_sizes: tuple[int, ...]
    batch_texts: int
    queries: int
    cold_runs: int
    web_questions: int = 100  # asked of the served bundled app after its first answer (latency, RSS)
    ann_threshold: int | None = None  # None: the shipped Settings default

    @classmethod
    def full(cls) -> Plan:
        return cls((1_000, 10_000, 100_000), (1_000, 10_000), (10_000, 100_000), (8, 16, 32, 64, 128), 384, 200, 5)

    @classmethod
    def quick(cls) -> Plan:
        # Small enough for CI (about 35 s on a quiet machine, before the disk section added a build of the
        # 598 SQuAD passages): every figure, none of them meaningful at this size but the disk section's;
        # the HNSW threshold is lowered so the approximate path is exercised.
        return cls((150,), (150,), (150,), (8, 24, 48), 48, 20, 1, web_questions=10, ann_threshold=100)


# ---------------------------------------------------------------- corpora and machine


def machine() -> dict:
    """The machine and library versions. torch is named, not imported: nothing measured here runs on it
    by default (builds and questions run on onnxruntime), and importing it costs 5-8 s."""
    from importlib import metadata

    import faiss
    import onnxruntime

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    memory_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 2**20, 1),
        "gpu": Path("/dev/nvidia0").exists() or "CUDAExecutionProvider" in onnxruntime.get_available_providers(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch_version,
        "faiss": faiss.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_at_start": round(os.getloadavg()[0], 2),
    }


def corpus_sources(squad: Path, size: int, cache: Path) -> Path:
    """The sources folder of a recombined corpus of `size` paragraphs, written once."""
    folder = cache / f"squad-recombined-{size}-seed0" / "sources"
    if not folder.is_dir() or not any(folder.iterdir()):
        tmp = folder.with_name("sources.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write_documents(recombined_documents(squad, size, seed=0), tmp)
        tmp.rename(folder)
    return folder


def squad_questions(squad: Path, n: int) -> list[str]:
    from eval.datasets import load_squad

    _, questions = load_squad(squad)
    step = max(1, len(questions) // n)
    return [q.question for q in questions[::step]][:n]


# ---------------------------------------------------------------- measurements


def measure_ingestion(settings: Settings, embedder) -> dict:
    """Full build end to end vs the build's embedder encoding the same passage texts alone, same batch size."""
    from index.build.pipeline import build_index
    from index.storage.store import load_version

    batch_size, index_dir = settings.embed_batch_size, settings.index_dir
    started = time.perf_counter()
    report = build_index(settings, embedder=embedder, full=True)
    pipeline_s = time.perf_counter() - started
    texts = [p.text for p in load_version(index_dir).passages]
    started = time.perf_counter()
    embedder.encode(texts, batch_size=batch_size)
    raw_s = time.perf_counter() - started
    return {
        "passages": report.passages,
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_per_s": round(report.passages / pipeline_s, 1),
        "raw_encode_s": round(raw_s, 2),
        "raw_encode_per_s": round(len(texts) / raw_s, 1),
        "ratio": round(raw_s / pipeline_s, 3),
    }


def measure_batch_sizes(embedder, texts: list[str], batch_sizes: tuple[int, ...]) -> list[dict]:
    rows = []
    for batch_size in batch_sizes:
        started = time.perf_counter()
        embedder.encode(texts, batch_size=batch_size)
        seconds = time.perf_counter() - started
        rows.append({"batch_size": batch_size, "passages_per_s": round(len(texts) / seconds, 1)})
    return rows


def probe(index_dir: Path, questions_file: Path) -> dict:
    """Latency, load time and peak RSS of a fresh process serving `index_dir`."""
    result = subprocess.run(
        [sys.executable, "-m", "eval.studies.bench_probe", "--index-dir", str(index_dir), "--questions", str(questions_file)],
        capture_output=True, text=True, check=True, timeout=1800,
    )
    return json.loads(result.stdout)


def disk_bytes(index_dir: Path) -> int:
    from index.storage.store import current_version_path

    version = current_version_path(index_dir)
    return sum(p.stat().st_size for p in version.rglob("*") if p.is_file())


# What each file of a version holds, for the disk report; anything else counts as "other".
DISK_PARTS = {
    "vectors.npy": "passage vectors",
    "dense.faiss": "FAISS index",
    "sentence_vectors.npy": "sentence vectors",
    "sentence_rows.npy": "sentence vectors",
    "lexical": "BM25 (bm25s)",
    "documents.jsonl": "text (sources, cleaned)",
    "passages.jsonl": "text (passages, offsets)",
}


def measure_index_disk(squad: Path, workdir: Path) -> dict:
    """Bytes on disk of the index eval builds of `squad` (eval/run.py's temporary index, every paragraph):
    everything under the index folder, by part, and the model files its manifest names, which live
    outside it (the models folder's shared store) and are not counted in the total."""
    from eval.datasets import load_squad
    from eval.run import temporary_index
    from index.models.model_store import blob_path
    from index.storage.store import current_version_path, read_manifest

    documents, _ = load_squad(squad)
    paragraphs = sum(len(article["paragraphs"]) for article in json.loads(squad.read_text(encoding="utf-8-sig"))["data"])
    settings, _ = temporary_index(documents, Settings(), workdir)
    version = current_version_path(settings.index_dir)
    parts: dict[str, int] = {}
    for path in (p for p in settings.index_dir.rglob("*") if p.is_file()):
        inside = path.relative_to(version).parts[0] if path.is_relative_to(version) else ""
        part = DISK_PARTS.get(inside, "other (manifest, pointer, anything else)")
        parts[part] = parts.get(part, 0) + path.stat().st_size
    manifest = read_manifest(version)
    entry = manifest.query_encoder
    model_files = {
        file: blob_path(sha256).stat().st_size if blob_path(sha256).is_file() else 0 for file, sha256 in entry.get("files", {}).items()
    }
    return {
        "paragraphs": paragraphs,
        "documents": len(documents),
        "passages": manifest.passage_count,
        "parts": parts,
        "total_bytes": sum(parts.values()),
        "total_mb": round(sum(parts.values()) / 2**20, 2),
        "encoder": {"model": manifest.model, "files": entry.get("files", {}), "bytes": model_files},
    }


def measure_ann(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> dict:
    """HNSW (as Verbatim builds it past the threshold) against exact search on the same vectors."""
    from index.storage.dense import DenseIndex

    ids = np.arange(len(vectors), dtype=np.int64)
    exact = DenseIndex.build(vectors, ids, ann_threshold=None)
    started = time.perf_counter()
    approx = DenseIndex.build(vectors, ids, ann_threshold=0)
    build_s = time.perf_counter() - started

    def timed(index: DenseIndex) -> tuple[list[np.ndarray], float]:
        found, started = [], time.perf_counter()
        for query in queries:
            found.append(index.search(query, k)[0])
        return found, (time.perf_counter() - started) * 1000 / len(queries)

    timed(exact), timed(approx)  # warm caches
    truth, exact_ms = timed(exact)
    found, approx_ms = timed(approx)
    recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, truth, strict=True)])
    return {
        "vectors": len(vectors),
        "exact_ms": round(exact_ms, 3),
        "hnsw_ms": round(approx_ms, 3),
        "speedup": round(exact_ms / approx_ms, 3),
        "recall_at_10": round(float(recall), 4),
        "hnsw_build_s": round(build_s, 1),
    }


def _timed_process(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=300)
    return time.perf_counter() - started


BARE_IMPORT = "import numpy, faiss"  # the floor of any process that searches vectors: the ratios' baseline


def measure_cold_start(index_dir: Path, sources: Path, questions: list[str], runs: int, web_questions: int) -> dict:
    """Seconds from process start to an answer, each beside a bare `python -c "import numpy, faiss"`
    measured in the same run: `verbatim ask` (reranking on) and `verbatim serve` (first HTTP, first
    answer); then the served app's web answer latency over `web_questions` questions and its RSS after."""
    env = {**os.environ, "VERBATIM_INDEX_DIR": str(index_dir), "VERBATIM_SOURCES_DIR": str(sources)}
    bare = statistics.median(_timed_process([sys.executable, "-c", BARE_IMPORT], env) for _ in range(runs))
    asks = [_timed_process([sys.executable, "-m", "app.cli", "ask", questions[0], "--json"], env) for _ in range(runs)]
    sessions = [_web_session(env, questions, web_questions if i == 0 else 0) for i in range(runs)]
    ask = statistics.median(asks)
    http = statistics.median(s["http_s"] for s in sessions)
    answer = statistics.median(s["first_answer_s"] for s in sessions)
    web = sessions[0]
    return {
        "bare_import_s": round(bare, 3),
        "ask_s": round(ask, 2),
        "ask_runs_s": [round(x, 2) for x in asks],
        "ask_vs_bare": round(ask / bare, 1),
        "web_http_s": round(http, 2),
        "web_http_vs_bare": round(http / bare, 1),
        "web_first_answer_s": round(answer, 2),
        "web_first_answer_vs_bare": round(answer / bare, 1),
        "web_questions": web_questions,
        "web_answer_p50_ms": web["p50_ms"],
        "web_answer_p95_ms": web["p95_ms"],
        "web_rss_mb": web["rss_mb"],
    }


def _process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _web_session(env: dict, questions: list[str], asked: int) -> dict:
    """`verbatim serve` from process start: first HTTP 200, first answer, then `asked` questions
    through the HTTP API one after another (each a web answer, reranking on), and the server's RSS."""
    import socket
    import urllib.request

    from gradio_client import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--no-build", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if process.poll() is not None or time.perf_counter() - started > 300:
                raise RuntimeError("the web app did not start")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.02)
        http = time.perf_counter() - started
        client = Client(url, verbose=False)
        client.predict(questions[0], 5, "hybrid", api_name="/ask")
        first = time.perf_counter() - started
        times = []
        for question in (questions * (1 + asked // max(1, len(questions))))[:asked]:
            t = time.perf_counter()
            client.predict(question, 5, "hybrid", api_name="/ask")
            times.append((time.perf_counter() - t) * 1000)
        web = {"p50_ms": 0.0, "p95_ms": 0.0} if not times else {
            "p50_ms": round(float(np.percentile(times, 50)), 1), "p95_ms": round(float(np.percentile(times, 95)), 1)
        }
        return {"http_s": http, "first_answer_s": first, **web, "rss_mb": _process_rss_mb(process.pid)}
    finally:
        process.terminate()
        process.wait(timeout=30)


def bundled_index(workdir: Path) -> tuple[Path, Path]:
    """An index of the bundled corpus (the repository's sources/), built by the normal build."""
    from index.build.pipeline import build_index

    sources = Path(__file__).resolve().parents[2] / "sources"
    index_dir = workdir / "index-bundled"
    build_index(Settings(sources_dir=sources, index_dir=index_dir))
    return index_dir, sources


def gold_questions() -> list[str]:
    from eval.datasets import load_gold
    from eval.run import default_gold_files

    return [q.question for path in default_gold_files() for q in load_gold(path)]


# ---------------------------------------------------------------- the run


def run(plan: Plan, squad: Path, out: Path, cache: Path) -> dict:
    from index.build.pipeline import build_index
    from index.models.embed import Embedder, get_embedder
    from index.storage.store import load_version

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    settings = Settings() if plan.ann_threshold is None else Settings(ann_threshold=plan.ann_threshold)
    embedder = get_embedder(settings.model, settings.embed_runtime)
    embedder.encode(["warm up the model"] * 8)
    results: dict = {"machine": machine(), "plan": plan.__dict__, "goals": GOALS, "ann_threshold": settings.ann_threshold}
    results["build_embedder"] = "sentence-transformers" if isinstance(embedder, Embedder) else "onnxruntime"
    questions = squad_questions(squad, plan.queries)
    questions_file = out / "questions.json"
    questions_file.write_text(json.dumps(questions))
    question_vectors = embedder.encode(questions)

    with tempfile.TemporaryDirectory(prefix="verbatim-bench-") as tmp:
        ingestion, sizes, ann = [], [], []
        for size in plan.sizes:
            sources = corpus_sources(squad, size, cache)
            if size in plan.ingest_sizes:
                index_dir = Path(tmp) / f"index-{size}"
                print(f"[bench] {size}: full build vs raw encode", file=sys.stderr, flush=True)
                sized = settings.with_overrides(sources_dir=sources, index_dir=index_dir)
                ingestion.append({"size": size, **measure_ingestion(sized, embedder)})
            else:
                # Kept between runs: only new or changed passages are embedded (all of them, the first time).
                index_dir = sources.parent / "index"
                print(f"[bench] {size}: incremental build of the cached index", file=sys.stderr, flush=True)
                t = time.perf_counter()
                report = build_index(settings.with_overrides(sources_dir=sources, index_dir=index_dir), embedder=embedder)
                results.setdefault("cached_builds", []).append(
                    {"size": size, "embedded": report.embedded, "reused": report.reused, "seconds": round(time.perf_counter() - t, 1)}
                )
            print(f"[bench] {size}: serving probe", file=sys.stderr, flush=True)
            served = probe(index_dir, questions_file)
            size_bytes = disk_bytes(index_dir)
            sizes.append({
                "size": size,
                **served,
                "index_mb": round(size_bytes / 2**20, 1),
                "bytes_per_passage": round(size_bytes / served["passages"]),
            })
            if size in plan.ann_sizes:
                print(f"[bench] {size}: exact vs HNSW", file=sys.stderr, flush=True)
                vectors = load_version(index_dir).vectors
                ann.append({"size": size, **measure_ann(vectors, question_vectors)})
            if size == plan.sizes[0]:
                print("[bench] batch sizes and cold starts", file=sys.stderr, flush=True)
                texts = [p.text for p in load_version(index_dir).passages][: plan.batch_texts]
                results["batch_sizes"] = measure_batch_sizes(embedder, texts, plan.batch_sizes)
                print("[bench] cold starts and web answers on the bundled corpus", file=sys.stderr, flush=True)
                bundled, bundled_sources = bundled_index(Path(tmp))
                results["cold_start"] = {
                    "corpus": "bundled (sources/)",
                    "passages": len(load_version(bundled).passages),
                    **measure_cold_start(bundled, bundled_sources, gold_questions(), plan.cold_runs, plan.web_questions),
                }
        print("[bench] index on disk: SQuAD, every paragraph", file=sys.stderr, flush=True)
        results["index_disk"] = {"dataset": squad.name, **measure_index_disk(squad, Path(tmp) / "index-disk")}
        results.update(ingestion=ingestion, sizes=sizes, ann=ann)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    # Other jobs on the machine change every absolute figure: the report states the load it ran under.
    results["machine"]["load_at_end"] = round(os.getloadavg()[0], 2)
    write_report(results, out)
    return results


# ---------------------------------------------------------------- report


def missing_figures(results: dict) -> list[str]:
    """Every figure the report must hold, named when absent or not a positive number."""
    wanted: list[tuple[str, object]] = []
    for row in results.get("ingestion", []) or [{}]:
        wanted += [(f"ingestion[{row.get('size')}].{key}", row.get(key)) for key in ("pipeline_per_s", "raw_encode_per_s", "ratio")]
    for row in results.get("sizes", []) or [{}]:
        for mode in ("dense", "lexical", "hybrid", "hybrid+rerank"):
            for stat in ("p50_ms", "p95_ms"):
                wanted.append((f"sizes[{row.get('size')}].{mode}.{stat}", row.get("latency", {}).get(mode, {}).get(stat)))
        wanted += [(f"sizes[{row.get('size')}].{key}", row.get(key)) for key in ("peak_rss_mb", "bytes_per_passage", "load_s")]
    cold = results.get("cold_start", {})
    wanted += [
        (f"cold_start.{key}", cold.get(key))
        for key in ("bare_import_s", "ask_s", "web_http_s", "web_first_answer_s", "web_answer_p95_ms", "web_rss_mb")
    ]
    disk = results.get("index_disk", {})
    wanted += [(f"index_disk.{key}", disk.get(key)) for key in ("paragraphs", "passages", "total_bytes")]
    for row in results.get("ann", []) or [{}]:
        wanted += [(f"ann[{row.get('size')}].{key}", row.get(key)) for key in ("recall_at_10", "speedup", "exact_ms", "hnsw_ms")]
    wanted += [(f"batch_sizes[{i}]", row.get("passages_per_s")) for i, row in enumerate(results.get("batch_sizes") or [{}])]
    return [name for name, value in wanted if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0]


def write_report(results: dict, out: Path) -> None:
    """bench.json, bench.md and the two plots."""
    (out / "bench.json").write_text(json.dumps(results, indent=2))
    _plot(results, out)
    (out / "bench.md").write_text(markdown(results))


def _plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    sizes = [row["passages"] for row in results["sizes"]]
    for mode, color in (("dense", "tab:blue"), ("lexical", "tab:green"), ("hybrid", "tab:red"), ("hybrid+rerank", "tab:purple")):
        ax.plot(sizes, [row["latency"][mode]["p50_ms"] for row in results["sizes"]], "o-", color=color, label=f"{mode} p50")
        ax.plot(sizes, [row["latency"][mode]["p95_ms"] for row in results["sizes"]], "s--", color=color, label=f"{mode} p95")
    ax.axhline(GOALS["hybrid_p95_ms_largest"], color="grey", lw=0.8, ls=":", label="goal: hybrid p95 50 ms")
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("query latency (ms), model loaded")
    ax.set_title("Search latency vs collection size")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "latency_vs_passages.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4))
    batches = results["batch_sizes"]
    ax.plot([b["batch_size"] for b in batches], [b["passages_per_s"] for b in batches], "o-")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"passages / s ({results.get('build_embedder', 'encode')})")
    ax.set_title("Embedding throughput vs batch size")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "throughput_vs_batch.png", dpi=110)
    plt.close(fig)


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Verbatim benchmark",
        "",
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, "
        f"GPU: {'yes' if m['gpu'] else 'none'}; Python {m['python']}, onnxruntime {m.get('onnxruntime', '?')}, "
        f"torch {m['torch']}, faiss {m['faiss']}. Whole run: {r['bench_seconds']:.0f} s; 1-minute load average "
        f"{m.get('load_at_start', '?')} at the start, {m.get('load_at_end', '?')} at the end. Corpora: SQuAD v1.1 dev sentences recombined "
        "into paragraphs (eval/studies/corpus_gen.py). HNSW past "
        f"{r['ann_threshold']:,} passages.",
        "",
        "## Ingestion: full build vs the model alone",
        "",
        f"The build embeds with {r.get('build_embedder', 'sentence-transformers')} "
        "(the model's verified ONNX export when `verbatim models fetch` made one); raw encode is the same embedder alone.",
        "",
        "| passages | full build | build passages/s | raw encode passages/s | ratio (goal ≥ 0.9) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row['passages']:,} | {row['pipeline_s']:.1f} s | {row['pipeline_per_s']:.1f} | {row['raw_encode_per_s']:.1f} | {row['ratio']:.3f} |"
        for row in r["ingestion"]
    ]
    for row in r.get("cached_builds", []):
        lines.append(f"\nThe {row['size']:,}-paragraph index is cached: this run embedded {row['embedded']:,} passages "
                     f"and reused {row['reused']:,} ({row['seconds']:.0f} s).")
    lines += [
        "",
        "![throughput vs batch size](throughput_vs_batch.png)",
        "",
        "| batch size | " + " | ".join(str(b["batch_size"]) for b in r["batch_sizes"]) + " |",
        "|---|" + "---:|" * len(r["batch_sizes"]),
        "| passages/s | " + " | ".join(f"{b['passages_per_s']:.1f}" for b in r["batch_sizes"]) + " |",
        "",
        "## Search, memory and disk (a fresh serving process per size)",
        "",
        "| passages | dense index | dense p50 / p95 | lexical p50 / p95 | hybrid p50 / p95 | hybrid+rerank p50 / p95 | load | peak RSS | index on disk | bytes/passage |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["sizes"]:
        lat = row["latency"]
        cells = " | ".join(f"{lat[mode]['p50_ms']:.1f} / {lat[mode]['p95_ms']:.1f} ms" for mode in ("dense", "lexical", "hybrid", "hybrid+rerank"))
        lines.append(
            f"| {row['passages']:,} | {row['dense_index']} | {cells} | {row['load_s']:.1f} s | {row['peak_rss_mb']:.0f} MB | "
            f"{row['index_mb']:.1f} MB | {row['bytes_per_passage']:,} |"
        )
    lines += [
        "",
        f"{r['sizes'][0]['queries_per_mode']} SQuAD questions per retriever, after 5 warm-up questions.",
        "",
        "![latency vs passages](latency_vs_passages.png)",
        "",
        "## Approximate search: HNSW vs exact FAISS (k = 10, single queries)",
        "",
        "| vectors | exact | HNSW | speed-up | recall@10 (goal ≥ 0.98) | HNSW build |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row['vectors']:,} | {row['exact_ms']:.3f} ms | {row['hnsw_ms']:.3f} ms | {row['speedup']:.2f}× | {row['recall_at_10']:.4f} | {row['hnsw_build_s']:.1f} s |"
        for row in r["ann"]
    ]
    lines += _disk_markdown(r["index_disk"]) if "index_disk" in r else []
    c = r["cold_start"]
    lines += [
        "",
        f"## Cold start and web answers ({c['corpus']}, {c['passages']:,} passages; median of {r['plan']['cold_runs']} starts)",
        "",
        f"Baseline measured in the same run: a bare `python -c \"{BARE_IMPORT}\"` took {c['bare_import_s']:.3f} s.",
        "",
        "| figure | seconds | × bare import | goal |",
        "|---|---:|---:|---|",
        f"| `verbatim ask` (reranking on) | {c['ask_s']:.2f} | {c['ask_vs_bare']:.1f}× | ≤ 1.5 s and ≤ 3× |",
        f"| `verbatim serve`: first HTTP 200 | {c['web_http_s']:.2f} | {c['web_http_vs_bare']:.1f}× | ≤ 3 s |",
        f"| `verbatim serve`: first answer | {c['web_first_answer_s']:.2f} | {c['web_first_answer_vs_bare']:.1f}× | ≤ 4 s |",
        "",
        f"Then {c['web_questions']} gold questions through the served app's HTTP API, one at a time (reranking on): "
        f"web answer p50 {c['web_answer_p50_ms']:.0f} ms, p95 {c['web_answer_p95_ms']:.0f} ms (goal ≤ 700 ms); "
        f"the server's RSS after them: {c['web_rss_mb']:.0f} MB (goal ≤ 700 MB). `verbatim ask` runs: "
        + ", ".join(f"{x:.2f}" for x in c["ask_runs_s"]) + " s.",
        "",
    ]
    return "\n".join(lines)


def _disk_markdown(d: dict) -> list[str]:
    encoder = d["encoder"]
    named = ", ".join(f"{file} sha256 {sha256[:12]}… ({encoder['bytes'].get(file, 0) / 2**20:.1f} MB)" for file, sha256 in encoder["files"].items())
    lines = [
        "",
        f"## Index on disk: {d['dataset']}, every paragraph",
        "",
        (
            f"The index `verbatim eval --squad` builds (eval/run.py): {d['paragraphs']:,} paragraphs in {d['documents']} "
            f"articles, {d['passages']:,} passages. Every file under the index folder:"
        ),
        "",
        "| part | bytes |",
        "|---|---:|",
    ]
    lines += [f"| {part} | {size:,} |" for part, size in sorted(d["parts"].items(), key=lambda item: -item[1])]
    lines += [
        f"| **the whole index folder** | **{d['total_bytes']:,} ({d['total_mb']:.2f} MB; goal ≤ {GOALS['squad_index_mb']:.0f} MB)** |",
        "",
        (
            f"Not in it: the question encoder it names ({encoder['model']}: {named or 'none'}), kept once per machine "
            "in the models folder and shared by every index built with the same model."
        ),
    ]
    return lines


def main(args: argparse.Namespace) -> int:
    squad = args.squad or DEFAULT_SQUAD
    if not squad.exists():
        print(f"error: SQuAD file {squad} not found; pass --squad", file=sys.stderr)
        return 1
    plan = Plan.quick() if args.quick else Plan.full()
    out = args.out or (Path("tests/artifacts/bench") if args.quick else Path("docs/bench"))
    scratch = None if args.cache_dir or not args.quick else tempfile.mkdtemp(prefix="verbatim-bench-cache-")
    try:
        results = run(plan, squad, out, args.cache_dir or (Path(scratch) if scratch else CACHE_DIR))
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    missing = missing_figures(results)
    print((out / "bench.md").read_text())
    if missing:
        print(f"error: the report lacks {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"report: {out / 'bench.md'} ({results['bench_seconds']:.0f} s)", file=sys.stderr)
    return 0
