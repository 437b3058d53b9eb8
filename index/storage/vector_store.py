"""Where a version's passage vectors are searched: FAISS files in the version (default) or Milvus.

Everything else of a version (passages, sentence vectors, BM25, documents) stays in the version
directory either way, so search, evidence, the app and eval do not know which store answers.

FAISS: `dense.faiss` inside the version directory; the version switch is the CURRENT pointer.

Milvus (`pymilvus.MilvusClient`; a file URI runs milvus-lite in-process, an http(s) URI a server or
cluster): two collections per index, used in turn ("blue/green"), and an alias naming the live one.
A build brings the idle collection, which holds the version before the live one, up to the new
version by upserting the passages it lacks and deleting those it no longer has: only changed
sources' passages are written. Readers of the live version keep reading the other collection;
the alias is switched after CURRENT, and the next build reuses the collection this one left.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from index.config import STORES, ConfigError
from index.storage.dense import DenseIndex
from index.storage.lexical import terms_text

TOKEN_ENV = "VERBATIM_MILVUS_TOKEN"
_BATCH = 2000  # rows per insert/upsert call: well under Milvus's message size limit at 384 dimensions
TERMS_FIELD, SPARSE_FIELD = "terms", "sparse"
BM25_K1, BM25_B = 1.5, 0.75  # bm25s's defaults, so both lexical backends score alike


class StoreUnavailable(RuntimeError):
    """The store holding a version's vectors cannot be reached or lacks them."""


class VectorStore(Protocol):
    """The dense side of one index version."""

    size: int
    approximate: bool

    def search(self, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, inner products) of the `n` nearest passages, best first; only the `allowed` rows
        (a boolean mask over the version's passage rows) when given."""
        ...


@dataclass(frozen=True)
class StoreConfig:
    """Which store a build writes to and a search reads from."""

    kind: str = "faiss"
    milvus_uri: str = ""
    ann_threshold: int | None = None
    full_text: bool = False  # BM25 in the Milvus collection too (--lexical milvus)

    def __post_init__(self) -> None:
        if self.kind not in STORES:
            raise ValueError(f"unknown store {self.kind!r}; choose one of {', '.join(STORES)}")
        if self.full_text and self.kind != "milvus":
            raise ValueError("--lexical milvus needs --store milvus: full-text search runs in the Milvus collection")


# ---------------------------------------------------------------- FAISS


class FaissStore:
    """Vectors in `dense.faiss` inside the version directory."""

    FILE = "dense.faiss"

    @staticmethod
    def write(version_dir: Path, ids: np.ndarray, vectors: np.ndarray, config: StoreConfig) -> dict:
        DenseIndex.build(vectors, ids, config.ann_threshold).save(version_dir / FaissStore.FILE)
        return {"kind": "faiss", "file": FaissStore.FILE}

    @staticmethod
    def open(version_dir: Path, entry: dict) -> DenseIndex:
        return DenseIndex.load(version_dir / entry.get("file", FaissStore.FILE))


# ---------------------------------------------------------------- Milvus


MILVUS_EXTRA = "pip install 'verbatim[milvus]' (in a checkout: pip install -e '.[milvus]')"


def _require_milvus_packages(uri: str) -> None:
    """Stop with what to install when --store milvus is asked for without the optional `milvus` extra.

    pymilvus (and milvus-lite for a file URI) are imported only here, when a Milvus store is used:
    the default FAISS store, and `make serve`, need neither."""
    needed = ["pymilvus"] if uri.startswith(("http://", "https://")) else ["pymilvus", "milvus_lite"]
    for module in needed:
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"--store milvus needs the {module.replace('_', '-')} package, which is not installed: {MILVUS_EXTRA}")


@lru_cache(maxsize=8)
def milvus_client(uri: str):
    """One client per URI per process (milvus-lite starts its engine once per file)."""
    _require_milvus_packages(uri)
    from pymilvus import MilvusClient

    token = os.environ.get(TOKEN_ENV, "")
    return MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)


def collection_names(index_dir: Path) -> tuple[str, str, str]:
    """(collection a, collection b, live alias) for one index directory: several indexes can share a server."""
    tag = hashlib.blake2b(str(Path(index_dir).resolve()).encode(), digest_size=5).hexdigest()
    return f"verbatim_{tag}_a", f"verbatim_{tag}_b", f"verbatim_{tag}_live"


def id_filter(ids: np.ndarray) -> str:
    """A Milvus scalar filter expression letting through the passages of `ids`.

    Milvus filters on the primary key, not on document metadata stored per passage: a passage shared by
    several sources would need all their metadata, and a metadata edit would rewrite every passage of
    the source. The version's documents (documents.jsonl) hold the metadata; the filter becomes ids.
    """
    return f"id in [{','.join(str(int(i)) for i in ids)}]"


class MilvusVectors:
    """Search one Milvus collection holding a version's vectors."""

    def __init__(self, client, collection: str, size: int, approximate: bool, ids: np.ndarray | None = None) -> None:
        self._client, self._collection = client, collection
        self.size, self.approximate = size, approximate
        self._ids = ids  # passage id of each row, for filters

    def search(self, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = min(n, self.size, 16384)  # Milvus's largest limit
        if n <= 0 or (allowed is not None and not allowed.any()):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if allowed is not None and self._ids is None:
            raise StoreUnavailable("this Milvus store was opened without its passage ids; a filtered search needs them")
        hits = self._client.search(
            self._collection,
            data=[np.asarray(query, dtype=np.float32).ravel().tolist()],
            anns_field="vector",
            limit=n,
            filter=id_filter(self._ids[allowed]) if allowed is not None else "",
            search_params={"metric_type": "IP"},
        )[0]
        ids = np.array([h["id"] for h in hits], dtype=np.int64)
        scores = np.array([h["distance"] for h in hits], dtype=np.float32)
        return ids, scores


def _require_full_text(client, uri: str) -> None:
    """Refuse, before anything is written, a Milvus server too old for BM25 functions (they came in 2.5)."""
    version = str(client.get_server_version())
    found = re.match(r"v?(\d+)\.(\d+)", version)  # "v2.3.5-lite" from a server; milvus-lite says "milvus_lite-3.2.2"
    if found and (int(found[1]), int(found[2])) < (2, 5):
        raise ConfigError(
            f"the Milvus server at {uri} is version {version}, which has no BM25 full-text search (Milvus 2.5 "
            "or later has); use --lexical bm25s to keep BM25 in the index files, or a newer server"
        )


def preflight(config: StoreConfig) -> None:
    """What a build can check of its store before reading a file: a full-text build needs BM25 functions."""
    if config.kind == "milvus" and config.full_text:
        _require_full_text(milvus_client(config.milvus_uri), config.milvus_uri)


class MilvusStore:
    """Two collections used in turn, updated by difference, and a live alias."""

    @staticmethod
    def _ids_in(client, collection: str) -> set[int]:
        ids: set[int] = set()
        iterator = client.query_iterator(collection, batch_size=10_000, filter="id >= 0 or id < 0", output_fields=["id"])
        while batch := iterator.next():
            ids.update(int(row["id"]) for row in batch)
        iterator.close()
        return ids

    @staticmethod
    def _create(client, collection: str, dimension: int, approximate: bool, full_text: bool) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type="AUTOINDEX" if approximate else "FLAT", metric_type="IP")
        if full_text:
            # The text stored is Verbatim's own BM25 terms (stemmed, stopwords removed, space-joined), so
            # Milvus's whitespace-level analyzer sees exactly the tokens bm25s does, on any server version
            # (milvus-lite 3.2.2 accepts stemmer and stop filters but does not apply them).
            schema.add_field(TERMS_FIELD, DataType.VARCHAR, max_length=65_535, enable_analyzer=True)
            schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(name="bm25", function_type=FunctionType.BM25, input_field_names=[TERMS_FIELD], output_field_names=[SPARSE_FIELD])
            )
            params.add_index(
                field_name=SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                params={"bm25_k1": BM25_K1, "bm25_b": BM25_B},
            )
        client.create_collection(collection, schema=schema, index_params=params)

    @staticmethod
    def _has_full_text(client, collection: str) -> bool:
        return any(f["name"] == SPARSE_FIELD for f in client.describe_collection(collection)["fields"])

    @staticmethod
    def write(
        version_dir: Path,
        ids: np.ndarray,
        vectors: np.ndarray,
        config: StoreConfig,
        index_dir: Path,
        live: dict | None,
        full: bool,
        texts: list[str] | None = None,
    ) -> dict:
        """Bring the collection the live version does not use up to `ids`/`vectors`; returns the manifest entry.

        With `config.full_text`, the BM25 terms of the passages written (from `texts`) are stored for Milvus's BM25.
        """
        if config.full_text and (texts is None or len(texts) != len(ids)):
            raise ValueError("a full-text Milvus collection needs the text of every passage")
        client = milvus_client(config.milvus_uri)
        if config.full_text:
            _require_full_text(client, config.milvus_uri)
        first, second, alias = collection_names(index_dir)
        live_collection = (live or {}).get("collection")
        target = second if live_collection == first else first
        approximate = config.ann_threshold is not None and len(ids) >= config.ann_threshold
        # The index type is fixed when a collection is created: one that crossed ann_threshold is rewritten.
        index_type = "AUTOINDEX" if approximate else "FLAT"
        if client.has_collection(target) and (
            full
            or MilvusStore._index_type(client, target) != index_type
            or MilvusStore._has_full_text(client, target) != config.full_text
        ):
            client.drop_collection(target)
        if not client.has_collection(target):
            MilvusStore._create(client, target, vectors.shape[1], approximate, config.full_text)
        present = MilvusStore._ids_in(client, target)
        wanted = {int(i): row for row, i in enumerate(ids.tolist())}
        stale = sorted(present - wanted.keys())
        missing = [row for i, row in wanted.items() if i not in present]
        for start in range(0, len(stale), _BATCH):
            client.delete(target, ids=stale[start : start + _BATCH])
        for start in range(0, len(missing), _BATCH):
            rows = missing[start : start + _BATCH]
            records = [{"id": int(ids[r]), "vector": vectors[r].tolist()} for r in rows]
            if config.full_text:
                for record, r in zip(records, rows, strict=True):
                    record[TERMS_FIELD] = terms_text(texts[r])
            client.upsert(target, records)
        client.flush(target)
        client.load_collection(target)
        count = MilvusStore.count(client, target)
        if count != len(ids):
            raise RuntimeError(f"Milvus collection {target} holds {count} vectors, expected {len(ids)}")
        return {
            "kind": "milvus",
            "uri": config.milvus_uri,
            "collection": target,
            "alias": alias,
            "approximate": approximate,
            "full_text": config.full_text,
            "upserted": len(missing),
            "deleted": len(stale),
        }

    @staticmethod
    def _index_type(client, collection: str) -> str:
        return str(client.describe_index(collection, index_name="vector").get("index_type", ""))

    @staticmethod
    def count(client, collection: str) -> int:
        return int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])

    @staticmethod
    def publish(entry: dict) -> None:
        """Point the alias at the collection of the version that just went live (for other readers)."""
        client = milvus_client(entry["uri"])
        alias, collection = entry["alias"], entry["collection"]
        if alias in client.list_aliases().get("aliases", []):
            client.alter_alias(collection, alias)
        else:
            client.create_alias(collection, alias)

    @staticmethod
    def client_for(entry: dict):
        """The loaded client of a version's collection; StoreUnavailable when it cannot be used."""
        try:
            client = milvus_client(entry["uri"])
            if not client.has_collection(entry["collection"]):
                raise StoreUnavailable(f"Milvus collection {entry['collection']} is missing at {entry['uri']}")
            client.load_collection(entry["collection"])
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - pymilvus raises its own types for unreachable servers
            raise StoreUnavailable(f"Milvus at {entry.get('uri')} cannot be used ({exc})") from exc
        return client

    @staticmethod
    def open(entry: dict, size: int, ids: np.ndarray | None = None) -> MilvusVectors:
        return MilvusVectors(MilvusStore.client_for(entry), entry["collection"], size, bool(entry.get("approximate")), ids)


class MilvusFullText:
    """BM25 by Milvus's full-text search over a version's collection (`--lexical milvus`)."""

    def __init__(self, client, collection: str, ids: np.ndarray) -> None:
        self._client, self._collection = client, collection
        self.ids = np.asarray(ids, dtype=np.int64)
        self._row_of_id = {int(i): row for row, i in enumerate(self.ids.tolist())}
        self.size = len(self.ids)

    def query(self, question: str) -> MilvusTextQuery:
        return MilvusTextQuery(self, terms_text(question))

    def warm(self) -> None:
        """Nothing to read ahead: the server holds the index (LexicalIndex.warm reads its files)."""

    def search_terms(self, terms: str, limit: int, ids: list[int] | None = None) -> dict[int, float]:
        hits = self._client.search(
            self._collection,
            data=[terms],
            anns_field=SPARSE_FIELD,
            limit=limit,
            filter=f"id in {ids}" if ids is not None else "",
            search_params={"metric_type": "BM25"},
        )[0]
        # milvus-lite reports BM25 as a negative distance (best first), a server as the positive score.
        # Milvus's term weight has the (k1 + 1) numerator that bm25s's Lucene variant drops: dividing it out
        # gives bm25s's scores (equal to float rounding on the gold index, tests/test_vector_store.py).
        return {self._row_of_id[int(h["id"])]: abs(float(h["distance"])) / (BM25_K1 + 1) for h in hits}


class MilvusTextQuery:
    """One question's BM25 scores from Milvus: its top hits, then the exact score of any other row asked for."""

    bound = 0.0  # Milvus returns hits, not each term's best score: "adaptive" fusion sees no confidence

    def __init__(self, owner: MilvusFullText, terms: str) -> None:
        self._owner, self._terms = owner, terms
        self._scores: dict[int, float] = {}
        self._complete = not terms  # a question with no BM25 terms scores 0 everywhere

    def top(self, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
        if allowed is not None:  # Milvus's own scalar filter, applied while it ranks
            if not self._terms or n <= 0 or not allowed.any():
                return np.zeros(0, dtype=np.int64)
            limit = min(n, int(allowed.sum()), 16384)
            found = self._owner.search_terms(self._terms, limit, [int(i) for i in self._owner.ids[allowed]])
            self._scores.update(found)
            return np.array(sorted(found), dtype=np.int64)
        if self._complete or n <= 0:
            return np.zeros(0, dtype=np.int64)
        limit = min(n, self._owner.size, 16384)
        found = self._owner.search_terms(self._terms, limit)
        self._scores.update(found)
        self._complete = len(found) < limit  # every row with a positive score is known
        return np.array(sorted(found), dtype=np.int64)

    def at(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        unknown = [] if self._complete else sorted({int(r) for r in rows} - self._scores.keys())
        ids = [int(self._owner.ids[r]) for r in unknown]
        for start in range(0, len(ids), 16384):
            chunk = ids[start : start + 16384]
            self._scores.update(self._owner.search_terms(self._terms, len(chunk), chunk))
        return np.array([self._scores.get(int(r), 0.0) for r in rows], dtype=np.float32)
