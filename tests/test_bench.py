"""`verbatim bench --quick`: the whole benchmark at CI size produces a report with every figure."""

from __future__ import annotations

import json

import pytest

from app.cli import main as cli_main
from eval.studies.bench import DEFAULT_SQUAD, missing_figures
from tests.conftest import ARTIFACTS


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_SQUAD.exists(), reason="../shared/benchmarks not beside the repository")
def test_quick_bench_reports_every_figure(capsys):
    out = ARTIFACTS / "bench"
    assert cli_main(["bench", "--quick", "--out", str(out)]) == 0
    results = json.loads((out / "bench.json").read_text())
    assert missing_figures(results) == []
    report = (out / "bench.md").read_text()
    for heading in ("Ingestion", "Search, memory and disk", "Approximate search", "Index on disk", "Cold start"):
        assert heading in report
    for plot in ("latency_vs_passages.png", "throughput_vs_batch.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({plot})" in report
    assert results["sizes"][0]["dense_index"] == "hnsw"  # the quick plan lowers the threshold to exercise HNSW
    assert results["ingestion"][0]["passages"] == results["sizes"][0]["passages"] > 120
    disk = results["index_disk"]  # every SQuAD paragraph, as eval indexes them: the issue 35 target
    assert disk["paragraphs"] == 475 and disk["total_bytes"] <= 6_000_000 and sum(disk["parts"].values()) == disk["total_bytes"]


def test_missing_figures_names_what_is_absent():
    assert "cold_start.ask_s" in missing_figures({"ingestion": [], "sizes": []})
