"""How much cheaper is adding one document than rebuilding? Both measured in this one run.

    python -m eval.studies.bench_incremental --squad ../shared/benchmarks/squad-v1.1-dev-part1.json --passages 10000

Builds an index of about N passages of recombined SQuAD text from scratch (timed), then adds one
document of 100 paragraphs and builds incrementally (timed), and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from index.config import Settings
from eval.studies.corpus_gen import recombined_documents, write_documents
from index.build.pipeline import build_index
from index.models.embed import get_embedder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = Settings()
    embedder = get_embedder(settings.model)
    documents = recombined_documents(args.squad, args.passages + 100, seed=1)
    base, extra = documents[:-1], documents[-1:]
    with tempfile.TemporaryDirectory(prefix="verbatim-incremental-") as tmp:
        sources = Path(tmp) / "sources"
        write_documents(base, sources)
        settings = settings.with_overrides(sources_dir=sources, index_dir=Path(tmp) / "index")
        started = time.perf_counter()
        full = build_index(settings, embedder=embedder, full=True, progress=sys.stderr.isatty())
        full_seconds = time.perf_counter() - started
        write_documents(extra, sources)
        started = time.perf_counter()
        incremental = build_index(settings, embedder=embedder, progress=sys.stderr.isatty())
        incremental_seconds = time.perf_counter() - started
    result = {
        "passages_before": full.passages,
        "passages_after": incremental.passages,
        "embedded_incremental": incremental.embedded,
        "full_build_s": round(full_seconds, 2),
        "add_one_document_s": round(incremental_seconds, 2),
        "ratio": round(incremental_seconds / full_seconds, 4),
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
