"""The vector-store contract, run against FAISS and Milvus (milvus-lite, a local file): add, change
and remove sources, search, version switch, full rebuild; then build, ask and eval end to end on Milvus."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from app.cli import main as cli_main
from index.config import Settings
from index.build.pipeline import build_index
from index.storage.store import IndexCorrupt, current_version_path, load_version, open_version

pytest.importorskip("pymilvus")

HARBOUR = "# Harbour Survey\n\nThe harbour survey of 2024 counted 212 fishing boats in the port of Acajutla.\n"
QUESTION = "How many people are in prison in El Salvador?"


def _all_ids(version) -> set[int]:
    ids, _ = version.dense.search(version.vectors[0], version.dense.size)
    return set(ids.tolist())


@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_store_contract(store, tmp_path, sources_copy, embedder):
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index", store=store)
    question = embedder.encode([QUESTION])[0]

    # add: the first version holds exactly its passages, and search ranks them as exact inner products do.
    build_index(settings, embedder=embedder)
    v1 = load_version(settings.index_dir, expected_store=store)
    assert v1.manifest.store == store and v1.dense.size == len(v1.passages)
    assert _all_ids(v1) == {p.id for p in v1.passages}
    ids, scores = v1.dense.search(question, 10)
    exact = v1.vectors @ question
    assert np.allclose(scores, np.sort(exact)[::-1][:10], atol=1e-5)
    assert [v1.row_of_id[int(i)] for i in ids[:3]] == list(np.argsort(-exact)[:3])

    # upsert: a new source adds its passages.
    (sources_copy / "harbour.md").write_text(HARBOUR)
    build_index(settings, embedder=embedder)
    v2 = load_version(settings.index_dir, expected_store=store)
    harbour_ids = {p.id for p in v2.passages if "harbour.md" in p.files and "212" in p.text}  # the text that changes below
    assert harbour_ids and _all_ids(v2) == {p.id for p in v2.passages}

    # delete + change: one source removed, one changed; a reader of v2 is not disturbed.
    pism = next(p for p in sources_copy.iterdir() if p.name.startswith("pism"))
    pism_ids = {p.id for p in v2.passages if p.files == (pism.name,)}
    pism.unlink()
    (sources_copy / "harbour.md").write_text(HARBOUR.replace("212", "213"))
    build_index(settings, embedder=embedder)
    v3 = load_version(settings.index_dir, expected_store=store)
    new_harbour = {p.id for p in v3.passages if "harbour.md" in p.files}
    assert _all_ids(v3) == {p.id for p in v3.passages}
    assert not (pism_ids & _all_ids(v3)) and not (harbour_ids & _all_ids(v3)) and new_harbour <= _all_ids(v3)
    assert _all_ids(v2) == {p.id for p in v2.passages}  # the old version still searches its own vectors
    if store == "milvus":
        entry = v3.manifest.vector_store
        # v3 went to the collection v1 used: only the difference from v1 was written.
        assert entry["collection"] == v1.manifest.vector_store["collection"] != v2.manifest.vector_store["collection"]
        assert entry["upserted"] == len(new_harbour) and entry["deleted"] == len(pism_ids)
        from index.storage.vector_store import milvus_client

        client = milvus_client(entry["uri"])
        assert client.describe_alias(entry["alias"])["collection_name"] == entry["collection"]

    # full rebuild: everything rewritten, same results.
    build_index(settings, embedder=embedder, full=True)
    v4 = load_version(settings.index_dir, expected_store=store)
    assert _all_ids(v4) == {p.id for p in v4.passages}
    if store == "milvus":
        assert v4.manifest.vector_store["upserted"] == len(v4.passages)

    # the wrong store is a clear error naming the fix.
    other = "faiss" if store == "milvus" else "milvus"
    with pytest.raises(IndexCorrupt, match=f"verbatim build --full --store {other}"):
        open_version(current_version_path(settings.index_dir), expected_store=other)


@pytest.mark.slow
def test_build_ask_eval_on_milvus_match_faiss(tmp_path, sources_copy, bundled_settings, capsys):
    results = {}
    for store, lexical in (("faiss", "bm25s"), ("milvus", "bm25s"), ("milvus", "milvus")):
        name = f"{store}-{lexical}"
        common = ["--sources-dir", str(sources_copy), "--index-dir", str(tmp_path / name), "--store", store, "--lexical", lexical]
        if store == "faiss":  # the reference: the session's FAISS build of the same sources
            shutil.copytree(bundled_settings.index_dir, tmp_path / name)
        else:
            assert cli_main(["build", *common]) == 0
        capsys.readouterr()
        assert cli_main(["ask", *common, "--json", QUESTION]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert any("119,000" in r["text"] for r in answer[:3])
        out = tmp_path / f"{name}.json"
        assert cli_main(["eval", *common, "--mode", "all", "--no-rerank", "--json", str(out)]) == 0
        capsys.readouterr()
        results[name] = json.loads(out.read_text())
    assert _hits(results["faiss-bm25s"]) == _hits(results["milvus-bm25s"])
    # Milvus full-text search has no vocabulary to respell a typo from (index/search/candidates.py), so a
    # question bm25s respells ("oust" -> "out") may rank otherwise: within two questions of FAISS + bm25s.
    faiss, milvus = _hits(results["faiss-bm25s"]), _hits(results["milvus-milvus"])
    questions = max(r["metrics"]["questions"] for r in results["faiss-bm25s"]["gold"].values())
    assert faiss.keys() == milvus.keys() and all(abs(faiss[k] - milvus[k]) <= 2 / questions + 1e-9 for k in faiss)


def _hits(result: dict) -> dict:
    """hit@k per dataset and retriever, rounded to the nearest question."""
    flat = {}

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, int | float) and ("hit@" in path or "mrr" in path):
            flat[path] = round(float(node), 3)

    walk(result, "")
    assert flat, "no hit@k figures found"
    return flat


def test_milvus_collection_crossing_ann_threshold_is_rewritten_then_updated_by_difference(tmp_path):
    from index.storage.vector_store import MilvusStore, StoreConfig, milvus_client

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(30, dtype=np.int64) * 13 + 5
    config = StoreConfig("milvus", str(tmp_path / "milvus.db"), ann_threshold=20)
    small = MilvusStore.write(tmp_path, ids[:10], vectors[:10], config, tmp_path, None, full=False)
    client = milvus_client(config.milvus_uri)
    assert not small["approximate"] and MilvusStore._index_type(client, small["collection"]) == "FLAT"
    # Past the threshold the same collection is recreated with an approximate index and filled whole.
    large = MilvusStore.write(tmp_path, ids[:25], vectors[:25], config, tmp_path, None, full=False)
    assert large["collection"] == small["collection"] and large["approximate"] and large["upserted"] == 25
    assert MilvusStore._index_type(client, large["collection"]) == "AUTOINDEX"
    # Then only the difference is written again.
    after = MilvusStore.write(tmp_path, ids[5:30], vectors[5:30], config, tmp_path, None, full=False)
    assert (after["upserted"], after["deleted"]) == (5, 5)
    found, scores = MilvusStore.open(after, 25).search(vectors[7], 1)
    assert found[0] == ids[7] and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_milvus_full_text_scores_as_bm25s_and_follows_updates(tmp_path, sources_copy, embedder):
    from eval.datasets import load_gold
    from index.storage.vector_store import MilvusFullText

    files = Settings(sources_dir=sources_copy, index_dir=tmp_path / "bm25s", store="milvus")
    text = files.with_overrides(index_dir=tmp_path / "fulltext", lexical="milvus")
    build_index(files, embedder=embedder)
    build_index(text, embedder=embedder)
    reference = load_version(files.index_dir)
    version = load_version(text.index_dir, expected_store="milvus", expected_lexical="milvus")
    assert isinstance(version.lexical, MilvusFullText) and version.manifest.lexical == "milvus"
    assert not (version.path / "lexical").exists()  # BM25 lives in the collection only

    rows = np.arange(len(version.passages))
    for gold in load_gold("eval/gold/bundled.jsonl"):
        ours, theirs = reference.lexical.query(gold.question), version.lexical.query(gold.question)
        assert set(theirs.top(10).tolist()) == set(ours.top(10).tolist()), gold.question
        assert np.allclose(theirs.at(rows), ours.at(rows), rtol=1e-5, atol=1e-5), gold.question
    assert version.lexical.query("the of and").top(10).size == 0  # stopwords only: no terms

    # A new source is found by its words, a removed one no more.
    (sources_copy / "harbour.md").write_text(HARBOUR)
    pism = next(p for p in sources_copy.iterdir() if p.name.startswith("pism"))
    pism.unlink()
    build_index(text, embedder=embedder)
    updated = load_version(text.index_dir, expected_lexical="milvus")
    harbour_rows = {r for r, p in enumerate(updated.passages) if "harbour.md" in p.files}
    harbour = updated.lexical.query("fishing boats counted in the Acajutla harbour survey")
    top = harbour.top(3)
    assert int(top[np.argmax(harbour.at(top))]) in harbour_rows
    pism_question = "maras Barrio 18 Mara Salvatrucha refugees civil war"
    before = version.lexical.query(pism_question)
    assert pism.name in version.passages[int(before.top(1)[0])].files
    assert all(pism.name not in updated.passages[int(r)].files for r in updated.lexical.query(pism_question).top(20))

    # The other lexical backend is a clear error naming the fix; so is --lexical milvus without Milvus.
    with pytest.raises(IndexCorrupt, match="verbatim build --full --store milvus --lexical bm25s"):
        load_version(text.index_dir, expected_lexical="bm25s")
    from index.config import ConfigError

    with pytest.raises(ConfigError, match="needs --store milvus"):
        Settings(lexical="milvus")
    assert cli_main(["build", "--sources-dir", str(sources_copy), "--index-dir", str(tmp_path / "x"), "--lexical", "milvus"]) == 2
