"""Exact and approximate (HNSW) dense search: chosen by size, ids kept, recall close to exact."""

from __future__ import annotations

import numpy as np
import pytest

from index.storage.dense import DenseIndex
from index.storage.store import load_version


def test_hnsw_past_the_threshold_keeps_ids_and_recall(bundled_settings, tmp_path):
    live = load_version(bundled_settings.index_dir)
    vectors = live.sentence_matrix.astype(np.float32)  # real model vectors: every sentence of the corpus
    ids = np.arange(len(vectors), dtype=np.int64) * 1_000_003 + 17  # sparse 64-bit ids, like passage ids
    exact = DenseIndex.build(vectors, ids, ann_threshold=len(vectors) + 1)
    approx = DenseIndex.build(vectors, ids, ann_threshold=len(vectors))
    assert not exact.approximate and approx.approximate
    approx.save(tmp_path / "dense.faiss")
    approx = DenseIndex.load(tmp_path / "dense.faiss")
    assert approx.approximate and approx.size == len(vectors)

    queries = live.vectors  # passage vectors as questions
    hits = 0
    for query in queries:
        want, want_scores = exact.search(query, 10)
        got, got_scores = approx.search(query, 10)
        assert set(got) <= set(ids.tolist())
        hits += len(set(got.tolist()) & set(want.tolist()))
        assert np.allclose(got_scores[: len(got)], np.sort(got_scores)[::-1], atol=1e-6)  # best first
    recall = hits / (10 * len(queries))
    assert recall >= 0.98, recall
    # Asking for more than efSearch widens the search instead of returning fewer results.
    assert len(approx.search(queries[0], 300)[0]) == 300


def test_search_breadth_follows_the_setting_after_a_reload(bundled_settings, tmp_path):
    import faiss

    from index.storage.dense import HNSW_EF_SEARCH

    vectors = load_version(bundled_settings.index_dir).sentence_matrix.astype(np.float32)
    ids = np.arange(len(vectors), dtype=np.int64)
    approx = DenseIndex.build(vectors, ids, ann_threshold=1)
    assert approx.ef_search == HNSW_EF_SEARCH
    approx.ef_search = 16  # an index saved with another breadth (an older build) ...
    approx.save(tmp_path / "dense.faiss")
    assert faiss.downcast_index(faiss.read_index(str(tmp_path / "dense.faiss")).index).hnsw.efSearch == 16
    assert DenseIndex.load(tmp_path / "dense.faiss").ef_search == HNSW_EF_SEARCH  # ... searches with today's
    exact = DenseIndex.build(vectors, ids)
    assert exact.ef_search is None
    with pytest.raises(ValueError):
        exact.ef_search = 64
