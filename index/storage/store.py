"""The on-disk index: one directory per version, switched atomically, no pickle anywhere.

    index_dir/
      CURRENT                 name of the live version (replaced atomically)
      v-<time>-<rand>/        one complete, immutable version
        manifest.json         model, dimension, counts, source fingerprints, format, build time
        documents.jsonl       per source: metadata, fingerprint, cleaned text
        passages.jsonl        passage records, row i <-> vector i
        vectors.npy           float32 unit vectors (kept so unchanged passages are never re-embedded)
        sentence_vectors.npy  float16 unit vectors, one per sentence, for evidence scoring
        sentence_rows.npy     int64: passage i's sentences are rows [rows[i], rows[i+1])
        dense.faiss           FAISS inner-product index keyed by passage id (store "faiss";
                              with store "milvus" the vectors are searched in a Milvus collection)
        lexical/              bm25s index (JSON + .npy); absent with lexical "milvus" (BM25 in the collection)
        multilingual/         the multilingual encoder's vectors and each passage's language
                              (index/storage/multilingual.py); absent when built with --no-multilingual

No model is copied in: the manifest names the question encoder by model and sha256, and its files stay
in the models folder, one copy per machine (index/models/query_encoder.py). An index made before kept
a copy in index_dir/encoders/; it still opens, and the folder goes once no version names it.

A build writes a whole version into a temporary directory, renames it into place and only then
points CURRENT at it, so a crash at any moment leaves the previous version live and intact.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
import secrets
import shutil
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from index.storage.lexical import LexicalIndex
from index.storage.multilingual import MultilingualVectors, open_multilingual, write_multilingual
from index.storage.vector_store import FaissStore, MilvusFullText, MilvusStore, StoreConfig, VectorStore
from ingest.records import Passage, SourceMeta

FORMAT_VERSION = 1
CURRENT = "CURRENT"
FIX = "run `verbatim build --full` to rebuild it"
LEGACY_ENCODERS = "encoders"  # where indexes made before models were referenced kept their encoder's copy


class IndexError_(Exception):
    """The index cannot be used; the message names the fix."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


@dataclass(frozen=True)
class MultilingualPart:
    """What a build hands write_version for the multilingual part: one vector and one language per passage."""

    vectors: np.ndarray
    languages: list[str]
    encoder: dict  # the manifest entry naming the encoder
    codec: str


@dataclass(frozen=True)
class SourceRecord:
    """A source as indexed: citation metadata, what the file says of itself, fingerprint, cleaned text.

    `own_meta` is kept apart from `meta` (which includes the editable sidecar) so an unchanged file
    is never re-read: a sidecar edit is merged again over `own_meta` at the next build.
    """

    meta: SourceMeta
    own_meta: SourceMeta
    fingerprint: str
    text: str
    passages: int

    def to_dict(self) -> dict:
        return {
            **self.meta.to_dict(),
            "own": self.own_meta.to_dict(),
            "fingerprint": self.fingerprint,
            "passages": self.passages,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SourceRecord:
        meta = SourceMeta.from_dict(data)
        own = SourceMeta.from_dict(data["own"]) if "own" in data else meta
        return cls(meta, own, str(data["fingerprint"]), str(data["text"]), int(data["passages"]))


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dimension: int
    passage_count: int
    sources: dict[str, str]  # file -> fingerprint
    build_params: dict
    built_at: str
    store: str = "faiss"
    # Where the vectors are searched: {"kind": "faiss", "file": ...} or {"kind": "milvus", "uri", "collection", ...}.
    vector_store: dict = field(default_factory=dict)
    lexical: str = "bm25s"  # where BM25 runs: "bm25s" (files in lexical/) or "milvus" (the vector collection)
    # name -> [bytes, crc32] of every file in the version, so truncation or corruption is caught at load.
    files: dict[str, list[int]] = field(default_factory=dict)
    # How questions are encoded without torch (index/models/query_encoder.py): the model, its files' sha256.
    query_encoder: dict = field(default_factory=dict)
    # The multilingual part (index/storage/multilingual.py): its encoder, codec and files; empty when not built.
    multilingual: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class IndexVersion:
    """A loaded, consistent index version: everything one search needs."""

    path: Path
    manifest: Manifest
    sources: dict[str, SourceRecord]
    passages: list[Passage]
    vectors: np.ndarray
    dense: VectorStore
    lexical: LexicalIndex | MilvusFullText
    sentence_matrix: np.ndarray
    sentence_rows: np.ndarray
    multilingual: MultilingualVectors | None = None
    row_of_id: dict[int, int] = field(default_factory=dict)
    _rows_of_file: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.row_of_id = {p.id: row for row, p in enumerate(self.passages)}

    def rows_of_file(self) -> dict[str, np.ndarray]:
        """Each source's passage rows, computed at the first filtered search (a version never changes)."""
        if self._rows_of_file is None:
            rows: dict[str, list[int]] = {}
            for row, passage in enumerate(self.passages):
                for file in passage.files:
                    rows.setdefault(file, []).append(row)
            self._rows_of_file = {f: np.array(r, dtype=np.int64) for f, r in rows.items()}
        return self._rows_of_file

    def sentence_vectors(self, row: int) -> np.ndarray:
        """Unit vectors of passage `row`'s sentences, float32."""
        return self.sentence_matrix[self.sentence_rows[row] : self.sentence_rows[row + 1]].astype(np.float32)


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_checksums(directory: Path) -> dict[str, list[int]]:
    """[size, crc32] of every file under `directory`, keyed by relative path."""
    sums = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        crc = 0
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
        sums[path.relative_to(directory).as_posix()] = [path.stat().st_size, crc]
    return sums


def _check_files(version: Path, manifest: Manifest) -> None:
    if not manifest.files:
        return  # written before checksums were recorded
    actual = file_checksums(version)
    for name, (size, crc) in manifest.files.items():
        if name not in actual:
            raise IndexCorrupt(f"index file {version / name} is missing; {FIX}")
        if actual[name][0] != size:
            raise IndexCorrupt(f"index file {version / name} is truncated or altered ({actual[name][0]} bytes, expected {size}); {FIX}")
        if actual[name][1] != crc:
            raise IndexCorrupt(f"index file {version / name} is corrupted (checksum mismatch); {FIX}")


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory, across processes (the CLI and the app)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".build.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def current_version_path(index_dir: Path) -> Path | None:
    """The live version directory, or None when there is no index yet."""
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return index_dir / name if name else None


def write_version(
    index_dir: Path,
    manifest: Manifest,
    sources: list[SourceRecord],
    passages: list[Passage],
    vectors: np.ndarray,
    sentence_vectors: list[np.ndarray],
    keep_previous: int = 1,
    store: StoreConfig | None = None,
    full: bool = False,
    multilingual: MultilingualPart | None = None,
) -> Path:
    """Write a complete new version and make it live; older versions beyond `keep_previous` go.

    With a Milvus store the vectors also go to the collection the live version does not use
    (only the difference is written unless `full`); CURRENT, then the Milvus alias, switch last.
    """
    store = store or StoreConfig()
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        ids = np.array([p.id for p in passages], dtype=np.int64)
        _write_jsonl(tmp / "documents.jsonl", (s.to_dict() for s in sources))
        _write_jsonl(tmp / "passages.jsonl", (p.to_dict() for p in passages))
        np.save(tmp / "vectors.npy", vectors.astype(np.float32), allow_pickle=False)
        rows = np.zeros(len(passages) + 1, dtype=np.int64)
        rows[1:] = np.cumsum([len(v) for v in sentence_vectors]) if passages else []
        matrix = np.concatenate(sentence_vectors) if sentence_vectors else np.zeros((0, vectors.shape[1]))
        np.save(tmp / "sentence_vectors.npy", matrix.astype(np.float16), allow_pickle=False)
        np.save(tmp / "sentence_rows.npy", rows, allow_pickle=False)
        if store.kind == "milvus":
            live = current_version_path(index_dir)
            live_entry = _live_store_entry(live)
            texts = [p.text for p in passages] if store.full_text else None
            entry = MilvusStore.write(tmp, ids, vectors, store, index_dir, live_entry, full, texts)
        else:
            entry = FaissStore.write(tmp, ids, vectors, store)
        if not store.full_text:
            LexicalIndex.build([p.text for p in passages]).save(tmp / "lexical")
        lexical = "milvus" if store.full_text else "bm25s"
        part = {}
        if multilingual is not None:
            part = write_multilingual(tmp, multilingual.vectors, multilingual.languages, multilingual.encoder, multilingual.codec)
        manifest = replace(manifest, store=store.kind, vector_store=entry, lexical=lexical, files=file_checksums(tmp), multilingual=part)
        (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        final = index_dir / name
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer_tmp = index_dir / f".{CURRENT}.{name}"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    with pointer_tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    if store.kind == "milvus":
        MilvusStore.publish(entry)
    _prune(index_dir, live=name, keep_previous=keep_previous)
    return final


def remove_dead_temporaries(index_dir: Path) -> list[Path]:
    """Remove what killed builds left behind: `.tmp-*` version folders and `.CURRENT.*` pointer files.

    Call only while holding `build_lock`: the holder is the only build running, so every leftover
    belongs to a build that is no longer running (whatever its age). Returns what was removed.
    """
    removed = []
    for leftover in sorted(index_dir.glob(".tmp-*")) + sorted(index_dir.glob(f".{CURRENT}.*")):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _prune(index_dir: Path, live: str, keep_previous: int) -> None:
    """Remove old versions and leftovers of crashed builds; readers may still hold the last one."""
    versions = sorted(p for p in index_dir.glob("v-*") if p.is_dir() and p.name != live)
    for old in versions[: max(0, len(versions) - keep_previous)]:
        shutil.rmtree(old, ignore_errors=True)
    remove_dead_temporaries(index_dir)  # write_version runs under the build lock
    _drop_legacy_encoders(index_dir)


def _drop_legacy_encoders(index_dir: Path) -> None:
    """The encoder copy an older index kept (90 MB) goes once no remaining version reads it."""
    folder = index_dir / LEGACY_ENCODERS
    if not folder.is_dir():
        return
    for version in index_dir.glob("v-*"):
        try:
            if read_manifest(version).query_encoder.get("path"):
                return
        except IndexError_:
            return  # a version that cannot be read might: keep the copy
    shutil.rmtree(folder, ignore_errors=True)


def _live_store_entry(live: Path | None) -> dict | None:
    """The live version's vector-store entry, when it is readable (a broken one is simply not reused)."""
    try:
        return read_manifest(live).vector_store if live is not None else None
    except IndexError_:
        return None


def read_manifest(version: Path) -> Manifest:
    try:
        data = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        manifest = Manifest.from_dict(data)
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"index version {version} has no manifest; {FIX}") from exc
    except (json.JSONDecodeError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"index manifest {version / 'manifest.json'} is unreadable ({exc}); {FIX}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorrupt(
            f"index format {manifest.format_version} is not the format this Verbatim reads ({FORMAT_VERSION}); {FIX}"
        )
    return manifest


def load_version(
    index_dir: Path, expected_model: str | None = None, expected_store: str | None = None, expected_lexical: str | None = None
) -> IndexVersion:
    """Load the live version, checking it is complete and consistent. Raises IndexError_."""
    version = current_version_path(index_dir)
    if version is None:
        raise IndexMissing(f"no index in {index_dir}; run `verbatim build` first")
    if not version.is_dir():
        raise IndexCorrupt(f"the live index version {version} is missing; {FIX}")
    return open_version(version, expected_model, expected_store, expected_lexical)


def open_version(
    version: Path, expected_model: str | None = None, expected_store: str | None = None, expected_lexical: str | None = None
) -> IndexVersion:
    """Load one version directory, checking it is complete and consistent. Raises IndexError_."""
    manifest = read_manifest(version)
    if expected_model is not None and manifest.model != expected_model:
        raise IndexCorrupt(
            f"the index was built with model {manifest.model!r}, not {expected_model!r}; "
            f"{FIX} (add --model to choose the model)"
        )
    if expected_store is not None and manifest.store != expected_store:
        raise IndexCorrupt(
            f"the index in {version.parent} keeps its vectors in {manifest.store}, not {expected_store}; run "
            f"`verbatim build --full --store {expected_store}` to rebuild it there, or use --store {manifest.store}"
        )
    if expected_lexical is not None and manifest.lexical != expected_lexical:
        raise IndexCorrupt(
            f"the index in {version.parent} runs BM25 in {manifest.lexical}, not {expected_lexical}; run "
            f"`verbatim build --full --store {manifest.store} --lexical {expected_lexical}` to rebuild it, "
            f"or use --lexical {manifest.lexical}"
        )
    _check_files(version, manifest)
    try:
        sources = [SourceRecord.from_dict(d) for d in _read_jsonl(version / "documents.jsonl")]
        passages = [Passage.from_dict(d) for d in _read_jsonl(version / "passages.jsonl")]
        # Memory-mapped: a search reads a few hundred rows, so the OS pages them in on demand and shares
        # them between serving processes, instead of each holding every vector (6 GB at a million passages).
        vectors = np.load(version / "vectors.npy", allow_pickle=False, mmap_mode="r")
        sentence_matrix = np.load(version / "sentence_vectors.npy", allow_pickle=False, mmap_mode="r")
        sentence_rows = np.load(version / "sentence_rows.npy", allow_pickle=False)
        if manifest.store == "milvus":
            dense = MilvusStore.open(manifest.vector_store, len(passages), np.array([p.id for p in passages], dtype=np.int64))
        else:
            dense = FaissStore.open(version, manifest.vector_store)
        if manifest.lexical == "milvus":
            entry = manifest.vector_store
            ids = np.array([p.id for p in passages], dtype=np.int64)
            lexical = MilvusFullText(MilvusStore.client_for(entry), entry["collection"], ids)
        else:
            lexical = LexicalIndex.load(version / "lexical", size=len(passages))
        multilingual = open_multilingual(version, manifest.multilingual, len(passages)) if manifest.multilingual else None
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorrupt(f"index files in {version} are damaged ({type(exc).__name__}: {exc}); {FIX}") from exc
    counts = {len(passages), vectors.shape[0], dense.size, manifest.passage_count, len(sentence_rows) - 1}
    consistent = len(counts) == 1 and sentence_rows[-1] == len(sentence_matrix)
    if not consistent or (len(passages) and vectors.shape[1] != manifest.dimension):
        raise IndexCorrupt(f"index files in {version} disagree on the passage count {sorted(counts)}; {FIX}")
    return IndexVersion(
        version, manifest, {s.meta.file: s for s in sources}, passages, vectors, dense, lexical, sentence_matrix, sentence_rows,
        multilingual,
    )
