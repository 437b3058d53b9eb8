"""Score the gold set under variations of search settings, side by side, through the one search path.

    python -m eval.studies.settings_study diversify_ratio=0.5,0.6,0.7,0.8,1.0
    python -m eval.studies.settings_study abstain_below=0.35,0.4,0.45 --offcorpus ../shared/benchmarks/squad-v1.1-dev-part1.json

Used to choose source diversification and similar settings that only change ranking, not the index.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from index.config import Settings
from eval.datasets import load_gold, load_squad
from eval.run import default_gold_files, score_offcorpus, score_questions
from index.build.pipeline import build_index, index_is_current
from index.models.embed import get_embedder
from index.search import Searcher

COLUMNS = ("hit@1", "hit@5", "mrr", "coverage@5", "evidence", "abstain_f1", "answered")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variation", help="SETTING=v1,v2,... (a numeric field of Settings)")
    parser.add_argument("--offcorpus", type=Path, help="SQuAD JSON: also report the share of its questions that abstain")
    parser.add_argument("--max-offcorpus", type=int, default=500)
    args = parser.parse_args(argv)
    name, _, values = args.variation.partition("=")
    kinds = {f.name: f.type for f in fields(Settings)}
    if name not in kinds:
        parser.error(f"unknown setting {name!r}")
    base = Settings()
    if not index_is_current(base):
        build_index(base)
    embedder = get_embedder(base.model)
    questions = [q for path in default_gold_files() for q in load_gold(path)]
    offcorpus = load_squad(args.offcorpus)[1][: args.max_offcorpus] if args.offcorpus else []
    header = [name, *COLUMNS] + (["offcorpus abstained"] if offcorpus else [])
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for raw in values.split(","):
        settings = base.with_overrides(**{name: type(getattr(base, name))(raw)})
        searcher = Searcher(settings, embedder)
        result = score_questions(searcher, questions, settings.mode, 10, "gold").metrics
        cells = [raw] + [f"{result.get(c, float('nan')):.3f}" for c in COLUMNS]
        if offcorpus:
            cells.append(f"{score_offcorpus(searcher, offcorpus, settings.mode).metrics['abstained']:.3f}")
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
