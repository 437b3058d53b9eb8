import json
import subprocess
import sys

import numpy as np

from app.present import answer_to_dicts
from index.search import Searcher, diversify, fuse

from conftest import cli_env

PISM = "pism-international-echoes-of-el-salvador-public-security-model.txt"
CSIS = "csis-burgeoning-regional-appeal-of-mano-dura.txt"


def test_fuse_modes():
    dense = np.array([0.9, 0.5, 0.1])
    lexical = np.array([0.0, 10.0, 5.0])
    assert list(fuse(dense, lexical, "dense", 0.5)) == [0.9, 0.5, 0.1]
    assert list(fuse(dense, lexical, "lexical", 0.5)) == [0.0, 10.0, 5.0]
    assert np.allclose(fuse(dense, lexical, "hybrid", 0.5), [0.45, 0.75, 0.3])
    assert np.allclose(fuse(dense, np.zeros(3), "hybrid", 0.5), [0.45, 0.25, 0.05])


def test_diversify_brings_in_each_close_source():
    scores = np.array([1.0, 0.95, 0.9, 0.85, 0.5])
    files = [("a",), ("a",), ("a",), ("b",), ("c",)]
    order = [0, 1, 2, 3, 4]
    # b's best (0.85) is within 0.8 of the top and joins the top 3; c's (0.5) is too far.
    assert diversify(order, scores, files, k=3, ratio=0.8) == [0, 1, 3]
    assert diversify(order, scores, files, k=5, ratio=0.8) == [0, 1, 2, 3, 4]
    assert diversify(order, scores, files, k=2, ratio=0.99) == [0, 1]
    assert diversify([], scores, files, k=3, ratio=0.8) == []


def test_search_returns_cited_passages_with_evidence(bundled_settings, embedder):
    answer = Searcher(bundled_settings, embedder).search("How many people are in prison in El Salvador?", k=5)
    assert not answer.abstained
    assert len(answer.hits) == 5
    texts = [h.passage.text for h in answer.hits[:3]]
    assert any("119,000" in t for t in texts)
    hit = next(h for h in answer.hits if "119,000" in h.passage.text)
    assert "119,000" in hit.evidence_text
    assert hit.citations[0].meta.title == "International Echoes of El Salvador's Public Security Model"
    assert hit.citations[0].meta.authors == ("Barbara Midziak", "Bartłomiej Znojek")
    assert [h.score for h in answer.hits] == sorted((h.score for h in answer.hits), reverse=True)


def test_sources_that_disagree_are_both_shown(bundled_settings, embedder):
    answer = Searcher(bundled_settings, embedder).search("How many times was the state of emergency extended?", k=5)
    files = {f for h in answer.hits for f in h.passage.files}
    assert {PISM, CSIS} <= files


def test_source_filter(bundled_settings, embedder):
    answer = Searcher(bundled_settings, embedder).search("prison population", k=3, files=[CSIS])
    assert answer.hits and all(h.passage.files == (CSIS,) for h in answer.hits)


def test_off_topic_question_abstains(bundled_settings, embedder):
    answer = Searcher(bundled_settings, embedder).search("What temperature should I bake sourdough bread at?")
    assert answer.abstained


def test_json_records_quote_the_source_exactly(bundled_settings, embedder):
    searcher = Searcher(bundled_settings, embedder)
    index = searcher.index()
    for record in answer_to_dicts(searcher.search("Who won the 2024 election in El Salvador?", k=5)):
        text = index.sources[record["source"]].text
        assert text[record["start"] : record["end"]] == record["text"]
        spans = record["evidence_spans"]
        assert spans and record["evidence"] == " ".join(record["text"][a:b] for a, b in spans)
        for place in record["sources"]:
            assert index.sources[place["source"]].text[place["start"] : place["end"]] == record["text"]


def test_cli_ask_json(bundled_settings):
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "How many prisoners does El Salvador hold?", "--json", "--k", "5"],
        capture_output=True,
        text=True,
        env=cli_env(bundled_settings),
        timeout=120,
        check=True,
    )
    results = json.loads(out.stdout)
    assert any("119,000" in r["text"] for r in results[:3])
    for field in ("text", "source", "title", "score", "evidence", "start", "end"):
        assert field in results[0]


def test_cli_reports_a_missing_index(tmp_path):
    from index.config import Settings

    settings = Settings(sources_dir=tmp_path, index_dir=tmp_path / "none")
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "anything"], capture_output=True, text=True, env=cli_env(settings), timeout=120
    )
    assert out.returncode == 1
    assert "verbatim build" in out.stderr and "Traceback" not in out.stderr


def test_a_reranked_question_asked_again_reads_nothing_twice(bundled_settings):
    """Asked again with another k, a reranked question gets what a fresh Searcher gives without the
    cross-encoder being called again; reused_ms then holds what its readings had cost."""
    question = "How many people are in prison in El Salvador?"
    searcher, fresh = Searcher(bundled_settings), Searcher(bundled_settings)
    model, calls = searcher.reranker(), []

    class Counted:  # the real cross-encoder, its calls counted
        name = model.name

        def score(self, q: str, texts: list[str]):
            calls.append(len(texts))
            return model.score(q, texts)

    searcher.reranker = Counted
    first = searcher.search(question, k=10)
    assert first.reused_ms == 0.0 and len(calls) == 2  # the head, then the top hit's sentences
    again, alone = searcher.search(question, k=5), fresh.search(question, k=5)
    assert len(calls) == 2 and again.reused_ms > 0 and alone.reused_ms == 0.0
    assert [(h.passage.id, h.score, h.evidence) for h in again.hits] == [(h.passage.id, h.score, h.evidence) for h in alone.hits]
    assert (again.abstained, again.answerability, again.signals) == (alone.abstained, alone.answerability, alone.signals)
    searcher.search("How many prisoners does El Salvador hold?", k=5)
    assert len(calls) == 4  # another question is read


def test_a_question_asked_again_in_another_mode_reuses_its_candidates(bundled_settings, indexed_copy):
    """The same question in another mode or with another k gives what a fresh search gives; its
    candidates are not searched again (reused_ms says what finding them had cost), and a rebuild
    (a new version) or another file filter finds new ones."""
    question = "How many people are in prison in El Salvador?"
    searcher, fresh = Searcher(bundled_settings), Searcher(bundled_settings)
    first = searcher.search(question, mode="dense", rerank=False)
    assert first.reused_ms == 0.0
    for mode, k in (("hybrid", 5), ("lexical", 3), ("hybrid", 8)):
        again, alone = searcher.search(question, k=k, mode=mode, rerank=False), fresh.search(question, k=k, mode=mode, rerank=False)
        fresh._recent.clear()
        assert again.reused_ms > 0 and alone.reused_ms == 0.0
        assert [(h.passage.id, h.score, h.evidence) for h in again.hits] == [(h.passage.id, h.score, h.evidence) for h in alone.hits]
    files = [first.hits[0].passage.files[0]]
    assert searcher.search(question, mode="hybrid", rerank=False, files=files).reused_ms == 0.0
    c = searcher.candidates(question)
    assert not c.dense.flags.writeable  # shared by later searches
    moved = Searcher(indexed_copy)
    moved.search(question, rerank=False)
    (indexed_copy.sources_dir / "extra.md").write_text("# Extra\n\nA harbour survey counted 212 boats in 2024.\n")
    from index.build.pipeline import build_index

    build_index(indexed_copy)
    assert moved.search(question, rerank=False).reused_ms == 0.0  # the new version is searched
