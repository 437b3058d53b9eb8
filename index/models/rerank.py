"""Second stage: a cross-encoder reads (question, text) pairs and scores how well the text answers.

The packaged cross-encoder (index/models/model_files.py) runs on onnxruntime, so the query path never
imports torch. Any other name or path is loaded with sentence-transformers' CrossEncoder (torch),
imported only then. What is scored and how the scores join the fused ranking is decided in
index/search.py, with the choices measured by eval/studies/rerank_study.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from index.models import onnx_runtime
from index.config import DEFAULT_RERANKER
from index.models.model_files import PACKAGED, model_folder, models_dir
from ingest.records import Passage

MAX_PAIR_TOKENS = 256  # question + text; passages are at most 250 word pieces
READS = ("window", "max")  # what the cross-encoder reads of a candidate (see rerank)
_BATCH = 16
_SPREAD = 1.5


class CrossEncoder(Protocol):
    name: str

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        """One relevance logit per text (higher = answers the question better)."""
        ...


class OnnxCrossEncoder:
    """A BERT-style cross-encoder exported to ONNX (input ids, mask, token types -> one logit)."""

    def __init__(self, name: str, threads: int | None = None) -> None:
        folder = model_folder(name)  # sha256-checked; ModelFileError names the fix
        self.name = name
        self._session = onnx_runtime.session(str(folder / "model.onnx"), threads or onnx_runtime.serving_threads())
        self._inputs = onnx_runtime.input_names(self._session)
        self._tokenizer = onnx_runtime.tokenizer(str(folder / "tokenizer.json"), MAX_PAIR_TOKENS)

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        encodings = self._tokenizer.encode_batch([(question, t) for t in texts])
        scores = np.zeros(len(texts), dtype=np.float32)
        for chunk in onnx_runtime.length_batches([len(e.ids) for e in encodings], _BATCH, _SPREAD):
            arrays = onnx_runtime.batch_arrays([encodings[i] for i in chunk], self._inputs)
            scores[chunk] = self._session.run(None, arrays)[0].reshape(len(chunk), -1)[:, 0]
        return scores


class TorchCrossEncoder:
    """Any sentence-transformers CrossEncoder by name or path (needs torch; loaded on first use)."""

    def __init__(self, name: str) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import CrossEncoder as STCrossEncoder

        self.name = name
        # No activation: logits, like the ONNX model, so the same combination applies.
        self._model = STCrossEncoder(name, device="cpu", max_length=MAX_PAIR_TOKENS)

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        scores = self._model.predict(
            [(question, t) for t in texts], batch_size=_BATCH, show_progress_bar=False, activation_fn=torch.nn.Identity()
        )
        return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)[:, 0]


def get_reranker(name: str = DEFAULT_RERANKER) -> CrossEncoder:
    """The cross-encoder `name`: a packaged ONNX model (files sha256-checked when loaded) or any
    sentence-transformers CrossEncoder name or path. Loaded once per process and models folder."""
    packaged = PACKAGED.get(name)
    if packaged is not None and packaged.encoder is None:
        return _packaged(name, str(models_dir()))
    return _torch(name)


@lru_cache(maxsize=4)
def _packaged(name: str, folder: str) -> CrossEncoder:
    return OnnxCrossEncoder(name)


@lru_cache(maxsize=2)
def _torch(name: str) -> CrossEncoder:
    return TorchCrossEncoder(name)


def window_span(sentence_count: int, sentence_lengths: list[int], center: int, max_chars: int) -> tuple[int, int]:
    """Sentence range [first, last] around `center`: the previous, then the next sentence join while
    the window stays within `max_chars` (a question's context without the cost of the whole passage)."""
    first = last = center
    total = sentence_lengths[center]
    if center > 0 and total + sentence_lengths[center - 1] <= max_chars:
        first, total = center - 1, total + sentence_lengths[center - 1]
    if center + 1 < sentence_count and total + sentence_lengths[center + 1] <= max_chars:
        last = center + 1
    return first, last


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x, -30, 30)))


@dataclass(frozen=True)
class Reranked:
    """The second stage's verdict on the head of a fused ranking."""

    scores: np.ndarray  # final score of every candidate (reranked head above the rest)
    logits: np.ndarray  # cross-encoder logit of each head candidate, in head order
    windows: list[tuple[int, int]]  # sentence range [first, last] of each head passage the model read


def rerank(
    model: CrossEncoder,
    question: str,
    head: list[Passage],
    head_sentence_scores: list[np.ndarray],
    fused: np.ndarray,
    head_rows: np.ndarray,
    fused_weight: float,
    window_chars: int,
    read: str = "window",
    passages_read: int = 3,
) -> Reranked:
    """Score each head passage; final = (1-w)·sigmoid(CE) + w·fused.

    `read` is what the cross-encoder reads of each passage: "window", the sentences around its best
    sentence (within `window_chars`), or "max", the window and, for the first `passages_read` of the
    head (in fused order), the whole passage too, keeping the higher logit (the window when the answer
    sits next to the best sentence, the passage when it is further).
    `fused` is every candidate's fused score and `head_rows` the head's positions in it. The rest keep
    w·fused (as if the CE gave 0), so they stay below every reranked candidate; with w = 0, a ramp
    far below the head's lowest score, in fused order.
    """
    if read not in READS:
        raise ValueError(f"unknown rerank text {read!r}; choose one of {', '.join(READS)}")
    windows, texts = [], []
    for passage, sentence_scores in zip(head, head_sentence_scores, strict=True):
        lengths = [s.end - s.start for s in passage.sentences]
        if not lengths:
            windows.append((0, 0))
            texts.append(passage.text)
            continue
        first, last = window_span(len(lengths), lengths, int(np.argmax(sentence_scores)), window_chars)
        windows.append((first, last))
        texts.append(passage.text[passage.sentences[first].start : passage.sentences[last].end])
    if read == "max":
        # One call: the model batches windows and passages by length (onnx_runtime.length_batches).
        k = min(passages_read, len(head))
        both = model.score(question, texts + [p.text for p in head[:k]])
        logits = both[: len(texts)].copy()
        logits[:k] = np.maximum(logits[:k], both[len(texts) :])
    else:
        logits = model.score(question, texts)
    scores = fused_weight * fused.astype(np.float64)
    scores[head_rows] += (1 - fused_weight) * _sigmoid(logits.astype(np.float64))
    if fused_weight <= 0:
        # w·fused would tie every other candidate at 0 and lose the fused order below the head
        # (TREC-DL recall@100 0.768 → 0.615): keep that order, far below the head's lowest score.
        tail = np.setdiff1d(np.arange(len(fused)), head_rows)
        if len(tail):
            ranked = tail[np.argsort(-fused[tail], kind="stable")]
            below = 1e-3 * float(scores[head_rows].min()) if len(head_rows) else 1.0
            scores[ranked] = below * (1 - np.arange(1, len(ranked) + 1) / (len(ranked) + 1))
    return Reranked(scores, logits, windows)
