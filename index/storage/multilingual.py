"""A version's multilingual part: each passage's vector by the multilingual encoder, and each passage's language.

    v-.../multilingual/
      vectors.faiss    FAISS scalar-quantized inner-product index, row i = passage i (no other copy is kept:
                       a rebuild reuses unchanged passages' vectors by decoding them from here)
      languages.json   {"default": "en", "rows": {"es": [rows...], "und": [...]}}: each passage's language

The manifest's `multilingual` entry names the encoder (by its files' sha256, as `query_encoder` does for the English
one; index/models/query_encoder.py opens it), the codec and the files. Questions in another language than English
are answered from these vectors; English questions reach passages in other languages through them
(index/search/candidates.py). A build with `--no-multilingual` writes no such part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from ingest.language import CODES, ENGLISH, UNDETERMINED

FOLDER = "multilingual"
VECTORS_FILE = "vectors.faiss"
LANGUAGES_FILE = "languages.json"
# How vectors are stored (Settings.multilingual_codec, fp16 by default): the three are compared on XQuAD-es in
# docs/crosslingual.md.
_QUANTIZERS = {"8bit": faiss.ScalarQuantizer.QT_8bit, "fp16": faiss.ScalarQuantizer.QT_fp16}
DEFAULT_LANGUAGE = CODES[ENGLISH]
# Languages whose passages English questions cannot reach through the English models: neither English nor too
# short to tell (a title or a name reads alike in every language).
_NOT_FOREIGN = frozenset({DEFAULT_LANGUAGE, UNDETERMINED})


def _faiss_index(dimension: int, codec: str) -> faiss.Index:
    if codec == "fp32":
        return faiss.IndexFlatIP(dimension)
    if codec not in _QUANTIZERS:
        raise ValueError(f"unknown multilingual codec {codec!r}: use one of {', '.join(['fp32', *_QUANTIZERS])}")
    return faiss.IndexScalarQuantizer(dimension, _QUANTIZERS[codec], faiss.METRIC_INNER_PRODUCT)


@dataclass(frozen=True)
class MultilingualVectors:
    """The multilingual part of one loaded version."""

    index: faiss.Index
    languages: tuple[str, ...]  # per passage row
    encoder: dict  # the manifest entry naming the encoder (query_encoder's format)
    codec: str

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @cached_property
    def foreign_rows(self) -> np.ndarray:
        """Rows of passages in another language than English (UNDETERMINED ones excepted), in row order."""
        return np.array([row for row, language in enumerate(self.languages) if language not in _NOT_FOREIGN], dtype=np.int64)

    def search(self, query: np.ndarray, n: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the `n` nearest passages, best first; among `rows` only, when given."""
        n = min(n, self.size if rows is None else len(rows))
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64))) if rows is not None else None
        scores, found = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), n, params=params)
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), scores[0][keep]

    def scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The cosine of each of `rows` to `query` (as stored: decoded from the codec)."""
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        return self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64)) @ np.asarray(query, dtype=np.float32)

    def vectors(self) -> np.ndarray:
        """Every row's vector, decoded (what a rebuild reuses for passages it does not embed again)."""
        return self.index.reconstruct_n(0, self.size) if self.size else np.zeros((0, self.index.d), dtype=np.float32)


def write_multilingual(version_dir: Path, vectors: np.ndarray, languages: list[str], encoder: dict, codec: str) -> dict:
    """Write the part into `version_dir`; returns the manifest entry."""
    folder = version_dir / FOLDER
    folder.mkdir()
    index = _faiss_index(vectors.shape[1], codec)
    if len(vectors):
        if not index.is_trained:
            index.train(np.ascontiguousarray(vectors, dtype=np.float32))  # 8-bit: each dimension's range
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(folder / VECTORS_FILE))
    rows: dict[str, list[int]] = {}
    for row, language in enumerate(languages):
        if language != DEFAULT_LANGUAGE:
            rows.setdefault(language, []).append(row)
    (folder / LANGUAGES_FILE).write_text(json.dumps({"default": DEFAULT_LANGUAGE, "rows": rows}), encoding="utf-8")
    foreign = sum(len(r) for language, r in rows.items() if language not in _NOT_FOREIGN)
    # `foreign` lets a search load the multilingual encoder ahead of English questions only when they need it.
    return {
        "folder": FOLDER, "vectors": VECTORS_FILE, "languages": LANGUAGES_FILE, "codec": codec, "dimension": int(vectors.shape[1]),
        "encoder": encoder, "foreign": foreign,
    }


def open_multilingual(version_dir: Path, entry: dict, passages: int) -> MultilingualVectors:
    """The part a manifest entry names. Raises OSError / ValueError / KeyError when its files are damaged."""
    folder = version_dir / entry["folder"]
    index = faiss.read_index(str(folder / entry["vectors"]))
    recorded = json.loads((folder / entry["languages"]).read_text(encoding="utf-8"))
    languages = [str(recorded["default"])] * passages
    for language, rows in recorded["rows"].items():
        for row in rows:
            languages[int(row)] = str(language)
    if index.ntotal != passages:
        raise ValueError(f"{index.ntotal} multilingual vectors for {passages} passages")
    return MultilingualVectors(index, tuple(languages), dict(entry["encoder"]), str(entry["codec"]))
