"""A 20 MB text file: cleaned and cut in linear time with nothing lost, and (opt-in, about 20 minutes
on 2 cores) built with progress lines and answered by `verbatim ask`.

The text is real Wikipedia sentences (SQuAD) recombined into 45,000 distinct paragraphs, with three
distinctive sentences at the start, the middle and the end.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from eval.datasets import BENCHMARKS
from index.config import Settings
from ingest.clean import clean_document
from ingest.passages import document_passages
from ingest.readers import read_document

from conftest import cli_env

SQUAD = BENCHMARKS / "squad-v1.1-dev-part1.json"
SIZE = 20_000_000
PHRASES = {
    "start": "The archive of Vessby harbour opens with the ledger of 1843, which lists 77 whalers.",
    "middle": "In the middle of the archive, the keeper noted that the quartz owl was sold for 19 florins.",
    "end": "The archive closes with the storm of 1911, when the pier at Lumme collapsed.",
}
QUESTIONS = {
    "start": "How many whalers does the ledger of 1843 list?",
    "middle": "For how much was the quartz owl sold?",
    "end": "When did the pier at Lumme collapse?",
}
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not SQUAD.exists(), reason="../shared/benchmarks not mounted")]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    from eval.studies.corpus_gen import squad_sentences

    rng = random.Random(0)
    pool = squad_sentences(SQUAD)
    parts = ["Vessby Harbour Archive\n\n" + PHRASES["start"] + "\n"]
    total = len(parts[0])
    middle_done = False
    while total < SIZE:
        paragraph = " ".join(rng.sample(pool, 3))
        if not middle_done and total >= SIZE // 2:
            paragraph, middle_done = PHRASES["middle"], True
        parts.append("\n" + paragraph + "\n")
        total += len(paragraph) + 2
    parts.append("\n" + PHRASES["end"] + "\n")
    folder = tmp_path_factory.mktemp("large") / "sources"
    folder.mkdir()
    path = folder / "archive.txt"
    path.write_text("".join(parts), encoding="utf-8")
    assert path.stat().st_size >= SIZE
    return path


def test_a_20_mb_file_is_cut_whole(big_file, embedder):
    """Linear-time cleaning and cutting (the pull-quote check was quadratic): every paragraph is in
    a passage, every passage a verbatim slice of the cleaned text."""
    doc = clean_document(read_document(big_file, big_file.parent))
    items = list(document_passages(doc, embedder.count_tokens, 250))
    assert len(doc.paragraphs) > 40_000 and len(items) >= len(doc.paragraphs) - 1
    for phrase in PHRASES.values():
        assert sum(phrase in text for text, _, _ in items) == 1
    for text, _, occurrence in items:
        assert doc.text[occurrence.start : occurrence.end] == text


@pytest.mark.skipif(not os.environ.get("VERBATIM_TEST_20MB_BUILD"), reason="about 20 minutes: set VERBATIM_TEST_20MB_BUILD=1")
def test_a_20_mb_file_builds_with_progress_and_answers(big_file, tmp_path):
    settings = Settings(sources_dir=big_file.parent, index_dir=tmp_path / "index")
    run = subprocess.run([sys.executable, "-m", "app.cli", "build"], env=cli_env(settings), capture_output=True, text=True, timeout=7200)
    assert run.returncode == 0, run.stderr[-2000:]
    embedding = [line for line in run.stderr.splitlines() if line.startswith("embedding: ")]
    assert len(embedding) >= 10 and "ETA" in embedding[len(embedding) // 2]
    for key, question in QUESTIONS.items():
        ask = subprocess.run(
            [sys.executable, "-m", "app.cli", "ask", question, "--json"], env=cli_env(settings), capture_output=True, text=True, timeout=600
        )
        assert ask.returncode == 0, ask.stderr
        assert any(PHRASES[key] in r["text"] for r in json.loads(ask.stdout)), (key, ask.stdout[:500])
