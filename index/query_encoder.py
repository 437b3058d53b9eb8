"""Questions -> vectors without importing sentence-transformers, which costs seconds at start-up.

For the common case, a model whose sentence-transformers pipeline is exactly Transformer -> mean
Pooling -> Normalize (all-MiniLM-L6-v2 is), the same weights are run with `transformers` and
pooled the same way: identical vectors, about half the import time. Any other pipeline falls back
to the full sentence-transformers Embedder, so results never depend on which path ran.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from index.embed import get_embedder, resolve_model

_MEAN_ONLY = {
    "pooling_mode_mean_tokens": True,
    "pooling_mode_cls_token": False,
    "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False,
}


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def plain_mean_pooling_model(path: Path) -> int | None:
    """The max sequence length when `path` is a local Transformer -> mean Pooling -> Normalize model, else None."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((path / modules[1]["path"] / "config.json").read_text())
        config = json.loads((path / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError):
        return None
    if types != ["Transformer", "Pooling", "Normalize"] or modules[0]["path"] not in ("", "."):
        return None
    if any(pooling.get(key, False) != value for key, value in _MEAN_ONLY.items()) or pooling.get("include_prompt") is False:
        return None
    if config.get("do_lower_case"):
        return None
    return int(config.get("max_seq_length", 512))


class QueryEncoder:
    """Transformer + attention-masked mean pooling + L2 normalisation, as sentence-transformers does."""

    def __init__(self, path: Path, max_tokens: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        self._model = AutoModel.from_pretrained(str(path)).eval()
        self.max_tokens = max_tokens

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        torch = self._torch
        # One short question gains nothing from intra-op threads, and concurrent requests in the web
        # app then use the cores side by side instead of oversubscribing them.
        torch.set_num_threads(1)
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        with torch.inference_mode():
            tokens = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return np.ascontiguousarray(pooled.numpy(), dtype=np.float32)


@lru_cache(maxsize=4)
def get_query_encoder(model: str) -> TextEncoder:
    """The fastest-loading encoder that gives `model`'s exact sentence-transformers vectors."""
    path = Path(resolve_model(model))
    max_tokens = plain_mean_pooling_model(path) if path.is_dir() else None
    if max_tokens is None:
        return get_embedder(model)
    return QueryEncoder(path, max_tokens)
