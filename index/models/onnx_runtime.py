"""onnxruntime sessions and tokenizers for the query path: no torch, no transformers.

Sessions are created once per process and shared by every request; their thread pools are sized
for serving (see `session`). Tokenizers are the models' own `tokenizer.json`, with padding turned
off so each batch is padded only to its own longest input.
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.config import cpu_threads


@lru_cache(maxsize=8)
def session(path: str, threads: int = 1):
    """One InferenceSession per (model file, thread count) per process.

    `threads` is the intra-op pool: 1 for a short question (concurrent requests then run side by
    side on the cores), more for work that is one big batch. Idle pool threads do not spin, so a
    waiting server costs no CPU. Sessions of different models are made side by side (a cold start loads
    three); the graph is optimized once per machine and kept (`optimized_path`).
    """
    import onnxruntime as ort

    def options(optimize: bool):
        made = ort.SessionOptions()
        made.intra_op_num_threads = max(1, threads)
        made.inter_op_num_threads = 1
        made.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = ort.GraphOptimizationLevel
        made.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_DISABLE_ALL
        made.log_severity_level = 3
        made.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return made

    optimized = optimized_path(path)
    if optimized is not None and optimized.is_file():
        try:
            return ort.InferenceSession(str(optimized), options(False), providers=["CPUExecutionProvider"])
        except Exception:  # a damaged cache file: made again below from the model itself
            optimized.unlink(missing_ok=True)
    made = options(True)
    part = None
    if optimized is not None:
        try:
            optimized.parent.mkdir(parents=True, exist_ok=True)
            part = optimized.with_name(f"{optimized.name}.{os.getpid()}-{threading.get_ident()}.part")
            made.optimized_model_filepath = str(part)
        except OSError:  # a read-only cache: optimized at every start, as without one
            part = None
    created = ort.InferenceSession(path, made, providers=["CPUExecutionProvider"])
    if part is not None and part.is_file():
        os.replace(part, optimized)
        for stale in optimized.parent.glob(optimized.name.rsplit("-", 1)[0] + "-*.onnx"):
            if stale != optimized:  # the copy of a model file since replaced
                stale.unlink(missing_ok=True)
    return created


def optimized_path(model: str) -> Path | None:
    """Where the graph-optimized copy of `model` is kept between processes (None: no cache).

    Optimizing a graph (fusions, layouts) costs more than loading it: 0.30 s against 0.10 s for the
    multilingual reader, on every cold start. The copy is made at the first session and loaded without
    optimizing after that. It holds fused kernels of this onnxruntime and this CPU, so its name carries
    both, and the model file's size and modification time (a replaced model gets a new copy).
    $VERBATIM_ORT_CACHE names the folder; "off" optimizes at every start instead.
    """
    import onnxruntime as ort

    folder = os.environ.get("VERBATIM_ORT_CACHE", "").strip()
    if folder.lower() == "off":
        return None
    if not folder:
        folder = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "verbatim" / "onnx-optimized")
    try:
        stat = Path(model).stat()
    except OSError:
        return None
    where = Path(model).resolve()
    place = hashlib.sha256(str(where).encode()).hexdigest()[:8]
    version = hashlib.sha256(f"{stat.st_size}|{stat.st_mtime_ns}|{ort.__version__}|{_cpu_flags()}".encode()).hexdigest()[:16]
    return Path(folder).expanduser() / f"{where.parent.name}-{where.stem}-{place}-{version}.onnx"


@lru_cache(maxsize=1)
def _cpu_flags() -> str:
    """The CPU's instruction-set flags (an optimized graph may use kernels only this CPU has)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


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


_parse_lock = threading.Lock()


def parsed_tokenizer(path: str):
    """The tokenizer in `path` without truncation or padding, parsed once per process and shared.

    Parsing holds the GIL throughout (0.2 s for the 100k-piece multilingual vocabulary, during which no other
    thread of a cold start runs), and the multilingual encoder and reader read the same file: one parse serves
    both. Truncation is done per call (`encode_truncated`, reader.windows), never set on the shared object.
    Every word piece of a text is counted (a passage's budget).
    """
    # One lock for every file: a second loader thread waits for the first one's parse instead of parsing again
    # (parses cannot run side by side anyway, they hold the GIL).
    with _parse_lock:
        return _parse(str(Path(path).resolve()))


@lru_cache(maxsize=8)
def _parse(path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode_truncated(tok, texts: list[str], max_tokens: int) -> list:
    """`texts` encoded with the special tokens, each cut to `max_tokens` pieces: what the `tokenizers` library's
    own truncation gives (the same ids and offsets), from an untruncated shared tokenizer."""
    keep = max_tokens - tok.num_special_tokens_to_add(False)
    encodings = []
    for e in tok.encode_batch(texts, add_special_tokens=False):
        if len(e.ids) > keep:
            e.truncate(keep)
        encodings.append(tok.post_process(e, None, True))
    return encodings


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
