"""The reader's study before its long run: data mixes at one small fixed budget, and a learning curve.

    python -m eval.studies.reader_study run        # every run below (resumable; about 70 min on 2 cores)
    python -m eval.studies.reader_study table      # the Markdown table of docs/reader.md

Each run is `python -m eval.studies.train_reader` with its own flags, its checkpoints and int8 model in
~/.cache/verbatim/train/study/NAME/ (outside the work tree, so a later session resumes or re-tabulates),
two at a time on one thread each (a step on one thread costs 1.65x one on two: two runs side by side
finish sooner). The figures are the closed-task held-out ones of the model card, on a fixed sample of
each set (the same questions for every run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eval.studies.train_reader import TRAIN_CACHE

STUDY = TRAIN_CACHE / "study"
BUDGET = ["--steps", "160"]  # 2,560 windows: the mixes' fixed budget
# The study's runs trained on all four SQuAD 2.0 training articles (the shipped reader leaves two out for calibration).
COMMON = ["--no-reserve-calibration"]
FIGURES = ["--figures-sample", "600"]
RUNS: dict[str, tuple[str, list[str]]] = {
    # name: (what it tests, flags)
    "mix-none": ("mix: SQuAD 2.0 unanswerables only (no built negatives)", [*BUDGET, "--no-other", "--no-perturbed"]),
    "mix-other33": ("mix: + other-paragraph negatives, 33 %", [*BUDGET, "--no-perturbed", "--negative-share", "0.33"]),
    "mix-both33": ("mix: + other-paragraph and perturbed negatives, 33 %", [*BUDGET, "--negative-share", "0.33"]),
    "mix-both50": ("mix: + other-paragraph and perturbed negatives, 50 %", [*BUDGET, "--negative-share", "0.5"]),
    "curve-750": ("curve: 750 questions, 1 epoch", ["--sample", "750", "--epochs", "1"]),
    "curve-1500": ("curve: 1,500 questions, 1 epoch", ["--sample", "1500", "--epochs", "1"]),
    "curve-3000": ("curve: 3,000 questions, 1 epoch", ["--sample", "3000", "--epochs", "1"]),
}
ORDER = ["curve-3000", "mix-both33", "mix-both50", "mix-other33", "mix-none", "curve-1500", "curve-750"]  # longest first


def run_one(name: str, extra: list[str] | None = None) -> Path:
    """Train and measure one run (resuming its checkpoint); the folder of its model and reader.json."""
    folder = STUDY / name
    out = folder / "out"
    if (out / "reader.json").is_file() and json.loads((out / "reader.json").read_text()).get("held_out"):
        return out
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "eval.studies.train_reader", *COMMON, *RUNS[name][1], *FIGURES, *(extra or []),
               "--threads", "1", "--out", str(out), "--work", str(folder / "work")]
    started = time.perf_counter()
    with open(folder / "log.txt", "a", encoding="utf-8") as log:
        subprocess.run(command, check=True, stdout=log, stderr=log, env={"TOKENIZERS_PARALLELISM": "false", **_env()})
    print(f"{name}: {(time.perf_counter() - started) / 60:.1f} min", file=sys.stderr, flush=True)
    return out


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def table() -> str:
    """The study's figures as a Markdown table (runs not finished yet are left out)."""
    rows = ["| run | data | examples (negatives) | steps | train min | v1.1 EM / F1 | SQuAD 2.0 no-answer AUC (margin / has) | new_wiki F1 | reddit F1 | amazon F1 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in RUNS:
        card = STUDY / name / "out" / "reader.json"
        if not card.is_file():
            continue
        c = json.loads(card.read_text())
        t, f = c["trained"], c["held_out"]
        if not f:
            continue
        negatives = t["kinds"]["squad2"] + t["kinds"]["other"] + t["kinds"]["perturbed"] + t["kinds"].get("contrary", 0)
        rows.append(
            f"| {name} | {RUNS[name][0]} | {t['examples']:,} ({negatives:,}) | {t['steps']} | {t['minutes']} | "
            f"{f['v1_span_em']:.3f} / {f['v1_span_f1']:.3f} | {f['v2_margin_auc']:.3f} / {f['v2_has_answer_auc']:.3f} | "
            f"{f['new_wiki_span_f1']:.3f} | {f['reddit_span_f1']:.3f} | {f['amazon_reviews_span_f1']:.3f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.reader_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("run", "table"))
    parser.add_argument("--only", nargs="*", default=None, help="these runs only")
    args = parser.parse_args(argv)
    if args.what == "run":
        names = [n for n in ORDER if not args.only or n in args.only]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(run_one, names))
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
