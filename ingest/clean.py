"""Turn raw text into clean paragraphs: Unicode, whitespace, Markdown residue, page boilerplate.

The rules are general patterns of captured web pages, not lists of the strings one corpus has:
widget/icon names, asset credits, "card" listings of other items, short navigation labels,
lines a template repeats, running headers, pull-quotes and paragraphs split by page breaks.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import replace

from ingest.formats import PAGE_BREAK
from ingest.records import CleanDocument, Paragraph, RawDocument

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"[^\S\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# A link target may hold one level of parentheses: (https://en.wikipedia.org/wiki/X_(y)), (javascript:alert(1)).
_MD_TARGET = r"\((?:[^()\n]|\([^()\n]*\))*\)"
_MD_IMAGE = re.compile(r"!\[([^\]\n]*)\]" + _MD_TARGET)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]" + _MD_TARGET)
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])|(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_MD_STRAY_STRONG = re.compile(r"(?<!\S)(\*\*|__)(?=\S)|(?<=\S)(\*\*|__)(?!\S)")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!$|>~<])")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
# Parentheses left holding only separators after their links were stripped, e.g. "( / )".
_EMPTY_PARENS = re.compile(r"\s*\(\s*[/|,;:·•-]?\s*\)")
_DOUBLE_COMMA = re.compile(r",(\s*,)+")

_ICON_TOKEN = re.compile(r"^[a-z]+(?:_[a-z]+)+$")
_DOMAIN = re.compile(r"\b[a-z0-9-]+\.(?:io|com|org|net|js|dev|app|co|ly)\b", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^[-–—]\s*\d{1,4}\s*[-–—]$", re.IGNORECASE)
_TERMINAL = re.compile(r"[.!?…:;\"”’)\]]$")
# Words of a web page's own furniture: a short line made only of them is navigation, not content.
_UI_WORDS = frozenset(
    """
    available download downloads pdf print share email subscribe newsletter menu search login
    log sign in up out skip to content main navigation cookie cookies accept settings more less
    episodes episode related posts articles tags tag follow us back top home next previous prev
    remote visualization visualisation interactive embed view full image photo video audio
    description details listen play pause transcript comments comment reply loading loader show hide toggle close
    open copy link links rss feed all page of read also see
    """.split()
)


def normalize_unicode(text: str) -> str:
    """NFC, no zero-width or control characters, Unix newlines, single spaces, no edge spaces."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _CONTROL.sub("", text.replace("\t", " "))
    text = _SPACES.sub(" ", text)
    return "\n".join(line.strip() for line in text.split("\n"))


def strip_markdown(line: str) -> str:
    """Remove Markdown syntax from one line, keeping the words it decorated."""
    line = _MD_HEADING.sub("", line)
    line = _MD_IMAGE.sub(r"\1", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_STRONG.sub(r"\2", line)
    line = _MD_EMPHASIS.sub(lambda m: m.group(1) or m.group(2), line)
    line = _MD_STRAY_STRONG.sub("", line)
    line = _MD_ESCAPE.sub(r"\1", line)
    line = _EMPTY_PARENS.sub("", line)
    line = _DOUBLE_COMMA.sub(",", line)
    return _SPACES.sub(" ", line).strip()


def _words(line: str) -> list[str]:
    return re.findall(r"[^\W_]+", line.lower())


def _is_short_label(line: str, max_words: int) -> bool:
    return 0 < len(_words(line)) <= max_words and not _TERMINAL.search(line)


def is_icon_token(line: str) -> bool:
    """An icon-font ligature name rendered as text, e.g. a Material icon name."""
    return bool(_ICON_TOKEN.match(line))


def is_asset_credit(line: str) -> bool:
    """A short credit line naming a web domain, e.g. an animation library's attribution."""
    return _is_short_label(line, 6) and bool(_DOMAIN.search(line))


def is_navigation(line: str) -> bool:
    """A short line made only of web-page furniture words ("Share", "More Episodes")."""
    words = _words(line)
    return _is_short_label(line, 4) and all(w in _UI_WORDS for w in words)


def is_alt_text_duplicate(line: str) -> bool:
    """A listing title printed twice around an image's alt text: "T <label> T"."""
    words = line.split()
    for middle in (1, 2, 3):
        side = (len(words) - middle) // 2
        if side >= 2 and 2 * side + middle == len(words) and words[:side] == words[side + middle :]:
            return True
    return False


def is_running_header(line: str) -> bool:
    """A short all-capitals line such as a publication's running page header."""
    letters = [c for c in line if c.isalpha()]
    return _is_short_label(line, 4) and len(letters) >= 4 and all(c.isupper() for c in letters)


def is_page_number(line: str) -> bool:
    """A printed page number: "12", "Page 3 of 10", "- 4 -"."""
    return bool(_PAGE_NUMBER.match(line))


def _drop_cards(lines: list[str], max_card_lines: int = 12) -> list[str]:
    """Remove listing cards: from an alt-text-duplicated title line to the icon line closing it."""
    kept: list[str] = []
    i = 0
    while i < len(lines):
        if is_alt_text_duplicate(lines[i]):
            end = next(
                (j for j in range(i + 1, min(len(lines), i + max_card_lines)) if is_icon_token(lines[j])),
                i,
            )
            kept.extend(line for line in lines[i + 1 : end + 1] if line == PAGE_BREAK)
            i = end + 1
            continue
        kept.append(lines[i])
        i += 1
    return kept


def remove_boilerplate(lines: list[str]) -> list[str]:
    """Drop page furniture lines; blank lines are kept as paragraph separators."""
    # Counted before cards go: a label repeated by every card is template text wherever it stands.
    counts = Counter(line for line in lines if line)
    lines = _drop_cards(lines)
    first_content = next((i for i, line in enumerate(lines) if line and not is_asset_credit(line)), 0)
    kept = []
    for i, line in enumerate(lines):
        if line and (
            is_icon_token(line)
            or is_page_number(line)
            or is_asset_credit(line)
            or is_navigation(line)
            or (counts[line] >= 3 and _is_short_label(line, 8))
            or (i > first_content and is_running_header(line))
        ):
            continue
        kept.append(line)
    return kept


def _ends_sentence(text: str) -> bool:
    return bool(_TERMINAL.search(text))


def _full_width(lines: list[str]) -> float:
    """The length of a full line of hard-wrapped text (90th percentile of line lengths)."""
    lengths = sorted(len(line) for line in lines if line and line != PAGE_BREAK)
    return float(lengths[int(0.9 * (len(lengths) - 1))]) if lengths else 0.0


def group_paragraphs(lines: list[str]) -> list[tuple[str, int | None]]:
    """Group lines into (paragraph, page) pairs; pages are counted at PAGE_BREAK lines.

    A line break ends a paragraph unless the text plainly runs on (no sentence end before it and a
    lower-case word after it), which also re-joins paragraphs a page break split in two. Paged text
    (PDF) is hard-wrapped: there a line also continues the paragraph when the line before it was
    full width, and a word hyphenated across lines is mended.
    """
    paged = PAGE_BREAK in lines
    width = _full_width(lines) if paged else 0.0
    page = 1
    paragraphs: list[tuple[str, int | None]] = []
    previous_blank = True
    previous_full = False
    for line in lines:
        if line == PAGE_BREAK:
            page += 1
            previous_blank = True
            continue
        if not line:
            previous_blank = True
            previous_full = False
            continue
        last = paragraphs[-1][0] if paragraphs else ""
        runs_on = paragraphs and (
            (not _ends_sentence(last) and line[:1].islower() and (not previous_blank or len(_words(last)) > 8))
            or (paged and previous_full and not previous_blank)
        )
        if runs_on and paged and last.endswith("-") and line[:1].islower():
            paragraphs[-1] = (last[:-1] + line, paragraphs[-1][1])
        elif runs_on:
            paragraphs[-1] = (f"{last} {line}", paragraphs[-1][1])
        else:
            paragraphs.append((line, page if paged else None))
        previous_blank = False
        previous_full = paged and len(line) >= 0.7 * width
    return paragraphs


def _fold(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def drop_repeated_paragraphs(
    paragraphs: list[tuple[str, int | None]], min_words: int = 8
) -> list[tuple[str, int | None]]:
    """Drop a paragraph whose text already stands earlier in the document (a pull-quote)."""
    kept: list[tuple[str, int | None]] = []
    seen = ""
    for paragraph, page in paragraphs:
        folded = _fold(paragraph)
        if len(folded.split()) >= min_words and folded in seen:
            continue
        kept.append((paragraph, page))
        seen += " " + folded + " "
    return kept


def is_heading(paragraph: str) -> bool:
    """A short line without a sentence end: a title, heading, byline or label."""
    return 0 < len(_words(paragraph)) <= 14 and not re.search(r"[.!?…][\"”’)]*$", paragraph)


def clean_text(text: str) -> list[tuple[str, int | None]]:
    """Raw text -> clean (paragraph, page) pairs; pages only for text with PAGE_BREAKs (PDF)."""
    lines: list[str] = []
    for number, page in enumerate(text.split(PAGE_BREAK)):
        if number:
            lines.append(PAGE_BREAK)
        lines.extend(strip_markdown(line) for line in normalize_unicode(page).split("\n"))
    paragraphs = group_paragraphs(remove_boilerplate(lines))
    return drop_repeated_paragraphs(paragraphs)


def clean_document(raw: RawDocument) -> CleanDocument:
    """RawDocument -> CleanDocument: paragraphs joined by blank lines, offsets recorded."""
    paragraphs = clean_text(raw.text)
    spans: list[Paragraph] = []
    position = 0
    for paragraph, page in paragraphs:
        spans.append(Paragraph(position, position + len(paragraph), page))
        position += len(paragraph) + 2
    text = "\n\n".join(p for p, _ in paragraphs)
    title = raw.meta.title or next((p for p, _ in paragraphs if is_heading(p)), "") or raw.file
    meta = replace(raw.meta, title=title)
    return CleanDocument(raw.file, text, raw.fingerprint, meta, tuple(spans))
