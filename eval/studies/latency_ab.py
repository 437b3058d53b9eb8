"""Cold `verbatim ask` and web answer latency of two source trees in the same run, interleaved (issue 33: English
questions must cost what they cost before; Spanish ones are routed to the multilingual encoder).

    python -m eval.studies.latency_ab --tree main=/work/main --tree es=. [--runs 3]

Each tree builds the bundled corpus into its own index (its own code, the sources of this checkout), then `--runs`
rounds of, per tree: a bare `python -c "import numpy, faiss"`, a cold `verbatim ask --json` with an English and a
Spanish question; then per tree `verbatim serve` answering 30 gold questions and 10 Spanish ones through its API
(eval/studies/bench.py's measures). Prints JSON; docs/crosslingual.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from eval.datasets import load_gold
from eval.run import default_gold_files
from eval.studies.bench import BARE_IMPORT, _timed_process, _web_session
from eval.studies.multilingual_part import SPANISH_QUESTIONS

SOURCES = Path(__file__).resolve().parents[2] / "sources"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a source tree to time (repeat)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    work = Path(tempfile.mkdtemp(prefix="verbatim-latency-ab-"))
    envs = {}
    for name, tree in trees.items():
        env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve()), "VERBATIM_INDEX_DIR": str(work / name / "index"),
               "VERBATIM_SOURCES_DIR": str(SOURCES),
               # `python -m` puts the working folder first on sys.path, ahead of PYTHONPATH: without this every
               # tree would run the code of the folder the study was started from.
               "PYTHONSAFEPATH": "1"}
        env.pop("VERBATIM_MULTILINGUAL", None)  # each tree's default
        subprocess.run([sys.executable, "-m", "app.cli", "build", "--full"], env=env, check=True, capture_output=True)
        envs[name] = env
    english = [q.question for path in default_gold_files() for q in load_gold(path)][:30]
    out: dict = {"uptime_start": os.popen("uptime").read().strip()}
    times: dict[str, list[float]] = {f"{n}_{k}": [] for n in trees for k in ("bare", "ask_en", "ask_es")}
    for _ in range(args.runs):
        for name, env in envs.items():
            times[f"{name}_bare"].append(_timed_process([sys.executable, "-c", BARE_IMPORT], env))
            times[f"{name}_ask_en"].append(_timed_process([sys.executable, "-m", "app.cli", "ask", english[0], "--json"], env))
            times[f"{name}_ask_es"].append(_timed_process([sys.executable, "-m", "app.cli", "ask", SPANISH_QUESTIONS[0], "--json"], env))
    out |= {f"{key}_s": round(statistics.median(values), 3) for key, values in times.items()}
    for name, env in envs.items():
        for language, questions in (("en", english), ("es", SPANISH_QUESTIONS)):
            web = _web_session(env, questions, len(questions))
            out[f"{name}_web_{language}_p50_ms"], out[f"{name}_web_{language}_p95_ms"] = web["p50_ms"], web["p95_ms"]
    out["uptime_end"] = os.popen("uptime").read().strip()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
