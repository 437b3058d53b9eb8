"""A bi-encoder run by onnxruntime: texts -> unit vectors, and per-sentence vectors for a build.

Used for questions on the query path (no torch import) and, for models that exist only as ONNX
files (see index/models/model_files.py), for builds too. It reproduces sentence-transformers' pipeline:
tokenize, transformer, mean or CLS pooling over the attention mask, L2 normalisation.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.models import onnx_runtime


@dataclass(frozen=True)
class EncoderSpec:
    """What an ONNX bi-encoder needs besides its files: pooling, prefixes and input length."""

    pooling: str = "mean"  # "mean" or "cls"
    query_prefix: str = ""
    passage_prefix: str = ""
    max_tokens: int = 256

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> EncoderSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class OnnxEncoder:
    """Encodes questions (and, in a build, passages with their sentences) with an ONNX transformer."""

    def __init__(
        self, model_file: Path, tokenizer_file: Path, spec: EncoderSpec, name: str = "", threads: int = 1, export: Path | None = None
    ) -> None:
        self.name = name or str(model_file)
        self.spec = spec
        self.export = export  # the folder of this machine's export of a sentence-transformers model, if it is one
        self.max_tokens = spec.max_tokens
        self._session = onnx_runtime.session(str(model_file), threads)
        self._inputs = onnx_runtime.input_names(self._session)
        self._tokenizer = onnx_runtime.parsed_tokenizer(str(tokenizer_file))  # shared (the multilingual reader reads the same file)
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def _token_vectors(self, encodings: list) -> tuple[np.ndarray, np.ndarray]:
        arrays = onnx_runtime.batch_arrays(encodings, self._inputs)
        hidden = self._session.run(None, arrays)[0]
        mask = onnx_runtime.batch_arrays(encodings, {"attention_mask"})["attention_mask"]
        return hidden, mask

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[..., None].astype(hidden.dtype)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return _normalize(pooled)

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors of questions (the query prefix is added), one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = onnx_runtime.encode_truncated(self._tokenizer, [self.spec.query_prefix + t for t in texts], self.max_tokens)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Batches of similar length in word pieces: one question of 256 pieces among 31 of 20 padded
        # them all to 256 (332 questions: 4.5 s instead of 0.3).
        for chunk in onnx_runtime.length_batches([len(e.ids) for e in encodings], batch_size):
            hidden, mask = self._token_vectors([encodings[i] for i in chunk])
            vectors[chunk] = self._pool(hidden, mask)
        return vectors

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces of each text without special tokens (what a passage's budget counts)."""
        if not texts:
            return []
        return [len(e.ids) for e in self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)]

    def encode_passages(
        self,
        texts: list[str],
        sentences: list[list[tuple[int, int]]],
        batch_size: int = 32,
        progress: bool = False,
        threads: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, from the same forward pass, one vector per sentence (mean of its tokens).

        `threads` is accepted for the Embedder interface; the session's pool was sized when it was made.
        """
        prefix = self.spec.passage_prefix
        passage_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        everything = onnx_runtime.encode_truncated(self._tokenizer, [prefix + t for t in texts], self.max_tokens)
        # Batches of similar length in word pieces, the longest first (the rate then climbs during a build).
        batches = onnx_runtime.length_batches([len(e.ids) for e in everything], batch_size)[::-1]
        done = 0
        for number, chunk in enumerate(batches):
            encodings = [everything[i] for i in chunk]
            hidden, mask = self._token_vectors(encodings)
            pooled = self._pool(hidden, mask)
            for row, i in enumerate(chunk):
                passage_vectors[i] = pooled[row]
                offsets = np.array(encodings[row].offsets, dtype=np.int64).reshape(-1, 2) - len(prefix)
                starts, ends = offsets[:, 0], offsets[:, 1]
                real = ends > starts  # special tokens have empty offsets
                vectors = np.zeros((len(sentences[i]), self.dimension), dtype=np.float32)
                for j, (a, b) in enumerate(sentences[i]):
                    inside = real & (starts >= a) & (ends <= b)
                    vectors[j] = hidden[row, : len(offsets)][inside].mean(axis=0) if inside.any() else pooled[row]
                sentence_vectors[i] = _normalize(vectors)
            done += len(chunk)
            if progress and number % 20 == 0:
                print(f"embedded {done:,}/{len(texts):,} passages", file=sys.stderr, flush=True)
            if on_progress is not None:
                on_progress(done)  # passages embedded so far
        return passage_vectors, sentence_vectors


def _normalize(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)
