"""`verbatim bench --api`: what the Python API and metadata filters cost (issue 35), in one run.

    verbatim bench --api [--api-passages 100000] [--api-documents 1000] [--out docs/bench]

- index on disk: the index `verbatim eval --squad` builds of every paragraph of SQuAD v1.1 dev part 1,
  by part, and the model files it names (kept once per machine, outside it) (bench.measure_index_disk);
- filtered search: a synthetic index of `--api-passages` passages grown from that real index
  (bench_scale.write_synthetic_version: real texts, noisy copies of real vectors; 1,000 passages per
  document), each document given metadata (year, publisher). The same SQuAD questions are asked without a
  filter and with a narrow one (one year: 4% of the passages) and a wide one (half the years: 52%), each
  condition in its own Searcher (so no condition reuses another's work), question by question in turn (so
  load changes hit all alike), hybrid and hybrid + rerank. Figure: filtered p95 / unfiltered p95, with a
  95% bootstrap interval (questions resampled, paired);
- documents from memory: 1,000 documents of about 1 kB (recombined SQuAD sentences) indexed by
  `Collection.add` against the same texts as .txt files already in the sources folder (then the build),
  and copied in by `Collection.add_files`, each run a new collection, mirrored order (drift cancels);
  figure: memory / files seconds.

Each figure is a ratio against a baseline measured in the same run; the bare `import numpy, faiss` of
`verbatim bench` is measured too, with the machine's load.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.studies.bench import BARE_IMPORT, DEFAULT_SQUAD, machine, measure_index_disk, squad_questions
from index.config import Settings

YEARS = 25  # synthetic documents' years: 2000 + document % YEARS
PUBLISHERS = ("Harbour Press", "North Review", "City Archive", "Field Notes")
FILTERS = {
    "narrow": "year=2010",  # one year of 25: 4% of the passages
    "wide": "year>=2012",  # 13 years of 25: 52%
}
GOALS = {"filtered_p95_ratio": 1.2, "memory_vs_files_build": 1.05, "squad_index_mb": 6.0}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def bootstrap_ratio(filtered: list[float], baseline: list[float], q: float = 95, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of p_q(filtered) / p_q(baseline), questions resampled with replacement (paired)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(filtered), np.asarray(baseline)
    picks = rng.integers(0, len(a), size=(draws, len(a)))
    ratios = np.percentile(a[picks], q, axis=1) / np.percentile(b[picks], q, axis=1)
    return round(float(np.percentile(ratios, 2.5)), 3), round(float(np.percentile(ratios, 97.5)), 3)


def with_metadata(index_dir: Path) -> int:
    """Give each document of a synthetic version a year and a publisher (its manifest's checksums follow)."""
    from dataclasses import replace

    from index.storage.store import current_version_path, file_checksums, read_manifest

    version = current_version_path(index_dir)
    rows = [json.loads(line) for line in (version / "documents.jsonl").open(encoding="utf-8")]
    for number, row in enumerate(rows):
        row["metadata"] = {"year": 2000 + number % YEARS, "publisher": PUBLISHERS[number % len(PUBLISHERS)]}
    with (version / "documents.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    manifest = read_manifest(version)
    sums = {name: value for name, value in file_checksums(version).items() if name != "manifest.json"}  # as a build records them
    manifest = replace(manifest, files=sums)
    (version / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2), encoding="utf-8")
    return len(rows)


def measure_filtered(index_dir: Path, questions: list[str], encoder, rerank_questions: int) -> dict:
    """p50/p95 (fresh_ms) of each filter against no filter, hybrid and hybrid + rerank, and the ratios."""
    from index.search.filters import allowed_rows, parse_where
    from index.search.pipeline import Searcher

    settings = Settings(index_dir=index_dir, read=False)
    conditions = {"none": None, **FILTERS}
    out: dict = {"filters": FILTERS}
    probe = Searcher(settings, embedder=encoder)
    index = probe.index()
    out["passages"] = len(index.passages)
    out["dense_index"] = "hnsw" if index.dense.approximate else "exact"
    out["share_allowed"] = {name: round(float(allowed_rows(index, parse_where([w])).mean()), 3) for name, w in FILTERS.items()}
    for label, rerank, asked in (("hybrid", False, questions), ("hybrid+rerank", True, questions[:rerank_questions])):
        searchers = {name: Searcher(settings, embedder=encoder) for name in conditions}
        for name, searcher in searchers.items():  # warm: index loaded, models and filter masks made
            for question in questions[-3:]:
                searcher.search(question, rerank=rerank, where=conditions[name])
        times: dict[str, list[float]] = {name: [] for name in conditions}
        for question in asked:
            for name, searcher in searchers.items():
                times[name].append(searcher.search(question, rerank=rerank, where=conditions[name]).fresh_ms)
        row = {"questions": len(asked)}
        for name, values in times.items():
            row[name] = {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}
        for name in FILTERS:
            row[name]["p95_ratio"] = round(row[name]["p95_ms"] / row["none"]["p95_ms"], 3)
            row[name]["p95_ratio_ci95"] = bootstrap_ratio(times[name], times["none"])
        out[label] = row
    return out


def kilobyte_documents(squad: Path, count: int) -> list[tuple[str, str]]:
    """`count` documents of about 1 kB: one paragraph of seven recombined SQuAD sentences each."""
    from eval.studies.corpus_gen import recombined_documents

    return recombined_documents(squad, count, per_document=1, sentences_per_paragraph=7, seed=1)


# Each kind twice, mirrored, so a drift in the machine's load weighs on all alike.
MEMORY_RUNS = ("in_place", "memory", "add_files", "add_files", "memory", "in_place")


def measure_memory_vs_files(squad: Path, count: int, workdir: Path, embedder) -> dict:
    """Seconds to index `count` documents given as text (`Collection.add`: files and sources.toml written,
    then the build) against the same texts as .txt files: already in the sources folder, then `build`
    (`in_place`, the strict baseline), or copied in by `Collection.add_files` (`verbatim add`'s path).
    Each run a new collection."""
    from eval.studies.corpus_gen import write_documents
    from index.collection import Collection, Document

    documents = kilobyte_documents(squad, count)
    folder = workdir / "as-files"
    write_documents(documents, folder)
    docs = [Document(name.removesuffix(".txt"), text, title=name, metadata={"n": i}) for i, (name, text) in enumerate(documents)]
    runs: dict[str, list[float]] = {kind: [] for kind in MEMORY_RUNS}
    passages = {}
    for number, kind in enumerate(MEMORY_RUNS):
        target = workdir / f"collection-{number}"
        if kind == "in_place":
            shutil.copytree(folder, target / "sources")  # the files are there before the clock starts
        started = time.perf_counter()
        collection = Collection.open(target, embedder=embedder)
        if kind == "in_place":
            report = collection.build()
        elif kind == "add_files":
            collection.add_files([folder])
            report = None
        else:
            report = collection.add(docs)
        runs[kind].append(time.perf_counter() - started)
        passages[kind] = report.passages if report else len(collection.searcher.index().passages)
        shutil.rmtree(target)
    return {
        "documents": count,
        "mean_bytes": round(statistics.mean(len(t.encode("utf-8")) for _, t in documents)),
        "passages": passages,
        "runs_s": {kind: [round(s, 2) for s in values] for kind, values in runs.items()},
        "ratio_vs_in_place": round(sum(runs["memory"]) / sum(runs["in_place"]), 3),
        "ratio_vs_add_files": round(sum(runs["memory"]) / sum(runs["add_files"]), 3),
    }


def bare_import_s(runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_IMPORT], check=True, capture_output=True, timeout=120)
        times.append(round(time.perf_counter() - started, 3))
    return times


def run(squad: Path, passages: int, documents: int, questions: int, rerank_questions: int, out: Path) -> dict:
    from eval.studies.bench_scale import write_synthetic_version
    from index.models.embed import get_embedder

    started = time.perf_counter()
    results: dict = {"machine": machine(), "goals": GOALS, "uptime_at_start": _uptime()}
    settings = Settings()
    embedder = get_embedder(settings.model, settings.embed_runtime)
    embedder.encode(["warm up the model"] * 8)
    results["bare_import_s"] = bare_import_s()
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-api-") as tmp:
        work = Path(tmp)
        print("[bench --api] index on disk: SQuAD, every paragraph", file=sys.stderr, flush=True)
        results["index_disk"] = {"dataset": squad.name, **measure_index_disk(squad, work / "disk")}
        if passages:
            base = next((work / "disk").rglob("CURRENT")).parent
            print(f"[bench --api] filtered search at {passages:,} passages", file=sys.stderr, flush=True)
            target = work / f"synthetic-{passages}"
            results["synthetic"] = write_synthetic_version(base, passages, target)
            results["synthetic"]["documents"] = with_metadata(target)
            results["filtered"] = measure_filtered(target, squad_questions(squad, questions), embedder, rerank_questions)
            shutil.rmtree(target, ignore_errors=True)
        if documents:
            print(f"[bench --api] {documents:,} documents from memory vs files", file=sys.stderr, flush=True)
            results["memory_vs_files"] = measure_memory_vs_files(squad, documents, work / "memory", embedder)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    results["uptime_at_end"] = _uptime()
    out.mkdir(parents=True, exist_ok=True)
    (out / "api.json").write_text(json.dumps(results, indent=2))
    (out / "api.md").write_text(markdown(results))
    return results


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return f"load {os.getloadavg()}"


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# `verbatim bench --api`: index on disk, filtered search, documents from memory",
        "",
        f"{m['date']}; {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; Python {m['python']}, onnxruntime "
        f"{m['onnxruntime']}, faiss {m['faiss']}. Load: `{r['uptime_at_start']}` at the start, `{r['uptime_at_end']}` at the end. "
        f"Bare `{BARE_IMPORT}`: {', '.join(f'{s:.3f}' for s in r['bare_import_s'])} s. Run: {r['bench_seconds']:.0f} s.",
        "",
    ]
    d = r["index_disk"]
    lines += [
        f"## Index on disk ({d['dataset']})",
        "",
        f"{d['paragraphs']} paragraphs, {d['passages']} passages: **{d['total_mb']} MB** ({d['total_bytes']:,} bytes; target "
        f"<= {GOALS['squad_index_mb']} MB), vectors and BM25 included. The encoder it names ({d['encoder']['model']}) is kept "
        f"once per machine, outside it ({sum(d['encoder']['bytes'].values()):,} bytes).",
        "",
        "| part | bytes |",
        "| --- | --- |",
        *[f"| {part} | {size:,} |" for part, size in sorted(d["parts"].items(), key=lambda kv: -kv[1])],
        "",
    ]
    f = r.get("filtered")
    if f:
        lines += [
            f"## Filtered search at {f['passages']:,} passages ({f['dense_index']} dense index)",
            "",
            "Filters: " + "; ".join(f"{name} `{w}` ({f['share_allowed'][name]:.0%} of the passages)" for name, w in f["filters"].items())
            + ". Latency is `Answer.fresh_ms`, each condition in its own Searcher, questions in turn; the ratio's 95% interval "
            "is a paired bootstrap over the questions (target: p95 ratio <= 1.2).",
            "",
            "| pipeline | questions | no filter p50 / p95 ms | filter | p50 / p95 ms | p95 ratio (95% interval) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for label in ("hybrid", "hybrid+rerank"):
            row = f[label]
            for name in f["filters"]:
                lo, hi = row[name]["p95_ratio_ci95"]
                lines.append(
                    f"| {label} | {row['questions']} | {row['none']['p50_ms']} / {row['none']['p95_ms']} | {name} | "
                    f"{row[name]['p50_ms']} / {row[name]['p95_ms']} | **{row[name]['p95_ratio']}** ({lo}–{hi}) |"
                )
        lines.append("")
    mv = r.get("memory_vs_files")
    if mv:
        lines += [
            f"## {mv['documents']:,} documents from memory vs the same as files",
            "",
            f"Documents of {mv['mean_bytes']} bytes on average ({mv['passages']['memory']} passages); each run indexes them into a new "
            f"collection, in the order {', '.join(MEMORY_RUNS)}. Memory (`Collection.add`: files and sources.toml written, then "
            f"the build): {', '.join(map(str, mv['runs_s']['memory']))} s; the same texts as .txt files already in the sources "
            f"folder, then the build: {', '.join(map(str, mv['runs_s']['in_place']))} s; copied in by `Collection.add_files` "
            f"(`verbatim add`): {', '.join(map(str, mv['runs_s']['add_files']))} s. **Ratio memory / files in place: "
            f"{mv['ratio_vs_in_place']}**; memory / add_files: {mv['ratio_vs_add_files']} (target <= {GOALS['memory_vs_files_build']}).",
            "",
        ]
    return "\n".join(lines)


def main(args) -> int:
    squad = args.squad or DEFAULT_SQUAD
    if not squad.exists():
        print(f"error: SQuAD file {squad} not found; pass --squad", file=sys.stderr)
        return 1
    out = args.out or Path("docs/bench")
    results = run(squad, args.api_passages, args.api_documents, args.api_questions, args.api_rerank_questions, out)
    print((out / "api.md").read_text())
    print(f"report: {out / 'api.md'} ({results['bench_seconds']:.0f} s)", file=sys.stderr)
    return 0
