"""The multilingual part of an index (index/storage/multilingual.py): how its vectors are stored, what it costs.

    python -m eval.studies.multilingual_part [--out var/studies/multilingual_part.json]

- codec: XQuAD-es (406 Spanish questions over the English paragraphs of 15 articles, paired by id) through the
  one search path with the vectors stored as fp32, fp16 and 8-bit scalar quantization: hit@1, hit@5, the part's
  bytes on disk;
- cost: SQuAD v1.1 part 1 (the 12 articles' paragraphs) built with and without the part: bytes on disk and build
  seconds (the ratio; both builds in the same run, one after the other, every passage embedded);
- latency: on the bundled corpus (index with the part), a cold `verbatim ask` for an English and a Spanish question
  beside a bare `python -c "import numpy, faiss"` in the same run (eval/studies/bench.py's measure), and the served
  app's answer p50 / p95 over English (gold) and Spanish questions;
- off-corpus floor: the first passage's multilingual cosine for XQuAD-es's questions asked of the bundled corpus
  (none answered there) and for 10 Spanish questions about it, and the share each floor abstains on / answers;
- abstention floor: the multilingual cosine of the first passage for the answerable and the unanswerable
  SQuAD-es questions asked of SQuAD 2.0 part 1's English paragraphs, and the floor that maximizes abstention F1
  while answering >= 0.85 of the answerable ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from eval.datasets import BENCHMARKS, load_paired_squad, load_squad, load_translated_squad, with_source_files
from eval.metrics import abstention_scores
from eval.run import score_questions, temporary_index
from eval.studies.common import SQUAD, STUDIES_DIR
from index.config import MULTILINGUAL_CODECS, Settings
from index.search import Searcher

XQUAD = BENCHMARKS / "xquad-es"
SQUAD_ES = BENCHMARKS / "squad-es" / "squad-es-v2.0-dev.shared.json"
SQUAD2 = BENCHMARKS / "squad-v2.0-dev-part1.json"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def codecs(workdir: Path) -> dict:
    """hit@1 / hit@5 of XQuAD-es and the multilingual part's bytes, per codec."""
    documents, questions = load_paired_squad(XQUAD / "xquad.en.shared.json", XQUAD / "xquad.es.shared.json")
    out = {}
    for codec in MULTILINGUAL_CODECS:
        folder = workdir / f"xquad-{codec}"
        shutil.rmtree(folder, ignore_errors=True)
        settings, doc_of_file = temporary_index(documents, Settings(multilingual=True, multilingual_codec=codec), folder)
        asked = with_source_files(questions, {v: k for k, v in doc_of_file.items()})
        r = score_questions(Searcher(settings), asked, "hybrid+rerank", 10, "xquad-es")
        version = next(settings.index_dir.glob("v-*"))
        out[codec] = {
            "hit@1": round(r.metrics["hit@1"], 4), "hit@5": round(r.metrics["hit@5"], 4),
            "part_bytes": folder_bytes(version / "multilingual"), "index_bytes": folder_bytes(version),
        }
        print(f"codec {codec}: {out[codec]}", file=sys.stderr, flush=True)
    return out


def cost(workdir: Path) -> dict:
    """SQuAD part 1 with and without the multilingual part: bytes and build seconds."""
    documents, _ = load_squad(SQUAD)
    out = {}
    for multilingual in (False, True):
        folder = workdir / f"squad-{'with' if multilingual else 'without'}"
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        settings, _ = temporary_index(documents, Settings(multilingual=multilingual), folder)
        seconds = time.perf_counter() - started
        version = next(settings.index_dir.glob("v-*"))
        out["with" if multilingual else "without"] = {"index_bytes": folder_bytes(version), "build_seconds": round(seconds, 1)}
        print(f"squad part 1, multilingual={multilingual}: {out['with' if multilingual else 'without']}", file=sys.stderr, flush=True)
    out["build_ratio"] = round(out["with"]["build_seconds"] / out["without"]["build_seconds"], 2)
    return out


def abstention_floor(workdir: Path) -> dict:
    """The first passage's multilingual cosine, answerable against unanswerable SQuAD-es questions; the best floor."""
    documents, questions = load_translated_squad(SQUAD2, SQUAD_ES)
    folder = workdir / "squad2"
    shutil.rmtree(folder, ignore_errors=True)
    settings, _ = temporary_index(documents, Settings(multilingual=True, read=False), folder)
    searcher = Searcher(settings.with_overrides(multilingual_abstain_below=-1.0))
    tops, answerable = [], []
    for q in questions:
        answer = searcher.search(q.question, k=5)
        if answer.route != "multilingual":
            continue
        tops.append(answer.hits[0].score if answer.hits else 0.0)
        answerable.append(q.answerable)
    tops_a, answerable_a = np.array(tops), np.array(answerable)
    best = {"floor": None, "abstain_f1": 0.0, "answered": 1.0}
    for floor in np.round(np.arange(0.70, 0.95, 0.0025), 4):
        abstain = tops_a < floor
        answered = float((~abstain[answerable_a]).mean())
        f1 = abstention_scores(list(abstain), list(~answerable_a)).f1
        if answered >= 0.85 and f1 > best["abstain_f1"]:
            best = {"floor": float(floor), "abstain_f1": round(f1, 4), "answered": round(answered, 4)}
    return {
        "questions": len(tops), "unanswerable": int((~answerable_a).sum()),
        "answerable_top_mean": round(float(tops_a[answerable_a].mean()), 4),
        "unanswerable_top_mean": round(float(tops_a[~answerable_a].mean()), 4),
        "best": best,
    }


SPANISH_QUESTIONS = [
    "¿Cuántos presos hay en El Salvador?", "¿Cuándo abrió el CECOT?", "¿Cuántas veces se prorrogó el régimen de excepción?",
    "¿Quién es Nayib Bukele?", "¿Qué países copian el modelo de seguridad de El Salvador?", "¿Cuánto costó el Plan Control Territorial?",
    "¿Cuál es la tasa de encarcelamiento de El Salvador?", "¿Qué dijo Beatriz Magaloni sobre las detenciones?",
    "¿Cuántas personas puede albergar el CECOT?", "¿Qué pasó con las pandillas en El Salvador?",
]


def latency(workdir: Path, runs: int = 3) -> dict:
    """Cold `verbatim ask` (English, Spanish) against a bare import, and web answer p50/p95 for both languages."""
    import statistics

    from eval.run import default_gold_files
    from eval.datasets import load_gold
    from eval.studies.bench import BARE_IMPORT, _timed_process, _web_session
    from index.build.pipeline import build_index

    sources = Path(__file__).resolve().parents[2] / "sources"
    settings = Settings(sources_dir=sources, index_dir=workdir / "bundled" / "index", multilingual=True)
    build_index(settings, full=True)
    env = {**os.environ, "VERBATIM_INDEX_DIR": str(settings.index_dir), "VERBATIM_SOURCES_DIR": str(sources)}
    english = [q.question for path in default_gold_files() for q in load_gold(path)]
    out: dict = {}
    bare = [_timed_process([sys.executable, "-c", BARE_IMPORT], env) for _ in range(runs)]
    for name, question in (("english", english[0]), ("spanish", SPANISH_QUESTIONS[0])):
        asks = [_timed_process([sys.executable, "-m", "app.cli", "ask", question, "--json"], env) for _ in range(runs)]
        out[f"ask_{name}_s"] = round(statistics.median(asks), 2)
    out["bare_import_s"] = round(statistics.median(bare), 3)
    for name in ("english", "spanish"):
        out[f"ask_{name}_vs_bare"] = round(out[f"ask_{name}_s"] / out["bare_import_s"], 1)
    for name, questions in (("english", english[:30]), ("spanish", SPANISH_QUESTIONS)):
        web = _web_session(env, questions, len(questions))
        out[f"web_{name}_p50_ms"], out[f"web_{name}_p95_ms"] = web["p50_ms"], web["p95_ms"]
    print(f"latency: {out}", file=sys.stderr, flush=True)
    return out


def offcorpus_floor(workdir: Path) -> dict:
    """XQuAD-es questions asked of the bundled corpus (off-corpus) against SPANISH_QUESTIONS, by floor."""
    from index.build.pipeline import build_index

    sources = Path(__file__).resolve().parents[2] / "sources"
    settings = Settings(sources_dir=sources, index_dir=workdir / "bundled" / "index", multilingual=True, read=False)
    build_index(settings, full=True)
    searcher = Searcher(settings.with_overrides(multilingual_abstain_below=-1.0))
    _, asked = load_squad(XQUAD / "xquad.es.shared.json")
    off = np.array([searcher.search(q.question).hits[0].score for q in asked])
    on = np.array([searcher.search(q).hits[0].score for q in SPANISH_QUESTIONS])
    out = {"offcorpus": len(off), "offcorpus_top_p50": round(float(np.median(off)), 4), "offcorpus_top_max": round(float(off.max()), 4),
           "bundled_top": [round(float(x), 4) for x in on]}
    for floor in (0.76, 0.77, 0.78, 0.79, 0.80):
        out[f"floor {floor}"] = {"offcorpus_abstained": round(float((off < floor).mean()), 3), "bundled_answered": int((on >= floor).sum())}
    print(f"offcorpus: {out}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STUDIES_DIR / "multilingual_part.json")
    parser.add_argument("--parts", nargs="+", default=["codecs", "cost", "floor"], choices=["codecs", "cost", "floor", "offcorpus", "latency"])
    args = parser.parse_args()
    workdir = STUDIES_DIR / "multilingual_part"
    workdir.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    run = {"codecs": codecs, "cost": cost, "floor": abstention_floor, "offcorpus": offcorpus_floor, "latency": latency}
    for part in args.parts:
        results[part] = run[part](workdir)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
