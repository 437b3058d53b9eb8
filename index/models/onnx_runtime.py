"""onnxruntime sessions and tokenizers for the query path: no torch, no transformers.

Sessions are created once per process and shared by every request; their thread pools are sized
for serving (see `session`). Tokenizers are the models' own `tokenizer.json`, with padding turned
off so each batch is padded only to its own longest input.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from index.config import cpu_threads

_lock = threading.Lock()


@lru_cache(maxsize=8)
def session(path: str, threads: int = 1):
    """One InferenceSession per (model file, thread count) per process.

    `threads` is the intra-op pool: 1 for a short question (concurrent requests then run side by
    side on the cores), more for work that is one big batch. Idle pool threads do not spin, so a
    waiting server costs no CPU.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with _lock:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def serving_threads() -> int:
    """Intra-op threads for a per-request batch (a reranker's pairs): every core, shared by requests
    (VERBATIM_THREADS: fewer)."""
    return cpu_threads()


@lru_cache(maxsize=8)
def tokenizer(path: str, max_tokens: int):
    """The `tokenizers` tokenizer in `path`, truncating at `max_tokens`, without fixed-length padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    return tok


@lru_cache(maxsize=8)
def counting_tokenizer(path: str):
    """The tokenizer in `path` without truncation or padding: every word piece of a text is counted."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    return tok


def length_batches(lengths: list[int], size: int, spread: float = 1.5) -> list[list[int]]:
    """Positions grouped shortest first into batches of at most `size` whose longest input is at most
    `spread` times the shortest: every input is padded to its batch's longest, and padding costs as much
    as real tokens (ten 120-token windows batched with whole 256-token passages cost twice as much)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < size and lengths[i] <= spread * lengths[batches[-1][0]]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def batch_arrays(encodings, input_names: set[str]) -> dict[str, np.ndarray]:
    """int64 model inputs for a batch of encodings, padded to the batch's longest."""
    length = max((len(e.ids) for e in encodings), default=0)
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n] = e.ids
        mask[row, :n] = 1
        types[row, :n] = e.type_ids
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: value for name, value in arrays.items() if name in input_names}


def input_names(model) -> set[str]:
    return {i.name for i in model.get_inputs()}
