"""Cut clean documents into passages: whole sentences within a paragraph, under a token budget."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

from ingest.clean import is_heading
from ingest.records import CleanDocument, Occurrence, Passage, Span
from ingest.sentences import split_sentences

# Bumped whenever cleaning or cutting changes what becomes a passage: an index built by an older
# version is then stale, and its unchanged sources are read and cut again (vectors are still reused).
PASSAGE_RULES_VERSION = 5  # 3: Markdown rules for Markdown only (a .txt keeps its `**`, backticks, [x](y)); 4: DOCX table rows labelled by their headers;
# 5: a one-column CSV is never split at its commas, runs of short lines never cross a page (sheet, slide)

# Word pieces of each text, counted in one call (a batch is far cheaper than one call per text).
TokenCounter = Callable[[list[str]], list[int]]
PassageItem = tuple[str, tuple[Span, ...], Occurrence]


def passage_id(text: str) -> int:
    """A stable 63-bit id from the passage text, so the same text keeps its id across builds."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def _split_long_sentence(text: str, span: Span, count_tokens: TokenCounter, max_tokens: int) -> list[Span]:
    """Cut a sentence longer than the budget at word boundaries (tables, run-on lists, text without
    punctuation). Each word is counted once and pieces are filled greedily, so a sentence of any
    length costs one tokenizer call (plus a check of the pieces), not one per word per piece."""
    words = [(m.start() + span.start, m.end() + span.start) for m in re.finditer(r"\S+", text[span.start : span.end])]
    sizes = count_tokens([text[a:b] for a, b in words])
    runs: list[tuple[int, int]] = []
    start = 0
    while start < len(words):
        end, size = start + 1, sizes[start]
        while end < len(words) and size + sizes[end] <= max_tokens:
            size += sizes[end]
            end += 1
        runs.append((start, end))
        start = end
    # Word pieces add up across spaces for WordPiece; a tokenizer where they do not gets its
    # over-budget pieces halved until they fit (a single word is never cut).
    checked: list[tuple[int, int]] = []
    while runs:
        actual = count_tokens([text[words[a][0] : words[b - 1][1]] for a, b in runs])
        retry = []
        for (a, b), tokens in zip(runs, actual, strict=True):
            if tokens > max_tokens and b - a > 1:
                middle = (a + b) // 2
                retry += [(a, middle), (middle, b)]
            else:
                checked.append((a, b))
        runs = retry
    return [Span(words[a][0], words[b - 1][1]) for a, b in sorted(checked)]


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


def paragraph_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of one paragraph; in a code block or table (several lines) each line is one."""
    if "\n" not in text:
        return split_sentences(text, offset)
    spans = []
    for line in re.finditer(r"[^\n]+", text):
        stripped = line.group().strip()
        if stripped:
            start = offset + line.start() + line.group().index(stripped)
            spans.append(Span(start, start + len(stripped)))
    return spans


def sections(texts: list[str], pages: list[int | None] | None = None) -> list[tuple[list[int], str]]:
    """Paragraph indices packed together, each group with the heading it stands under.

    Heading-like lines (titles, bylines, dates, list items, fact-sheet lines: short, no sentence
    end) are neither dropped nor passages one by one: each run of them is packed into passages of
    its own, and the paragraphs after it record its first line (a title before its byline) as their
    heading until the next run. Body paragraphs stay passages of their own, so a paragraph two
    sources share under different headings is still stored once and cites both. A run ends where
    the page does (`pages`, one per text): a passage cites one page, so the rows of three sheets
    are never quoted as sheet 1.
    """
    groups: list[tuple[list[int], str]] = []
    run: list[int] = []
    heading = ""
    for i, text in enumerate(texts):
        if is_heading(text):
            if run and pages is not None and pages[i] != pages[run[-1]]:
                heading = texts[run[0]]
                groups.append((run, heading))
                run = []
            run.append(i)
            continue
        if run:
            heading = texts[run[0]]
            groups.append((run, heading))
        groups.append(([i], heading))
        run = []
    if run:
        groups.append((run, heading))
    return groups


def document_passages(
    doc: CleanDocument, count_tokens: TokenCounter, max_tokens: int, overlap: int = 0
) -> Iterable[PassageItem]:
    """(text, sentence spans relative to the text, occurrence) for each passage of one document.

    Every paragraph of the cleaned text is in some passage: nothing readable is left out.
    """
    texts = [doc.text[p.start : p.end] for p in doc.paragraphs]
    spans = [paragraph_sentences(text, p.start) for text, p in zip(texts, doc.paragraphs, strict=True)]
    counts = iter(count_tokens([doc.text[s.start : s.end] for paragraph in spans for s in paragraph]))
    sizes_of = [[next(counts) for _ in paragraph] for paragraph in spans]
    for members, heading in sections(texts, [p.page for p in doc.paragraphs]):
        sentences: list[Span] = []
        sizes: list[int] = []
        owner: list[int] = []  # paragraph index of each sentence
        for index in members:
            for span, size in zip(spans[index], sizes_of[index], strict=True):
                pieces = [span]
                if size > max_tokens:
                    pieces = _split_long_sentence(doc.text, span, count_tokens, max_tokens)
                    sizes.extend(count_tokens([doc.text[p.start : p.end] for p in pieces]))
                else:
                    sizes.append(size)
                sentences.extend(pieces)
                owner.extend([index] * len(pieces))
        for i, j in pack_sentences(sentences, sizes, max_tokens, overlap):
            start, end = sentences[i].start, sentences[j - 1].end
            relative = tuple(Span(s.start - start, s.end - start) for s in sentences[i:j])
            paragraph = doc.paragraphs[owner[i]]
            yield doc.text[start:end], relative, Occurrence(doc.file, start, end, owner[i] + 1, paragraph.page, heading)


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
