"""The reader: within a passage, the words that answer the question, and how sure it is that any do.

An extractive model trained here (`python -m eval.studies.train_reader`, model card in
index/models/trained/reader/README.md) reads (question, passage) in windows of word pieces and gives each
token a start and an end logit; the span with the highest start + end (at most MAX_ANSWER_TOKENS
pieces) is the answer, and the [CLS] token's start + end is the "no answer" score, as in SQuAD 2.0.
A third output, `has_answer`, is a logit over [CLS] trained on the same labels.

The windowing below (`windows`) is the one training uses, so the model reads at query time exactly
what it was trained on. Runs on onnxruntime with the model's own tokenizer.json (no torch).
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.models import onnx_runtime
from index.models.model_files import ModelFileError, load_verified, verify_file

READER_DIR = Path(__file__).resolve().parent / "trained" / "reader"
# The multilingual reader (eval/studies/train_reader.py --multilingual), once one is shipped; its spans then mark answers.
MULTILINGUAL_READER_DIR = READER_DIR.parent / "reader-multilingual"
READER_ENV = "VERBATIM_READER_DIR"  # another reader folder (a retrained model), checked the same way
READER_NAME = "verbatim-reader"
MAX_ANSWER_TOKENS = 30
_FIX = "run `git checkout -- index/models/trained/reader` to restore the shipped reader, or retrain it with `python -m eval.studies.train_reader`"


@dataclass(frozen=True)
class Window:
    """One window of (question, passage) word pieces, with each piece's character offsets in the passage."""

    ids: list[int]
    type_ids: list[int]
    context: list[int]  # token positions that belong to the passage
    offsets: list[tuple[int, int]]  # per token, (start, end) in the passage (only meaningful in `context`)


@dataclass(frozen=True)
class AnswerSpan:
    """The reader's answer inside one passage: `text == passage_text[start:end]`."""

    start: int
    end: int
    text: str
    score: float  # start + end logit of the span
    no_answer: float  # the [CLS] start + end logit (the lowest over the passage's windows)
    has_answer: float  # the [CLS] classifier's logit (the highest over the passage's windows)

    @property
    def margin(self) -> float:
        """Span score minus no-answer score: above 0 the model prefers the span to "no answer"."""
        return self.score - self.no_answer


@dataclass(frozen=True)
class WindowTokenizer:
    """A tokenizer (shared, untruncated: onnx_runtime.parsed_tokenizer) and how it cuts (question, passage)
    pairs: windows of `max_tokens` pieces overlapping by `stride` pieces of the passage."""

    tokenizer: object
    max_tokens: int
    stride: int


def window_tokenizer(path: str, max_tokens: int, stride: int) -> WindowTokenizer:
    """The tokenizer at `path` cutting (question, passage) pairs into windows of `max_tokens` that
    overlap by `stride` pieces of the passage; the question is never cut."""
    return WindowTokenizer(onnx_runtime.parsed_tokenizer(str(path)), int(max_tokens), int(stride))


def windows(tokenizer: WindowTokenizer, question: str, text: str, max_question_tokens: int = 64) -> list[Window]:
    """Every window of (question, text); a question longer than `max_question_tokens` pieces is cut.

    The windows are exactly those of the `tokenizers` library's own pair truncation ("only_second" with a
    stride), which the readers were trained with (tests/test_reader.py checks it), made here from the shared
    untruncated tokenizer."""
    tok = tokenizer.tokenizer
    question_ids = tok.encode(question, add_special_tokens=False).ids
    if len(question_ids) > max_question_tokens:
        question = tok.decode(question_ids[:max_question_tokens])
    asked = tok.encode(question, add_special_tokens=False)
    passage = tok.encode(text, add_special_tokens=False)
    room = tokenizer.max_tokens - len(asked.ids) - tok.num_special_tokens_to_add(True)
    if room <= tokenizer.stride:
        raise ValueError(f"a question of {len(asked.ids)} pieces leaves no room for windows of {tokenizer.max_tokens} with a stride of {tokenizer.stride}")
    passage.set_sequence_id(1)
    if len(passage.ids) > room:
        passage.truncate(room, stride=tokenizer.stride)
    whole = tok.post_process(asked, passage, True)  # the first window; the others are its overflowing ones
    result = []
    for number, e in enumerate([whole, *whole.overflowing]):
        context = [i for i, s in enumerate(e.sequence_ids) if s == 1]
        types = list(e.type_ids)
        if number:
            # The library's truncation marks a later window's passage pieces as the second segment (type 1) even
            # where the tokenizer's pairs are all type 0 (XLM-R): kept, the readers were trained on those windows.
            for i in context:
                types[i] = 1
        result.append(Window(list(e.ids), types, context, list(e.offsets)))
    return result


def best_span(start: np.ndarray, end: np.ndarray, context: list[int], max_tokens: int = MAX_ANSWER_TOKENS) -> tuple[int, int, float]:
    """Token positions (i, j) in `context`, i <= j < i + max_tokens, maximizing start[i] + end[j]."""
    if not context:
        return 0, 0, float("-inf")
    positions = np.array(context)
    s, e = start[positions], end[positions]
    # All pairs at once: a window has at most a few hundred context tokens.
    total = s[:, None] + e[None, :]
    n = len(positions)
    gap = np.arange(n)[None, :] - np.arange(n)[:, None]
    contiguous = positions[None, :] - positions[:, None] == gap  # no non-context token in between
    total = np.where((gap >= 0) & (gap < max_tokens) & contiguous, total, -np.inf)
    flat = int(np.argmax(total))
    i, j = divmod(flat, n)
    return int(positions[i]), int(positions[j]), float(total[i, j])


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to whole words: a span that ends inside a word ("Bukel" of "Bukele", one word
    piece short) is widened to the word, so a quote never cuts a word."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and end > start and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end


_GROUPED = re.compile(r"\d{1,3}(?:[.,\u00a0\u202f]\d{3})+(?!\d)(?:[.,]\d+)?|\d+(?:[.,]\d+)?")
_CURRENCY = "$€£¥₡₹"
_AFTER_NUMBER = re.compile(r"(?:\s?%|\s+(?:percent|per cent|percentage points|hundred|thousand|million|billion|trillion)\b)", re.IGNORECASE)


def whole_span(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to whole words and whole figures: a number is never cut ("119" of "119,000",
    "200" of "1.200", "314" of "$314 million"); its currency sign, percent sign and scale word come with it."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    start, end = whole_words(text, start, end)
    if end <= start:
        return start, end
    for m in _GROUPED.finditer(text, max(0, start - 24), min(len(text), end + 24)):
        if m.start() < start < m.end() or m.start() < end < m.end():  # a figure the span cuts
            start, end = min(start, m.start()), max(end, m.end())
    while start > 0 and text[start - 1] in _CURRENCY and text[start].isdigit():
        start -= 1
    if start >= 2 and text[start - 2 : start] == "US" and text[start] == "$":
        start -= 2
    if text[end - 1].isdigit() and (m := _AFTER_NUMBER.match(text, end)):
        end = m.end()
    return start, end


class Reader:
    """The shipped extractive reader on onnxruntime; one session per process (see `get_reader`)."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        folder = Path(folder)
        card = folder / "reader.json"
        if not card.is_file():
            raise ModelFileError(f"the reader's description {card} is missing; {_FIX}")
        self.config = json.loads(card.read_text(encoding="utf-8"))
        self.name = str(self.config.get("name", READER_NAME))
        self.max_tokens = int(self.config["max_tokens"])
        self.stride = int(self.config["stride"])
        files = self.config["files"]
        checks = [(folder / name, sha256, _FIX) for name, sha256 in files.items()]
        # Passages are read side by side, one per core, each on one thread: a single window is too small
        # to keep two intra-op threads busy (5 gold passages: 91 ms against 146 ms on one 2-thread session).
        self.workers = max(1, threads or onnx_runtime.serving_threads())
        self._session = load_verified(checks, lambda: onnx_runtime.session(str(folder / "model.onnx"), 1))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="reader") if self.workers > 1 else None
        self._inputs = onnx_runtime.input_names(self._session)
        self._tokenizer = window_tokenizer(str(folder / "tokenizer.json"), self.max_tokens, self.stride)

    @property
    def sha256(self) -> str:
        """The sha256 of the model file (what a calibration fitted on this reader names)."""
        return str(self.config["files"].get("model.onnx", ""))

    def logits(self, batch: list[Window]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """start and end logits (batch x longest window; padding masked far below any real token) and the
        has-answer logit of each window."""
        start, end, has = self._session.run(None, onnx_runtime.batch_arrays(batch, self._inputs))
        return start, end, has.reshape(-1)

    def read(self, question: str, texts: list[str]) -> list[AnswerSpan]:
        """The best span of each text (one AnswerSpan per text, in order).

        Each text's windows are one batch of their own: the int8 model quantizes activations per batch,
        so a text read beside others would not always give the same span (and could not be kept by text).
        The texts are read in parallel, `workers` at a time.
        """
        if self._pool is None or len(texts) < 2:
            return [self.read_one(question, text) for text in texts]
        return list(self._pool.map(lambda text: self.read_one(question, text), texts))

    def read_one(self, question: str, text: str) -> AnswerSpan:
        """The best span of `text` over its windows; the lowest no-answer and highest has-answer score."""
        cut = windows(self._tokenizer, question, text)
        start, end, has = self.logits(cut)
        best: AnswerSpan | None = None
        no_answer = float(np.min(start[:, 0] + end[:, 0]))
        has_answer = float(np.max(has))
        for row, w in enumerate(cut):
            a, b, score = best_span(start[row], end[row], w.context)
            if w.context and (best is None or score > best.score):
                first, last = whole_span(text, w.offsets[a][0], w.offsets[b][1])
                best = AnswerSpan(first, last, text[first:last], score, no_answer, has_answer)
        return best or AnswerSpan(0, 0, "", float("-inf"), no_answer, has_answer)


@dataclass(frozen=True)
class ReaderFiles:
    """The shipped reader as `verbatim models` lists it: name, folder, files with sha256, and its state."""

    name: str
    folder: Path
    files: dict[str, str]
    state: str  # "sha256 verified", or what is wrong and how to fix it


def reader_dir() -> Path:
    """The reader folder: $VERBATIM_READER_DIR, else the one shipped in the repository."""
    return Path(os.environ.get(READER_ENV) or READER_DIR)


def reader_files(folder: Path | None = None) -> ReaderFiles:
    """What the reader folder holds and whether every file is the one its reader.json names."""
    folder = folder or reader_dir()
    try:
        card = json.loads((Path(folder) / "reader.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ReaderFiles(READER_NAME, Path(folder), {}, f"missing or unreadable reader.json; {_FIX}")
    files = dict(card.get("files", {}))
    try:
        for name, sha256 in files.items():
            verify_file(Path(folder) / name, sha256, _FIX)
    except ModelFileError as exc:
        return ReaderFiles(str(card.get("name", READER_NAME)), Path(folder), files, str(exc))
    return ReaderFiles(str(card.get("name", READER_NAME)), Path(folder), files, "sha256 verified")


def _card_list(key: str, folder: Path | None) -> tuple[str, ...]:
    try:
        card = json.loads((Path(folder or reader_dir()) / "reader.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(card.get(key, ()))


def reader_held_out_articles(folder: Path | None = None) -> tuple[str, ...]:
    """The SQuAD articles the shipped reader (and the decision fitted with it) never saw (from reader.json)."""
    return _card_list("held_out_articles", folder)


def reader_calibration_articles(folder: Path | None = None) -> tuple[str, ...]:
    """The SQuAD 2.0 articles the reader never trained on that calibrate its span gate and the decision."""
    return _card_list("calibration_articles", folder)


def get_reader(folder: Path | None = None) -> Reader:
    """The reader in `folder` (default: reader_dir()), loaded once per process (files sha256-checked;
    ModelFileError names the fix)."""
    return _loaded(str(folder or reader_dir()))


@lru_cache(maxsize=2)
def _loaded(folder: str) -> Reader:
    return Reader(Path(folder))
