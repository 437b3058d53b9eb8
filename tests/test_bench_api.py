"""`verbatim bench --api` at a small size: the report has the index on disk, the filtered p95 ratios with
their intervals, and the documents-from-memory build ratio."""

from __future__ import annotations

import json

import pytest

from app.cli import main as cli_main
from eval.studies.bench import DEFAULT_SQUAD
from eval.studies.bench_api import bootstrap_ratio
from tests.conftest import ARTIFACTS


def test_bootstrap_interval_holds_the_ratio():
    base = [10.0 + i % 7 for i in range(100)]
    slower = [2 * b for b in base]
    assert bootstrap_ratio(slower, base) == (2.0, 2.0)
    low, high = bootstrap_ratio([b + (i % 3) for i, b in enumerate(base)], base)
    assert 0.9 < low <= high < 1.3


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_SQUAD.exists(), reason="../shared/benchmarks not beside the repository")
def test_api_bench_reports_size_filtered_p95_and_memory_ratio():
    out = ARTIFACTS / "bench-api"
    argv = ["bench", "--api", "--out", str(out), "--api-passages", "26000", "--api-documents", "8",
            "--api-questions", "12", "--api-rerank-questions", "4"]
    assert cli_main(argv) == 0
    results = json.loads((out / "api.json").read_text())
    disk = results["index_disk"]
    assert disk["paragraphs"] == 475 and disk["total_bytes"] <= 6_000_000
    filtered = results["filtered"]
    assert filtered["passages"] == 26000 and 0 < filtered["share_allowed"]["narrow"] < filtered["share_allowed"]["wide"] < 1
    for label in ("hybrid", "hybrid+rerank"):
        for name in ("narrow", "wide"):
            row = filtered[label][name]
            low, high = row["p95_ratio_ci95"]
            assert row["p95_ms"] > 0 and low <= high and row["p95_ratio"] > 0
    memory = results["memory_vs_files"]
    assert memory["documents"] == 8 and memory["ratio_vs_in_place"] > 0 and len(memory["runs_s"]["memory"]) == 2
    report = (out / "api.md").read_text()
    for heading in ("Index on disk", "Filtered search at 26,000 passages", "8 documents from memory"):
        assert heading in report
