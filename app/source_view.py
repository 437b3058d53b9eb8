"""A source as a reader checks a citation against it: the whole cleaned text with numbered
paragraphs and pages, one passage in focus, and its neighbours one step away.

Everything comes from the live index version (documents.jsonl keeps each source's cleaned text, the
text every citation's offsets refer to), so what is shown is exactly what was quoted. The same model
renders the web app's source view (HTML) and `verbatim show` (terminal text).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import PurePosixPath

from app.present import escape, safe_url, who_and_when
from index.storage.store import IndexVersion
from ingest.ocr import OCR_LANGUAGES_NOTE, OCR_NOTE, ocr_pages
from ingest.records import PAGE_WORDS, Occurrence, SourceMeta

# Cleaning joins a document's paragraphs with one blank line (ingest/clean.py, clean_document) and no
# paragraph contains one, so splitting on it gives back the paragraphs citations number from 1
# (tests/test_source_view.py checks this against clean_document).
PARAGRAPH_SEPARATOR = "\n\n"

def page_name(file: str, page: int, meta: SourceMeta | None = None) -> str:
    """'p. 3', or 'slide 3', 'chapter 3' for the formats whose pages are those, or the page's own label
    ('sheet "Ports"', 'slide 3 (hidden)'): the words every citation uses (SourceMeta.page_label)."""
    return (meta or SourceMeta(file)).page_label(page)


def count_pages(file: str, pages: int) -> str:
    """'12 pages', '1 sheet', '3 slides'."""
    word = PAGE_WORDS.get(PurePosixPath(file).suffix.lower(), "page")
    return f"{pages} {word}{'' if pages == 1 else 's'}"


class SourceNotFound(LookupError):
    """No source of that name in the live index; the message lists the known ones."""


class LocationError(ValueError):
    """A paragraph or character range outside the source; the message gives the valid range."""


@dataclass(frozen=True)
class SourceParagraph:
    """A paragraph of the cleaned text: its number in citations (1-based), offsets and page (PDF)."""

    number: int
    start: int
    end: int
    page: int | None


@dataclass(frozen=True)
class Focus:
    """What the view shows highlighted: a character range and, inside it, the answering sentence(s)."""

    start: int
    end: int
    evidence: tuple[int, int] | None = None


@dataclass(frozen=True)
class SourceDocument:
    """One indexed source: metadata, cleaned text, fingerprint, paragraphs and its passages in reading order."""

    meta: SourceMeta
    text: str
    fingerprint: str
    paragraphs: tuple[SourceParagraph, ...]
    passages: tuple[Occurrence, ...]
    ocr_pages: tuple[int, ...] = ()  # pages whose text was recognized by OCR (a scan, an image)

    @property
    def file(self) -> str:
        return self.meta.file

    def ocr_notice(self) -> str:
        """What a reader must know of OCR'd text before quoting it ("" when none of it is)."""
        if not self.ocr_pages:
            return ""
        pages = self.pages or 1
        where = "" if len(self.ocr_pages) >= pages else f" on {', '.join(page_name(self.file, p, self.meta) for p in self.ocr_pages)}"
        return (
            f"The text{where} was recognized by OCR from the page image: a quote may differ from the page "
            f"(a misread letter or figure), so check it against the original. {OCR_LANGUAGES_NOTE}."
        )

    @property
    def pages(self) -> int | None:
        """The last page a paragraph is known to stand on (PDF), None for unpaged text."""
        known = [p.page for p in self.paragraphs if p.page is not None]
        return max(known) if known else None

    def paragraph(self, number: int) -> SourceParagraph:
        if not 1 <= number <= len(self.paragraphs):
            raise LocationError(
                f"paragraph {number} is out of range: {self.file} has {len(self.paragraphs)} paragraphs (1–{len(self.paragraphs)})"
            )
        return self.paragraphs[number - 1]

    def check_range(self, start: int, end: int) -> None:
        if start >= end:
            raise LocationError(f"characters {start}–{end}: the start must come before the end")
        if not 0 <= start < end <= len(self.text):
            raise LocationError(
                f"characters {start}–{end} are out of range: the cleaned text of {self.file} has "
                f"{len(self.text):,} characters (0–{len(self.text)})"
            )

    def paragraph_at(self, offset: int) -> SourceParagraph:
        """The paragraph holding `offset` (or the next one, for an offset on a paragraph break)."""
        for paragraph in self.paragraphs:
            if offset < paragraph.end:
                return paragraph
        return self.paragraphs[-1]

    def neighbours(self, start: int, end: int) -> tuple[Occurrence | None, Occurrence | None]:
        """The passages just before and just after the range [start, end), in reading order."""
        before = [o for o in self.passages if o.start < start or (o.start == start and o.end < end)]
        after = [o for o in self.passages if o.start > start or (o.start == start and o.end > end)]
        return (before[-1] if before else None), (after[0] if after else None)

    def focus_passage(self, start: int, end: int) -> Occurrence | None:
        """The passage exactly at [start, end), if there is one."""
        return next((o for o in self.passages if (o.start, o.end) == (start, end)), None)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each paragraph of a cleaned text."""
    spans, position = [], 0
    for paragraph in text.split(PARAGRAPH_SEPARATOR):
        spans.append((position, position + len(paragraph)))
        position += len(paragraph) + len(PARAGRAPH_SEPARATOR)
    return spans


def _pages(count: int, known: dict[int, int | None]) -> list[int | None]:
    """Page of each paragraph: from the passages cut from it; a paragraph without passages (a heading)
    takes the page of the next paragraph that has one (a heading opens what follows it), else the previous."""
    if not any(page is not None for page in known.values()):
        return [None] * count
    pages: list[int | None] = [known.get(n) for n in range(1, count + 1)]
    following: int | None = None
    for i in range(count - 1, -1, -1):
        if pages[i] is None:
            pages[i] = following
        following = pages[i]
    preceding: int | None = None
    for i in range(count):
        if pages[i] is None:
            pages[i] = preceding
        preceding = pages[i]
    return pages


def _paragraph_pages(spans: list[tuple[int, int]], occurrences: list[Occurrence]) -> dict[int, int | None]:
    """Paragraph number -> the page of the passages covering it. A passage of several short lines (rows,
    a title and its byline) covers them all, and never crosses a page (ingest/passages.py, sections)."""
    starts = [a for a, _ in spans]
    known: dict[int, int | None] = {}
    for o in occurrences:
        i = max(0, bisect.bisect_right(starts, o.start) - 1)
        while i < len(spans) and spans[i][0] < o.end:
            known.setdefault(i + 1, o.page)
            i += 1
    return known


def find_source(index: IndexVersion, name: str) -> str:
    """The indexed file `name` refers to: its exact name; else the indexed path that `name` ends in (like
    sources/a/readme.txt for a/readme.txt; the longest when several do); else the one indexed path that
    ends in `name` (a base name, or the end of a subfolder path). Paths are compared by whole components,
    so cba/readme.txt never opens a/readme.txt. Raises SourceNotFound."""
    if name in index.sources:
        return name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    indexed = {file: PurePosixPath(file).parts for file in index.sources}
    in_path = [file for file, own in indexed.items() if _ends_with(parts, own)]
    if in_path:
        # Each is a tail of the same path, so their lengths differ: the longest is the most specific.
        return max(in_path, key=lambda file: len(indexed[file]))
    ending_in = [file for file, own in indexed.items() if _ends_with(own, parts)]
    if len(ending_in) == 1:
        return ending_in[0]
    known = ", ".join(sorted(index.sources)) or "none"
    raise SourceNotFound(f"no source named {name!r} in the index (sources: {known})")


def _ends_with(path: tuple[str, ...], tail: tuple[str, ...]) -> bool:
    """True when the components of `path` end with all of `tail`'s (a non-empty tail)."""
    return 0 < len(tail) <= len(path) and path[-len(tail) :] == tail


def source_document(index: IndexVersion, name: str) -> SourceDocument:
    """The source `name` of an index version, ready to show. Raises SourceNotFound."""
    file = find_source(index, name)
    record = index.sources[file]
    occurrences = sorted(
        (o for p in index.passages for o in p.occurrences if o.file == file), key=lambda o: (o.start, o.end)
    )
    spans = paragraph_spans(record.text)
    pages = _pages(len(spans), _paragraph_pages(spans, occurrences))
    paragraphs = tuple(SourceParagraph(n, a, b, page) for n, ((a, b), page) in enumerate(zip(spans, pages), start=1))
    # The note is read from the file's own title (ingest/ocr.py), which an edited sidecar title cannot hide.
    known_pages = max((p for p in pages if p is not None), default=None)
    recognized = tuple(ocr_pages(record.own_meta.title, known_pages) or ())
    return SourceDocument(record.meta, record.text, record.fingerprint, paragraphs, tuple(occurrences), recognized)


def locate(
    index: IndexVersion,
    doc: SourceDocument,
    start: int | None = None,
    end: int | None = None,
    passage_id: int | None = None,
    evidence: tuple[int, int] | None = None,
    paragraph: int | None = None,
) -> tuple[Focus | None, str]:
    """The focus a link asks for, and a notice when it could not be honoured exactly.

    A passage id finds the passage even when a rebuild moved it; `evidence` is relative to the
    passage start. Raises LocationError for a paragraph or range outside the source.
    """
    notice = ""
    if passage_id is not None:
        row = index.row_of_id.get(passage_id)
        places = [o for o in index.passages[row].occurrences if o.file == doc.file] if row is not None else []
        if places:
            here = next((o for o in places if (o.start, o.end) == (start, end)), None)
            if here is None:
                here = places[0]
                if start is not None:
                    notice = "The source was re-indexed since this link was made; the passage is shown where it now stands."
            start, end = here.start, here.end
        elif start is not None:
            notice = (
                "This passage is no longer in the source as indexed (the file changed since the answer was given); "
                "the same characters of the current text are shown."
            )
            evidence = None
    if paragraph is not None:
        found = doc.paragraph(paragraph)
        return Focus(found.start, found.end), notice
    if start is None or end is None:
        return None, notice
    doc.check_range(start, end)
    if evidence is not None:
        a, b = max(0, evidence[0]), min(end - start, evidence[1])
        evidence = (start + a, start + b) if a < b else None
    return Focus(start, end, evidence), notice


def location_label(doc: SourceDocument, start: int, end: int) -> str:
    """'¶ 12 (p. 3), chars 100–200' for a range of the source."""
    first, last = doc.paragraph_at(start), doc.paragraph_at(max(start, end - 1))
    numbers = f"¶ {first.number}" if first is last else f"¶ {first.number}–{last.number}"
    page = f" ({page_name(doc.file, first.page, doc.meta)})" if first.page is not None else ""
    ocr = f", {OCR_NOTE}" if first.page in doc.ocr_pages else ""
    return f"{numbers}{page}, chars {start}–{end}{ocr}"


def focus_label(doc: SourceDocument, focus: Focus | None) -> str:
    """'Title · ¶ 6, chars 100–200 · passage 5 of 50': where the reader is, for the view's bar."""
    title = doc.meta.title or doc.file
    if focus is None:
        return f"{title} · {len(doc.paragraphs)} paragraphs"
    parts = [title, location_label(doc, focus.start, focus.end)]
    passage = doc.focus_passage(focus.start, focus.end)
    if passage is not None:
        parts.append(f"passage {doc.passages.index(passage) + 1} of {len(doc.passages)}")
    return " · ".join(parts)


# --- HTML (web app) -------------------------------------------------------------------------------


def _segments(start: int, end: int, focus: Focus | None) -> list[tuple[int, int, bool, bool]]:
    """[start, end) cut where the focus or the evidence begins or ends: (a, b, in focus, in evidence)."""
    cuts = {start, end}
    if focus is not None:
        bounds = [focus.start, focus.end, *(focus.evidence or ())]
        cuts.update(c for c in bounds if start < c < end)
    points = sorted(cuts)
    pieces = []
    for a, b in zip(points, points[1:]):
        in_focus = focus is not None and focus.start <= a and b <= focus.end
        in_evidence = focus is not None and focus.evidence is not None and focus.evidence[0] <= a and b <= focus.evidence[1]
        pieces.append((a, b, in_focus, in_evidence))
    return pieces


def _paragraph_html(doc: SourceDocument, paragraph: SourceParagraph, focus: Focus | None, first_mark: list[bool]) -> str:
    parts = []
    for a, b, in_focus, in_evidence in _segments(paragraph.start, paragraph.end, focus):
        text = escape(doc.text[a:b])
        if not in_focus:
            parts.append(text)
            continue
        anchor = ' id="vb-focus"' if not first_mark[0] else ""
        first_mark[0] = True
        css = "vb-focus vb-evidence" if in_evidence else "vb-focus"
        parts.append(f'<mark class="{css}"{anchor}>{text}</mark>')
    in_view = focus is not None and paragraph.start < focus.end and focus.start < paragraph.end
    css = "vb-para vb-para-focus" if in_view else "vb-para"
    return (
        f'<p class="{css}" id="vb-p-{paragraph.number}"><span class="vb-pnum">¶ {paragraph.number}</span> '
        f'{"".join(parts)}</p>'
    )


def source_html(doc: SourceDocument, focus: Focus | None = None, notice: str = "", page_image: str = "") -> str:
    """The whole source as inert HTML: header, optional page image (a data: URL), numbered paragraphs,
    page marks, and the focus highlighted (answering sentence(s) marked more strongly) with id vb-focus."""
    meta = doc.meta
    head = [f'<h2 class="vb-doc-title">{escape(meta.title or doc.file)}</h2>']
    byline = who_and_when(meta)
    if byline:
        head.append(f'<p class="vb-doc-meta">{escape(byline)}</p>')
    url = safe_url(meta.url)
    link = (
        f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{escape(meta.url)}</a>'
        if url
        else escape(meta.url)
    )
    facts = [link] if meta.url else []
    facts.append(f"file {escape(doc.file)}")
    facts.append(f"{len(doc.paragraphs)} paragraphs")
    if doc.pages:
        facts.append(count_pages(doc.file, doc.pages))
    head.append(f'<p class="vb-doc-meta">{" · ".join(facts)}</p>')
    if focus is not None:
        passage = doc.focus_passage(focus.start, focus.end)
        what = "Cited passage" if passage else "Selected text"
        head.append(f'<p class="vb-doc-where">{what}: {escape(location_label(doc, focus.start, focus.end))}</p>')
    if notice:
        head.append(f'<p class="vb-doc-notice">{escape(notice)}</p>')
    if doc.ocr_pages:
        head.append(f'<p class="vb-doc-notice vb-ocr">{escape(doc.ocr_notice())}</p>')
    body = []
    page: int | None = None
    first_mark = [False]
    for paragraph in doc.paragraphs:
        if paragraph.page is not None and paragraph.page != page:
            page = paragraph.page
            ocr = f" · {OCR_NOTE}" if page in doc.ocr_pages else ""
            body.append(f'<div class="vb-page-mark" id="vb-page-{page}">{escape(page_name(doc.file, page, doc.meta))}{ocr}</div>')
        body.append(_paragraph_html(doc, paragraph, focus, first_mark))
    figure = ""
    if page_image:
        number = doc.paragraph_at(focus.start).page if focus else 1
        figure = (
            f'<details class="vb-page-image" open><summary>Original page {number} of {escape(doc.file)}</summary>'
            f'<img src="{page_image}" alt="Page {number} of the original file"></details>'
        )
    return (
        f'<article class="vb-doc"><header class="vb-doc-head">{"".join(head)}</header>{figure}'
        f'<div class="vb-doc-text">{"".join(body)}</div></article>'
    )


# --- terminal (verbatim show) ---------------------------------------------------------------------


def source_text(doc: SourceDocument, first: int = 1, last: int | None = None, focus: Focus | None = None) -> str:
    """Paragraphs `first`..`last` with their numbers and page marks; the focus between »…«."""
    last = len(doc.paragraphs) if last is None else last
    focus = Focus(focus.start, focus.end) if focus is not None else None  # one »…« per paragraph, evidence or not
    meta = doc.meta
    lines = [meta.title or doc.file]
    byline = who_and_when(meta)
    if byline:
        lines.append(byline)
    if meta.url:
        lines.append(meta.url)
    pages = f", {count_pages(doc.file, doc.pages)}" if doc.pages else ""
    lines.append(f"{doc.file} · {len(doc.paragraphs)} paragraphs{pages}")
    if doc.ocr_pages:
        lines.append(doc.ocr_notice())
    if focus is not None:
        lines.append(f"showing: {location_label(doc, focus.start, focus.end)}")
    lines.append("")
    page: int | None = None
    for paragraph in doc.paragraphs[first - 1 : last]:
        if paragraph.page is not None and paragraph.page != page:
            page = paragraph.page
            ocr = f" ({OCR_NOTE})" if page in doc.ocr_pages else ""
            lines.append(f"--- {page_name(doc.file, page, doc.meta)}{ocr} ---")
        pieces = []
        for a, b, in_focus, _ in _segments(paragraph.start, paragraph.end, focus):
            pieces.append(f"»{doc.text[a:b]}«" if in_focus else doc.text[a:b])
        lines.append(f"¶ {paragraph.number}  {''.join(pieces)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
