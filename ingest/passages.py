"""Cut clean documents into passages: whole sentences within a paragraph, under a token budget."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

from ingest.clean import is_heading
from ingest.records import CleanDocument, Occurrence, Passage, Span
from ingest.sentences import split_sentences

# Word pieces of each text, counted in one call (a batch is far cheaper than one call per text).
TokenCounter = Callable[[list[str]], list[int]]
PassageItem = tuple[str, tuple[Span, ...], Occurrence]


def passage_id(text: str) -> int:
    """A stable 63-bit id from the passage text, so the same text keeps its id across builds."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def _split_long_sentence(text: str, span: Span, count_tokens: TokenCounter, max_tokens: int) -> list[Span]:
    """Cut a sentence longer than the budget at word boundaries (rare: tables, run-on lists)."""
    pieces: list[Span] = []
    words = [(m.start() + span.start, m.end() + span.start) for m in re.finditer(r"\S+", text[span.start : span.end])]
    start = 0
    while start < len(words):
        end = start + 1
        while end < len(words) and count_tokens([text[words[start][0] : words[end][1]]])[0] <= max_tokens:
            end += 1
        pieces.append(Span(words[start][0], words[end - 1][1]))
        start = end
    return pieces


def pack_sentences(
    sentences: list[Span], sizes: list[int], max_tokens: int, overlap: int = 0
) -> list[tuple[int, int]]:
    """Group consecutive sentences into runs [i, j) of at most `max_tokens`, balanced in size.

    Balanced rather than greedy so a paragraph slightly over budget gives two halves instead of
    one full passage and a one-sentence tail.
    """
    total = sum(sizes)
    if total <= max_tokens:
        return [(0, len(sentences))]
    parts = -(-total // max_tokens)
    target = total / parts
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j, size = i, 0
        while j < len(sentences) and (j == i or (size + sizes[j] <= max_tokens and size < target)):
            size += sizes[j]
            j += 1
        runs.append((i, j))
        if j >= len(sentences):
            break
        i = max(j - overlap, i + 1)
    return runs


def document_passages(
    doc: CleanDocument, count_tokens: TokenCounter, max_tokens: int, overlap: int = 0
) -> Iterable[PassageItem]:
    """(text, sentence spans relative to the text, occurrence) for each passage of one document."""
    paragraphs = [
        (number, paragraph, split_sentences(doc.text[paragraph.start : paragraph.end], offset=paragraph.start))
        for number, paragraph in enumerate(doc.paragraphs, start=1)
        if not is_heading(doc.text[paragraph.start : paragraph.end])
    ]
    counts = iter(count_tokens([doc.text[s.start : s.end] for _, _, spans in paragraphs for s in spans]))
    for number, paragraph, spans in paragraphs:
        sentences: list[Span] = []
        sizes: list[int] = []
        for span in spans:
            size = next(counts)
            if size > max_tokens:
                pieces = _split_long_sentence(doc.text, span, count_tokens, max_tokens)
                sentences.extend(pieces)
                sizes.extend(count_tokens([doc.text[p.start : p.end] for p in pieces]))
            else:
                sentences.append(span)
                sizes.append(size)
        for i, j in pack_sentences(sentences, sizes, max_tokens, overlap):
            start, end = sentences[i].start, sentences[j - 1].end
            relative = tuple(Span(s.start - start, s.end - start) for s in sentences[i:j])
            yield doc.text[start:end], relative, Occurrence(doc.file, start, end, number, paragraph.page)


def merge_passages(items: Iterable[PassageItem]) -> list[Passage]:
    """Passages from (text, sentences, occurrence) items; identical text is stored once, citing
    every place it occurs, in order of first occurrence."""
    merged: dict[str, tuple[tuple[Span, ...], list[Occurrence]]] = {}
    for text, sentences, occurrence in items:
        merged.setdefault(text, (sentences, []))[1].append(occurrence)
    return [
        Passage(passage_id(text), text, sentences, tuple(occurrences))
        for text, (sentences, occurrences) in merged.items()
    ]


def build_passages(
    docs: Iterable[CleanDocument], count_tokens: TokenCounter, max_tokens: int, overlap: int = 0
) -> list[Passage]:
    """Passages of all documents, each text stored once."""
    return merge_passages(item for doc in docs for item in document_passages(doc, count_tokens, max_tokens, overlap))
