"""`verbatim bench --scale` part (b) at a small size: a collection grown from the bundled index is
written, served by a fresh process and its dense recall measured, through the same subprocesses as
the million-passage run (a stale import there once cost a ten-minute run its result)."""

from __future__ import annotations

import json

import pytest

from eval.studies.bench_scale import measure_million

pytestmark = pytest.mark.slow


def test_a_grown_collection_is_written_served_and_its_recall_measured(bundled_settings, tmp_path):
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(["How many prisoners does El Salvador hold?", "What is CECOT?", "Who is Nayib Bukele?"]))
    (row,) = measure_million(bundled_settings.index_dir, 1500, questions, tmp_path, ("faiss",))
    assert row["store"] == "faiss" and row["passages"] == 1500
    assert 0.0 < row["recall_at_10"] <= 1.0  # exact search below the ANN threshold: every neighbour found
    assert all(row["latency"][m]["p95_ms"] > 0 for m in ("hybrid", "dense", "lexical"))
    assert row["peak_rss_mb"] > 0 and row["disk_mb"] > 0 and row["base_passages"] < 1500
