"""Stage 2, fusion: one first-stage score per candidate from the dense and lexical scores."""

from __future__ import annotations

import numpy as np

from index.config import Settings
from index.search.records import MULTILINGUAL_ROUTE, Candidates, Fused

FUSIONS = ("convex", "adaptive", "minmax", "zscore", "rrf")


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min()) if len(x) else 0.0
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std()) if len(x) else 0.0
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
    return ranks


def fuse(
    dense: np.ndarray,
    lexical: np.ndarray,
    mode: str,
    dense_weight: float,
    method: str = "convex",
    lexical_confidence: float = 0.0,
    lexical_shift: float = 0.0,
) -> np.ndarray:
    """One ranking score per candidate.

    Hybrid methods: "convex" blends the cosine with BM25 scaled by its best score; "adaptive" does
    the same with a dense weight lowered by `lexical_shift * lexical_confidence`, trusting BM25
    more when one passage matches the question's terms fully; "minmax" and "zscore" normalize both
    first; "rrf" is reciprocal rank fusion (k=60).
    """
    if mode == "dense":
        return dense
    if mode == "lexical":
        return lexical
    dense = dense.astype(np.float64)
    lexical = lexical.astype(np.float64)
    w = dense_weight
    if method in ("convex", "adaptive"):
        if method == "adaptive":
            w = min(1.0, max(0.0, w - lexical_shift * lexical_confidence))
        top = float(lexical.max()) if len(lexical) else 0.0
        return w * dense + (1 - w) * (lexical / top if top > 0 else lexical)
    if method == "minmax":
        return w * _minmax(dense) + (1 - w) * _minmax(lexical)
    if method == "zscore":
        return w * _zscore(dense) + (1 - w) * _zscore(lexical)
    if method == "rrf":
        return 1 / (60 + _ranks(dense)) + 1 / (60 + _ranks(lexical))
    raise ValueError(f"unknown fusion {method!r}; choose one of {', '.join(FUSIONS)}")


def fuse_candidates(c: Candidates, mode: str, settings: Settings) -> Fused:
    """The stage: `mode`'s score of every candidate (dense, lexical, or the hybrid blend of the settings); on the
    multilingual route, the multilingual cosine whatever the mode (it has no lexical side)."""
    s = settings
    if c.route == MULTILINGUAL_ROUTE:
        return Fused(c, c.dense.astype(np.float64))
    scores = fuse(c.semantic(s.sentence_weight), c.lexical, mode, s.dense_weight, s.fusion, c.lexical_confidence, s.lexical_shift)
    return Fused(c, scores)
