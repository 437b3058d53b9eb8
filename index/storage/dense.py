"""Inner-product search over unit vectors with FAISS, keyed by stable passage ids.

Exact (flat) search below `ann_threshold` passages; HNSW graph search above it, where exact
search's cost grows linearly with the collection (measured by `verbatim bench`, README "Performance").
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from index.config import cpu_threads

# HNSW graph degree and build/search breadth. efSearch is raised to n when more than it is asked for.
# 256, not 128: at 1M passages 128 found 0.966 of the exact top 10 (docs/bench/scale.md has the sweep).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
HNSW_EF_FILTERED = 4096  # the widest a filtered graph search looks (index/search/candidates.py scores narrow filters exactly)


class DenseIndex:
    """A FAISS inner-product index whose ids are passage ids."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index
        self._inner: faiss.Index | None = None  # for searches restricted to some rows (_inner_and_ids)
        self._ids: np.ndarray | None = None
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
        self._hnsw = inner if isinstance(inner, faiss.IndexHNSW) else None
        if self._hnsw is not None:
            # The breadth is saved inside the index file; an index built before a change follows today's setting.
            self._hnsw.hnsw.efSearch = HNSW_EF_SEARCH

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def approximate(self) -> bool:
        """True when searches use the HNSW graph rather than comparing every vector."""
        return self._hnsw is not None

    @property
    def ef_search(self) -> int | None:
        """How many graph nodes an HNSW search keeps as candidates (None for exact search)."""
        return int(self._hnsw.hnsw.efSearch) if self._hnsw is not None else None

    @ef_search.setter
    def ef_search(self, breadth: int) -> None:
        if self._hnsw is None:
            raise ValueError("exact search has no search breadth")
        self._hnsw.hnsw.efSearch = int(breadth)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, ann_threshold: int | None = None) -> DenseIndex:
        """Exact search, or HNSW when there are at least `ann_threshold` vectors (None: always exact)."""
        faiss.omp_set_num_threads(cpu_threads())  # building (HNSW above all) is a batch job: every core
        dimension = vectors.shape[1]
        if ann_threshold is not None and len(ids) >= ann_threshold:
            inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            inner = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIDMap2(inner)
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        return cls(index)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        return cls(faiss.read_index(str(path)))

    def search(
        self, query: np.ndarray, n: int, allowed: np.ndarray | None = None, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the `n` nearest passages, best first; missing slots dropped.

        `allowed` (a boolean mask over passage rows, in the order they were added) restricts the search
        to those rows: FAISS skips the others while it searches (an id selector), so a filter loses no
        passage it lets through, as filtering the results afterwards would. With `exact`, an HNSW index
        compares the allowed vectors one by one instead of walking its graph (for a filter that lets few
        through: the walk would pass over most of what it meets).
        """
        if self.size == 0 or n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # One query gains nothing from OpenMP threads, whose start-up and spinning cost milliseconds
        # and steal the cores concurrent requests (and the model) need.
        faiss.omp_set_num_threads(1)
        n = min(n, self.size)
        queries = query.reshape(-1, query.shape[-1]).astype(np.float32)
        if self._hnsw is not None and n > self._hnsw.hnsw.efSearch:
            self._hnsw.hnsw.efSearch = n  # the graph search must look at least as wide as the results asked for
        if allowed is None:
            scores, ids = self._index.search(queries, n)
        else:
            scores, ids = self._search_rows(queries, n, allowed, exact)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def _inner_and_ids(self) -> tuple[faiss.Index, np.ndarray | None]:
        """The index under the id map and the passage id at each of its positions (read once)."""
        if self._inner is None:
            if isinstance(self._index, faiss.IndexIDMap):
                self._inner, self._ids = faiss.downcast_index(self._index.index), faiss.vector_to_array(self._index.id_map)
            else:
                self._inner = self._index
        return self._inner, self._ids

    def _search_rows(self, queries: np.ndarray, n: int, allowed: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """Search the inner index (whose positions are passage rows) with a bitmap of the allowed rows, then
        map positions to passage ids. A bitmap costs size/8 bytes, whatever the number of rows allowed;
        a flat scan checks it before reading a vector, so it reads only the allowed ones."""
        bitmap = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        inner, id_map = self._inner_and_ids()
        if self._hnsw is not None and exact:
            inner = faiss.downcast_index(self._hnsw.storage)  # the flat vectors under the graph, same positions
            params = faiss.SearchParameters(sel=selector)
        elif self._hnsw is not None:
            # The walk passes over passages the filter hides: it looks wider by as much as the filter narrows.
            wider = max(n, self._hnsw.hnsw.efSearch) * -(-len(allowed) // max(1, int(allowed.sum())))
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=min(wider, max(HNSW_EF_FILTERED, n)))
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, positions = inner.search(queries, n, params=params)
        ids = np.where(positions >= 0, id_map[np.maximum(positions, 0)], -1) if id_map is not None else positions
        return scores, ids
