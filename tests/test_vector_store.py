"""The vector-store contract, run against FAISS and Milvus (milvus-lite, a local file): add, change
and remove sources, search, version switch, full rebuild; then build, ask and eval end to end on Milvus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main as cli_main
from app.config import Settings
from index.build import build_index
from index.store import IndexCorrupt, current_version_path, load_version, open_version

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
    harbour_ids = {p.id for p in v2.passages if "harbour.md" in p.files}
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
        from index.vector_store import milvus_client

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
def test_build_ask_eval_on_milvus_match_faiss(tmp_path, sources_copy, capsys):
    results = {}
    for store in ("faiss", "milvus"):
        common = ["--sources-dir", str(sources_copy), "--index-dir", str(tmp_path / store), "--store", store]
        assert cli_main(["build", *common]) == 0
        capsys.readouterr()
        assert cli_main(["ask", *common, "--json", QUESTION]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert any("119,000" in r["text"] for r in answer[:3])
        out = tmp_path / f"{store}.json"
        assert cli_main(["eval", *common, "--mode", "all", "--json", str(out)]) == 0
        capsys.readouterr()
        results[store] = json.loads(out.read_text())
    assert _hits(results["faiss"]) == _hits(results["milvus"])


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
    from index.vector_store import MilvusStore, StoreConfig, milvus_client

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
