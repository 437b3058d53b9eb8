"""`verbatim bench --scale`: the distributed build against the local one, and search at a million passages.

    verbatim bench --scale [--scale-size 10000] [--scale-passages 1000000] [--scale-base INDEX_DIR] [--out docs/bench]

(a) Build throughput, in one run on one corpus (SQuAD sentences recombined, eval/studies/corpus_gen.py): a local
    `verbatim build --full` (model load included, as the command does it), then the same build on a local
    Ray cluster with 2 and with 1 embedding workers (the cluster is started once, first; its start-up is
    reported apart). Each Ray index is compared with the local one (passages, ids, offsets; vector gap).
(b) Search at `--scale-passages` passages (default 1M): an index version written from the real passage
    vectors of a built index (`--scale-base`, the bench's 100k index by default) and noisy copies of them,
    with texts recombined from that index's real passages, so BM25 runs over real text (see
    `write_synthetic_version`). A fresh process per store (FAISS HNSW, milvus-lite) loads it with the
    real `Searcher` and answers SQuAD questions per retriever: p50/p95, peak RSS, disk, and recall@10 of
    its dense search against exact inner products. No cross-encoder reranker is involved.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from index.config import Settings

NOISE = 0.025  # per-coordinate sigma of a copy's noise: cosine ~0.9 to its original at 384 dimensions
GOALS = {"ray_ratio_2_workers": 0.85, "hybrid_p95_ms_1m": 80.0, "recall_at_10_1m": 0.97}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------- (a) build throughput


def _compare(version, reference) -> dict:
    same = [p.to_dict() for p in version.passages] == [p.to_dict() for p in reference.passages]
    gap = float(np.abs(version.vectors - reference.vectors).max()) if same and len(version.vectors) else None
    return {"identical_passages": same, "max_vector_gap": gap}


def measure_build_throughput(
    sources: Path, workdir: Path, worker_counts: tuple[int, ...] = (2, 1), local_index: Path | None = None
) -> dict:
    """Local build vs Ray builds of the same sources, one after the other in this process.

    The local build goes to `local_index` when given (kept: it can seed the million-passage test)."""
    import ray

    from index.build.pipeline import LocalRunner, build_index
    from index.models.embed import Embedder
    from index.build.ray_runner import RayRunner
    from index.storage.store import load_version

    settings = Settings(sources_dir=sources, index_dir=local_index or workdir / "local")
    rows = []
    print(f"[scale] local build of {sources}", file=sys.stderr, flush=True)
    load = load_average()
    started = time.perf_counter()
    report = build_index(settings, full=True, runner=LocalRunner(Embedder(settings.model)))
    seconds = time.perf_counter() - started
    local = {"runner": "local", "workers": 1, "seconds": round(seconds, 1), "passages": report.passages,
             "passages_per_s": round(report.passages / seconds, 2), "load_before": load, "load_after": load_average()}
    rows.append(local)
    reference = load_version(settings.index_dir)

    started = time.perf_counter()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING", _node_ip_address="127.0.0.1")
    ray_start_s = time.perf_counter() - started
    try:
        for workers in worker_counts:
            print(f"[scale] Ray build, {workers} worker(s)", file=sys.stderr, flush=True)
            ray_settings = settings.with_overrides(index_dir=workdir / f"ray-{workers}")
            runner = RayRunner(workers=workers)
            load = load_average()
            started = time.perf_counter()
            report = build_index(ray_settings, full=True, runner=runner)
            seconds = time.perf_counter() - started
            rows.append({
                "runner": "ray", "workers": workers, "seconds": round(seconds, 1), "passages": report.passages,
                "passages_per_s": round(report.passages / seconds, 2),
                "ratio_vs_local": round(local["seconds"] / seconds, 3),
                "ratio_with_ray_start": round(local["seconds"] / (seconds + ray_start_s), 3),
                "embed_stage_s": round(runner.embed_seconds, 1),
                "load_before": load, "load_after": load_average(),
                **_compare(load_version(ray_settings.index_dir), reference),
            })
            shutil.rmtree(ray_settings.index_dir, ignore_errors=True)
    finally:
        ray.shutdown()
    return {"corpus": str(sources), "ray_start_s": round(ray_start_s, 1), "cpus": os.cpu_count(), "builds": rows}


# ---------------------------------------------------------------- (b) a million passages


def write_synthetic_version(
    base_index: Path, size: int, target: Path, store: str = "faiss", seed: int = 0, reuse: Path | None = None
) -> dict:
    """An index version of `size` passages grown from a real one; returns what it is made of.

    Passage i < n (the base's count) is the base's own (text, vector, sentence vectors). A copy of base
    passage b is its sentences in a shuffled order plus one sentence borrowed from another passage
    (real text, a new id), its vector b's vector plus Gaussian noise (`NOISE`) re-normalised, and its
    sentence vectors those of the sentences it took, with the same noise. Passages are grouped 1,000 to a
    synthetic document, so citations and offsets are real. Files are streamed, so the writer never holds
    the sentence vectors of the whole collection; the FAISS index and BM25 are built by Verbatim's own code.
    """
    from index.storage.lexical import LexicalIndex
    from index.storage.store import current_version_path, read_manifest
    from ingest.passages import passage_id
    from ingest.records import Occurrence, Passage, Span

    name = "v-synthetic"
    version = target / name
    if reuse is not None:  # the same passages already written for another store: hard links, then this store
        shutil.copytree(reuse / name, version, copy_function=os.link,
                        ignore=shutil.ignore_patterns("dense.faiss", "manifest.json"))
        made = json.loads((reuse / "synthetic.json").read_text())
        return _attach_store(version, target, store, made)
    base = current_version_path(base_index)
    base_manifest = read_manifest(base)
    with (base / "passages.jsonl").open(encoding="utf-8") as fh:
        base_passages = [Passage.from_dict(json.loads(line)) for line in fh]
    base_vectors = np.load(base / "vectors.npy", mmap_mode="r")
    base_sentences = np.load(base / "sentence_vectors.npy", mmap_mode="r")
    base_rows = np.load(base / "sentence_rows.npy")
    n, dim = len(base_passages), base_vectors.shape[1]
    rng = np.random.default_rng(seed)
    target.mkdir(parents=True, exist_ok=True)
    version.mkdir()

    def sentences_of(row: int) -> list[str]:
        p = base_passages[row]
        return [p.text[s.start : s.end] for s in p.sentences]

    # Pass 1: texts, sentence spans and which base sentence rows each passage uses; written as it goes.
    vectors = np.lib.format.open_memmap(version / "vectors.npy", mode="w+", dtype=np.float32, shape=(size, dim))
    texts: list[str] = []
    picks: list[np.ndarray] = []  # base sentence-vector rows of each passage
    seen: set[int] = set()
    per_doc = 1000
    documents = []
    with (version / "passages.jsonl").open("w", encoding="utf-8") as out:
        doc_text: list[str] = []
        doc_len = 0
        for i in range(size):
            b = i % n
            if i < n:
                text = base_passages[b].text
                rows = np.arange(base_rows[b], base_rows[b + 1])
                spans = base_passages[b].sentences
                vectors[i] = base_vectors[b]
            else:
                while True:
                    order = rng.permutation(base_rows[b + 1] - base_rows[b])
                    donor = int(rng.integers(n))
                    donor_sentence = int(rng.integers(base_rows[donor + 1] - base_rows[donor]))
                    own = sentences_of(b)
                    parts = [own[j] for j in order] + [sentences_of(donor)[donor_sentence]]
                    text = " ".join(parts)
                    if passage_id(text) not in seen:
                        break
                rows = np.concatenate([base_rows[b] + order, [base_rows[donor] + donor_sentence]])
                spans, start = [], 0
                for part in parts:
                    spans.append(Span(start, start + len(part)))
                    start += len(part) + 1
                spans = tuple(spans)
                vector = base_vectors[b] + rng.normal(0, NOISE, dim).astype(np.float32)
                vectors[i] = vector / np.linalg.norm(vector)
            pid = passage_id(text)
            seen.add(pid)
            doc = i // per_doc
            occurrence = Occurrence(f"synthetic-{doc:05d}.txt", doc_len, doc_len + len(text), i % per_doc + 1)
            out.write(json.dumps(Passage(pid, text, spans, (occurrence,)).to_dict(), ensure_ascii=False) + "\n")
            texts.append(text)
            picks.append(rows)
            doc_text.append(text)
            doc_len += len(text) + 2
            if (i + 1) % per_doc == 0 or i + 1 == size:
                documents.append((f"synthetic-{doc:05d}.txt", "\n\n".join(doc_text)))
                doc_text, doc_len = [], 0
    vectors.flush()

    # Pass 2: sentence vectors (float16, streamed), rows, documents.
    counts = np.array([len(r) for r in picks], dtype=np.int64)
    sentence_rows = np.zeros(size + 1, dtype=np.int64)
    sentence_rows[1:] = np.cumsum(counts)
    np.save(version / "sentence_rows.npy", sentence_rows, allow_pickle=False)
    matrix = np.lib.format.open_memmap(
        version / "sentence_vectors.npy", mode="w+", dtype=np.float16, shape=(int(sentence_rows[-1]), dim)
    )
    chunk = 20_000
    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        rows = np.concatenate(picks[start:stop])
        block = base_sentences[np.sort(rows)][np.argsort(np.argsort(rows))].astype(np.float32)
        if stop > n:  # copies get their own noise
            first_copy = max(start, n)
            offset = int(sentence_rows[first_copy] - sentence_rows[start])
            block[offset:] += rng.normal(0, NOISE, block[offset:].shape).astype(np.float32)
            block[offset:] /= np.linalg.norm(block[offset:], axis=1, keepdims=True)
        matrix[sentence_rows[start] : sentence_rows[stop]] = block.astype(np.float16)
    matrix.flush()
    del matrix, picks
    with (version / "documents.jsonl").open("w", encoding="utf-8") as out:
        for file, text in documents:
            meta = {"file": file, "title": file, "authors": [], "publisher": "", "date": "", "url": "", "added": ""}
            out.write(json.dumps({**meta, "own": meta, "fingerprint": "synthetic", "passages": 1000, "text": text}) + "\n")
    del documents

    # BM25 and the dense index, by Verbatim's own code.
    started = time.perf_counter()
    LexicalIndex.build(texts).save(version / "lexical")
    made = {"base_passages": n, "passages": size, "noisy_copies": max(0, size - n), "bm25_build_s": round(time.perf_counter() - started, 1),
            "model": base_manifest.model, "dimension": dim, "build_params": base_manifest.build_params}
    del texts
    (target / "synthetic.json").write_text(json.dumps(made))
    return _attach_store(version, target, store, made)


def _attach_store(version: Path, target: Path, store: str, made: dict) -> dict:
    """Write the version's dense index into `store`, then its manifest, and make it live in `target`."""
    from index.storage.store import FORMAT_VERSION, Manifest, file_checksums
    from index.storage.vector_store import FaissStore, MilvusStore, StoreConfig, milvus_client

    ids = np.array([json.loads(line)["id"] for line in (version / "passages.jsonl").open(encoding="utf-8")], dtype=np.int64)
    config = StoreConfig(store, str(target / "milvus.db"), Settings().ann_threshold)
    started = time.perf_counter()
    vectors = np.load(version / "vectors.npy")
    if store == "milvus":
        entry = MilvusStore.write(version, ids, vectors, config, target, None, full=True)
        MilvusStore.publish(entry)
        milvus_client(config.milvus_uri).close()  # milvus-lite: one process at a time opens the file
        milvus_client.cache_clear()
    else:
        entry = FaissStore.write(version, ids, vectors, config)
    dense_s = time.perf_counter() - started
    del vectors
    manifest = Manifest(
        format_version=FORMAT_VERSION, model=made["model"], dimension=made["dimension"], passage_count=len(ids),
        sources={}, build_params=made["build_params"], built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        store=store, vector_store=entry, lexical="bm25s",
    )
    manifest = replace(manifest, files=file_checksums(version))
    (version / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2), encoding="utf-8")
    (target / "CURRENT").write_text(version.name + "\n", encoding="utf-8")
    return {key: made[key] for key in ("base_passages", "passages", "noisy_copies", "bm25_build_s")} | {"dense_build_s": round(dense_s, 1)}


def dense_recall(index_dir: Path, question_vectors: np.ndarray, store: str, k: int = 10) -> dict:
    """Recall@k of the version's dense search against exact inner products over all its vectors.

    For a FAISS HNSW index also a sweep of the search breadth (efSearch): recall and mean search time per
    breadth, the shipped one marked, so the setting's trade-off is measured rather than assumed.
    """
    from index.storage.dense import HNSW_EF_SEARCH
    from index.storage.store import load_version

    version = load_version(index_dir, expected_store=store)
    ids = np.array([p.id for p in version.passages], dtype=np.int64)
    truths = []
    for start in range(0, len(question_vectors), 50):
        block = question_vectors[start : start + 50]
        truths.extend(ids[np.argsort(-(block @ version.vectors.T), axis=1)[:, :k]])

    def recall_and_ms() -> tuple[float, float]:
        recalls, seconds = [], 0.0
        for q, want in zip(question_vectors, truths, strict=True):
            started = time.perf_counter()
            found, _ = version.dense.search(q, 100)  # the candidates a question asks for
            seconds += time.perf_counter() - started
            recalls.append(len(set(found[:k].tolist()) & set(want.tolist())) / k)
        return round(float(np.mean(recalls)), 4), round(1000 * seconds / len(recalls), 2)

    breadth = getattr(version.dense, "ef_search", None)
    if breadth is None:
        return {"recall_at_10": recall_and_ms()[0]}
    sweep = []
    for ef in (128, 256, 512):
        version.dense.ef_search = ef
        recall, ms = recall_and_ms()
        sweep.append({"ef_search": ef, "recall_at_10": recall, "mean_ms": ms, "shipped": ef == HNSW_EF_SEARCH})
    shipped = next(row for row in sweep if row["shipped"])
    return {"recall_at_10": shipped["recall_at_10"], "ef_sweep": sweep}


def measure_million(base_index: Path, size: int, questions_file: Path, workdir: Path, stores: tuple[str, ...]) -> list[dict]:
    """Per store: write the synthetic version, then a fresh serving process's latency, RSS, disk, recall."""
    from eval.studies.bench import disk_bytes

    rows = []
    first: Path | None = None
    for store in stores:
        target = workdir / f"scale-{store}"
        print(f"[scale] writing {size:,} passages for {store}", file=sys.stderr, flush=True)
        # In its own process: its memory is given back, and milvus-lite's file is free for the probe.
        # The second store reuses the first one's passages, vectors and BM25 (hard links).
        made = _run_json(["--write", str(base_index), str(size), str(target), store, str(first or "")])
        print(f"[scale] serving probe, {store}", file=sys.stderr, flush=True)
        served = probe_store(target, questions_file, store)
        recall = _run_json(["--recall", str(target), str(questions_file), store])  # {"recall_at_10": …, maybe "ef_sweep"}
        size_bytes = disk_bytes(target) + sum(p.stat().st_size for p in target.glob("milvus.db*") if p.is_file())
        milvus_dir = target / "milvus.db"
        if milvus_dir.is_dir():
            size_bytes += sum(p.stat().st_size for p in milvus_dir.rglob("*") if p.is_file())
        version = next(target.glob("v-*"))
        mapped = sum((version / f).stat().st_size for f in ("vectors.npy", "sentence_vectors.npy"))
        rows.append({"store": store, **made, **served, **recall, "mapped_mb": round(mapped / 2**20, 1),
                     "disk_mb": round(size_bytes / 2**20, 1), "load": load_average()})
        if first is None:
            first = target
        else:
            shutil.rmtree(target, ignore_errors=True)
    return rows


def _run_json(argv: list[str]):
    """`python -m eval.studies.bench_scale ARGV` in a fresh process; its last stdout line, as JSON."""
    result = subprocess.run([sys.executable, "-m", "eval.studies.bench_scale", *argv], capture_output=True, text=True, timeout=14400)
    if result.returncode:
        raise RuntimeError(f"eval.studies.bench_scale {argv[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def probe_store(index_dir: Path, questions_file: Path, store: str) -> dict:
    """eval.studies.bench_probe (the bench's serving process) on one synthetic index."""
    result = subprocess.run(
        [sys.executable, "-m", "eval.studies.bench_probe", "--index-dir", str(index_dir), "--questions", str(questions_file),
         "--store", store],
        capture_output=True, text=True, timeout=14400,
    )
    if result.returncode:
        raise RuntimeError(f"serving probe on {store} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


# ---------------------------------------------------------------- report


def markdown(r: dict) -> str:
    lines = ["# Verbatim scale bench", "", f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, "
             f"{r['machine']['memory_gb']} GB RAM, no GPU, shared with other jobs (the 1-minute load average is given "
             "per row).", ""]
    a = r.get("build")
    if a:
        lines += [
            "## (a) Build throughput: local vs Ray, same corpus, same run", "",
            f"Measured {a['date']} by `{a['command']}`.", "",
            f"Corpus: {a['corpus']} ({a['builds'][0]['passages']:,} passages). Full builds, model load included. "
            f"The local Ray cluster ({a['cpus']} CPUs) was started once before the Ray builds, in {a['ray_start_s']:.1f} s.", "",
            "| build | workers | seconds | passages/s | vs local | vs local, Ray start included | same passages | max vector gap | load before → after |",
            "|---|---:|---:|---:|---:|---:|---|---:|---|",
        ]
        for row in a["builds"]:
            gap = row.get("max_vector_gap")
            lines.append(
                f"| {row['runner']} | {row['workers']} | {row['seconds']:.1f} | {row['passages_per_s']:.1f} | "
                f"{row.get('ratio_vs_local', 1.0):.3f} | {row.get('ratio_with_ray_start', 1.0):.3f} | "
                f"{'yes' if row.get('identical_passages', True) else 'NO'} | {'' if gap is None else f'{gap:.1e}'} | "
                f"{row['load_before'][0]} → {row['load_after'][0]} |"
            )
        lines.append("")
    million = r.get("million")
    if million:
        b = million["rows"]
        lines += [
            f"## (b) Search at {b[0]['passages']:,} passages", "",
            *[f"- {row['store']}: measured {row['date']} by `{row['command']}`; {row['questions']} SQuAD questions per retriever."
              for row in b],
            "",
            f"Vectors: the {b[0]['base_passages']:,} real passage vectors of `{b[0]['base_index']}` and "
            f"{b[0]['noisy_copies']:,} noisy copies of them ({b[0]['noisy_copies'] / b[0]['base_passages']:,.0f} per real vector; "
            f"each plus Gaussian noise, sigma {NOISE}, re-normalised); texts: "
            "the real passages, then their sentences shuffled plus one sentence of another passage (BM25 over real words). "
            "Latency is the whole search path (question encoding, dense and BM25 candidates, exact re-scoring, fusion, "
            "evidence) in a fresh process, without a cross-encoder reranker.", "",
            "| store | dense index | hybrid p50 / p95 | dense p50 / p95 | lexical p50 / p95 | recall@10 vs exact | index load | peak RSS | memory-mapped files | disk | load average after (1 / 5 / 15 min) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in b:
            lat = row["latency"]
            cells = " | ".join(f"{lat[m]['p50_ms']:.1f} / {lat[m]['p95_ms']:.1f} ms" for m in ("hybrid", "dense", "lexical"))
            index = {"exact": "FLAT", "hnsw": "AUTOINDEX"}[row["dense_index"]] if row["store"] == "milvus" else row["dense_index"]
            lines.append(f"| {row['store']} | {index} | {cells} | {row['recall_at_10']:.4f} | {row['load_s']:.0f} s | "
                         f"{row['peak_rss_mb']:,.0f} MB | {row['mapped_mb']:,.0f} MB | {row['disk_mb']:,.0f} MB | "
                         f"{' / '.join(str(x) for x in row.get('load', []))} |")
        lines += [
            "",
            "Peak RSS is the serving process's high-water mark (VmHWM): model, passages, documents, dense index "
            "(FAISS in the process; milvus-lite runs in it too), BM25, and the pages of the memory-mapped passage and "
            "sentence vectors it touched. Those two files (column 'memory-mapped files') are read through the OS "
            "page cache, shared by every process serving the same version. BM25 build and dense index build: "
            + ", ".join(f"{row['store']} {row['bm25_build_s']:.0f} s and {row['dense_build_s']:.0f} s" for row in b) + ".",
            "",
        ]
        for row in b:
            if row.get("ef_sweep"):
                lines += [
                    f"HNSW search breadth ({row['store']}, same questions, dense search alone, one thread):", "",
                    "| efSearch | recall@10 vs exact | mean search time |", "|---:|---:|---:|",
                    *[f"| {s['ef_search']}{' (shipped)' if s['shipped'] else ''} | {s['recall_at_10']:.4f} | {s['mean_ms']:.2f} ms |"
                      for s in row["ef_sweep"]],
                    "",
                ]
    return "\n".join(lines)


def main(args) -> int:
    from eval.studies.bench import DEFAULT_SQUAD, corpus_sources, machine, squad_questions

    squad = args.squad or DEFAULT_SQUAD
    cache = args.cache_dir or Path("var/bench/cache")
    out = args.out or Path("docs/bench")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # A part not measured by this run keeps its figures (and its own date and command) from the last report.
    previous = json.loads((out / "scale.json").read_text()) if (out / "scale.json").exists() else {}
    run = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(["verbatim", *sys.argv[1:]])}
    results: dict = {**previous, "machine": machine(), "goals": GOALS}
    with tempfile.TemporaryDirectory(prefix="verbatim-scale-", dir=args.scale_workdir) as tmp:
        if args.scale_size:
            sources = corpus_sources(squad, args.scale_size, cache)
            results["build"] = {**run, **measure_build_throughput(sources, Path(tmp), local_index=args.scale_local_index)}
        if args.scale_passages:
            base = args.scale_base or cache / "squad-recombined-100000-seed0" / "index"
            questions_file = Path(tmp) / "questions.json"
            questions_file.write_text(json.dumps(squad_questions(squad, args.scale_questions)))
            rows = measure_million(base, args.scale_passages, questions_file, Path(tmp), tuple(args.scale_stores))
            rows = [{**run, "questions": args.scale_questions, "base_index": str(base), **row} for row in rows]
            kept = [row for row in previous.get("million", {}).get("rows", []) if row["store"] not in args.scale_stores]
            results["million"] = {"rows": sorted(kept + rows, key=lambda row: row["store"])}
    print(f"[scale] {time.perf_counter() - started:.0f} s", file=sys.stderr)
    (out / "scale.json").write_text(json.dumps(results, indent=2))
    (out / "scale.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def _recall_main(argv: list[str]) -> int:
    index_dir, questions_file, store = Path(argv[0]), Path(argv[1]), argv[2]
    from index.models.embed import get_embedder

    questions = json.loads(questions_file.read_text())
    vectors = get_embedder(Settings().model).encode(questions)
    print(json.dumps(dense_recall(index_dir, vectors, store)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--recall":
        sys.exit(_recall_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        base, size, target, store, reuse = sys.argv[2:7]
        print(json.dumps(write_synthetic_version(Path(base), int(size), Path(target), store, reuse=Path(reuse) if reuse else None)))
        sys.exit(0)
    sys.exit(1)
