"""Turn raw text into clean paragraphs: Unicode, whitespace, Markdown syntax, page boilerplate.

The rules are general patterns of captured web pages, not lists of the strings one corpus has:
widget/icon names, asset credits, "card" listings of other items, short navigation labels,
lines a template repeats, running headers, pull-quotes and paragraphs split by page breaks.

Markdown rules (emphasis, links, code spans, escapes, fences, tables) apply only to text that is
Markdown: .md files and HTML (extracted as Markdown). A .txt, .pdf or .docx keeps its characters:
`**`, backticks and `[x](y)` there are what the source says. Every line left out is recorded with
its reason when asked (`dropped=`), which `verbatim show FILE --dropped` prints.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import numpy as np

from ingest.extracted import PAGE_BREAK
from ingest.records import CleanDocument, Paragraph, RawDocument

# Zero-width characters, soft hyphens and bidi embeddings/overrides/isolates: no words in them, and
# an override makes a terminal or page show text in another order than it is stored.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
NO_INDEXABLE_TEXT = "no indexable text (nothing is left once page furniture such as menus and icon names is removed)"
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
# Parentheses left holding only separators after their links were stripped, e.g. "( / )"; not the
# "()" of a call such as "leak()", which follows a word directly.
_EMPTY_PARENS = re.compile(r"(?:\s+|^)\(\s*[/|,;:·•-]?\s*\)")
_MD_QUOTE = re.compile(r"^(?:>\s?)+")
# Inline code: its text is kept exactly (no emphasis or escapes read into it), the backticks go.
_CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_SLOT = re.compile("\ue000(\\d+)\ue001")
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


# Files whose text is Markdown: written so (.md) or extracted so (HTML: trafilatura's Markdown output).
MARKDOWN_SUFFIXES = (".md", ".markdown", ".html", ".htm")


@dataclass(frozen=True)
class Dropped:
    """Text that cleaning left out of the index, and why."""

    text: str
    reason: str


NO_WORDS = "no letter or digit: a rule or separator line"
CARD = "a listing card of another item: its title printed twice around an image label, down to its icon line"
ICON = "an icon name rendered as text"
PAGE_NUMBER = "a printed page number"
CREDIT = "a credit line for a web asset"
NAVIGATION = "a navigation label: only words of page furniture"
TEMPLATE = "a short line repeated 3 or more times: template text"
RUNNING_HEADER = "a running header: a short all-capitals line"
REPEATED = "repeats, word for word, text that stands earlier in the document (a pull-quote or a copy)"


def is_markdown(file: str) -> bool:
    """True when the text of `file` is Markdown, by its type (see MARKDOWN_SUFFIXES)."""
    return PurePosixPath(file).suffix.lower() in MARKDOWN_SUFFIXES


def normalize_characters(text: str) -> str:
    """NFC, no zero-width or control characters, Unix newlines; spacing left as it is (code needs it)."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    return _CONTROL.sub("", text)


def normalize_line(line: str) -> str:
    """One line of prose: single spaces, no edge spaces."""
    return _SPACES.sub(" ", line.replace("\t", " ")).strip()


def normalize_unicode(text: str) -> str:
    """NFC, no zero-width or control characters, Unix newlines, single spaces, no edge spaces."""
    return "\n".join(normalize_line(line) for line in normalize_characters(text).split("\n"))


def strip_markdown(line: str) -> str:
    """Remove Markdown syntax from one line, keeping the words it decorated (and code as written)."""
    code: list[str] = []
    # Each pattern runs only when a character it needs is in the line: most prose lines need none
    # of them, and a 20 MB file has a hundred thousand lines.
    if "`" in line and "\ue000" not in line:

        def hold(match: re.Match) -> str:
            code.append(match.group(2).strip() or match.group(2))
            return f"\ue000{len(code) - 1}\ue001"

        line = _CODE_SPAN.sub(hold, line)
    if line.startswith("#"):
        line = _MD_HEADING.sub("", line)
    if line.startswith(">"):
        line = _MD_QUOTE.sub("", line)
    if "](" in line:
        line = _MD_LINK.sub(r"\1", _MD_IMAGE.sub(r"\1", line))
    if "**" in line or "__" in line:
        line = _MD_STRONG.sub(r"\2", line)
    if "*" in line or "_" in line:
        line = _MD_EMPHASIS.sub(lambda m: m.group(1) or m.group(2), line)
        line = _MD_STRAY_STRONG.sub("", line)
    if "\\" in line:
        line = _MD_ESCAPE.sub(r"\1", line)
    if "(" in line:
        line = _EMPTY_PARENS.sub("", line)
    if "," in line:
        line = _DOUBLE_COMMA.sub(",", line)
    line = _SPACES.sub(" ", line).strip()
    return _SLOT.sub(lambda m: code[int(m.group(1))], line) if code else line


def _words(line: str) -> list[str]:
    return re.findall(r"[^\W_]+", line.lower())


def _is_short_label(line: str, max_words: int) -> bool:
    if len(line) > 40 * max_words:
        return False  # no need to count the words of a long paragraph
    return 0 < len(_words(line)) <= max_words and not _TERMINAL.search(line)


def is_icon_token(line: str) -> bool:
    """An icon-font ligature name rendered as text, e.g. a Material icon name."""
    return bool(_ICON_TOKEN.match(line))


_CREDIT_WORD = re.compile(r"\b(?:by|from|via|credits?|courtesy|powered|photo|image|icons?|animation|loader)\b|©", re.IGNORECASE)


def is_asset_credit(line: str) -> bool:
    """A short credit line naming a web domain, e.g. "loader from loading.io" (a line giving a
    website as content, "Website vessby.org", has no credit word and stays)."""
    return _is_short_label(line, 6) and bool(_DOMAIN.search(line)) and bool(_CREDIT_WORD.search(line))


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
    if not _is_short_label(line, 4):
        return False
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


_PAGE_LABEL = re.compile(r"^page\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^[-–—]\s*\d{1,4}\s*[-–—]$", re.IGNORECASE)


def is_page_number(line: str, paged: bool = True) -> bool:
    """A printed page number: "Page 3 of 10", "- 4 -", and in paged text (PDF) also "12" or "3/10"
    (elsewhere a bare number on its line may be content: a year, a count in a list)."""
    return bool((_PAGE_NUMBER if paged else _PAGE_LABEL).match(line))


def _drop_cards(lines: list[str], max_card_lines: int = 12, dropped: list[Dropped] | None = None) -> list[str]:
    """Remove listing cards: from an alt-text-duplicated title line to the icon line closing it."""
    kept: list[str] = []
    i = 0
    while i < len(lines):
        if "\n" not in lines[i] and is_alt_text_duplicate(lines[i]):
            end = next(
                (j for j in range(i + 1, min(len(lines), i + max_card_lines)) if is_icon_token(lines[j])),
                i,
            )
            kept.extend(line for line in lines[i + 1 : end + 1] if line == PAGE_BREAK)
            if dropped is not None:
                dropped.extend(Dropped(line, CARD) for line in lines[i : end + 1] if _is_text_line(line))
            i = end + 1
            continue
        kept.append(lines[i])
        i += 1
    return kept


def _is_text_line(line: str) -> bool:
    return bool(line) and line != PAGE_BREAK


def _stands_alone(lines: list[str], i: int) -> bool:
    """True when the nearest text lines before and after line `i` are not short lines: a line
    between two paragraphs (where a page header lands), not one of a list, table or fact sheet."""
    before = next((lines[j] for j in range(i - 1, -1, -1) if _is_text_line(lines[j])), None)
    after = next((lines[j] for j in range(i + 1, len(lines)) if _is_text_line(lines[j])), None)
    return all(n is None or "\n" in n or not _is_short_label(n, 14) for n in (before, after))


def _furniture(lines: list[str], i: int, paged: bool, counts: Counter, first_content: int) -> str:
    """Why line `i` is page furniture ("" when it is not)."""
    line = lines[i]
    if is_icon_token(line):
        return ICON
    if is_page_number(line, paged):
        return PAGE_NUMBER
    if is_asset_credit(line):
        return CREDIT
    if is_navigation(line):
        return NAVIGATION
    if counts[line] >= 3 and _is_short_label(line, 8):
        return TEMPLATE
    if i > first_content and is_running_header(line) and (counts[line] >= 2 or _stands_alone(lines, i)):
        return RUNNING_HEADER
    return ""


def remove_boilerplate(lines: list[str], dropped: list[Dropped] | None = None) -> list[str]:
    """Drop page furniture lines; blank lines are kept as paragraph separators. Code blocks and
    tables (multi-line items) are content and are never dropped. Each line dropped is added to
    `dropped`, with its reason, when a list is given."""
    paged = PAGE_BREAK in lines
    # Counted before cards go: a label repeated by every card is template text wherever it stands.
    counts = Counter(line for line in lines if line)
    lines = _drop_cards(lines, dropped=dropped)
    first_content = next((i for i, line in enumerate(lines) if line and not is_asset_credit(line)), 0)
    kept = []
    for i, line in enumerate(lines):
        if line and line != PAGE_BREAK and "\n" not in line:
            reason = _furniture(lines, i, paged, counts, first_content)
            if reason:
                if dropped is not None:
                    dropped.append(Dropped(line, reason))
                continue
        kept.append(line)
    return kept


def _ends_sentence(text: str) -> bool:
    return bool(_TERMINAL.search(text))


def _full_width(lines: list[str]) -> float:
    """The length of a full line of hard-wrapped text (90th percentile of line lengths)."""
    lengths = sorted(len(line) for line in lines if _is_text_line(line) and "\n" not in line)
    return float(lengths[int(0.9 * (len(lengths) - 1))]) if lengths else 0.0


def group_paragraphs(lines: list[str]) -> list[tuple[str, int | None]]:
    """Group lines into (paragraph, page) pairs; pages are counted at PAGE_BREAK lines.

    A line break ends a paragraph unless the text plainly runs on (no sentence end before it and a
    lower-case word after it), which also re-joins paragraphs a page break split in two. Paged text
    (PDF) is hard-wrapped: there a line also continues the paragraph when the line before it was
    full width, and a word hyphenated across lines is mended. Linear in the text's length: a
    paragraph is kept as its lines and joined once.
    """
    paged = PAGE_BREAK in lines
    width = _full_width(lines) if paged else 0.0
    page = 1
    paragraphs: list[tuple[list[str], int | None]] = []  # (pieces, page): pieces joined at the end
    words = 0  # words in the open paragraph, counted up to what the rule needs
    previous_blank = True
    previous_full = False
    for line in lines:
        if line == PAGE_BREAK:
            page += 1
            previous_blank = True
            continue
        if not line or "\n" in line:
            if line:  # a code block or table: a paragraph of its own, never joined to prose
                paragraphs.append(([line], page if paged else None))
                words = 0
            previous_blank = True
            previous_full = False
            continue
        last = paragraphs[-1][0][-1] if paragraphs else ""
        runs_on = paragraphs and "\n" not in last and (
            (not _ends_sentence(last) and line[:1].islower() and (not previous_blank or words > 8))
            or (paged and previous_full and not previous_blank)
        )
        if runs_on and paged and last.endswith("-") and line[:1].islower():
            paragraphs[-1][0][-1] = last[:-1] + line
        elif runs_on:
            paragraphs[-1][0].append(line)
        else:
            paragraphs.append(([line], page if paged else None))
            words = 0
        if words <= 8:
            words += len(_words(line))
        previous_blank = False
        previous_full = paged and len(line) >= 0.7 * width
    return [(" ".join(pieces), page) for pieces, page in paragraphs]


def _fold(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def drop_repeated_paragraphs(
    paragraphs: list[tuple[str, int | None]], min_words: int = 8, dropped: list[Dropped] | None = None
) -> list[tuple[str, int | None]]:
    """Drop a paragraph whose words already stand, in that order, earlier in the document (a
    pull-quote, or the same paragraph twice; the first time stays).

    Earlier text is indexed by its runs of `min_words` words, so each paragraph is compared only
    where its opening words occur: linear in the document, not quadratic. Only runs that open some
    paragraph can ever be looked up, so only those are indexed (_opening_runs finds them).
    """
    words_of = [_fold(paragraph).split() for paragraph, _ in paragraphs]
    openings = {tuple(words[:min_words]) for words in words_of if len(words) >= min_words}
    kept: list[tuple[str, int | None]] = []
    seen: list[str] = []  # every kept paragraph's folded words, in order
    where: dict[tuple[str, ...], list[int]] = {}  # opening words -> positions in `seen`

    def index(run: tuple[str, ...], at: int) -> None:
        if run in openings:
            positions = where.setdefault(run, [])
            if len(positions) < 32:  # a run repeated this often is template text; the first ones suffice
                positions.append(at)

    for (paragraph, page), words, offsets in zip(paragraphs, words_of, _opening_runs(words_of, openings, min_words), strict=True):
        n = len(words)
        if n >= min_words:
            opening, last, end = tuple(words[:min_words]), words[-1], len(seen) - n
            # The last word first: where a common opening stands, it rules out most places without a copy.
            if any(at <= end and seen[at + n - 1] == last and seen[at : at + n] == words for at in where.get(opening, ())):
                if dropped is not None:
                    dropped.append(Dropped(paragraph, REPEATED))
                continue
        kept.append((paragraph, page))
        base = len(seen)
        seen.extend(words)
        # Runs that start in the kept text before this paragraph and end in it (across the place of a
        # dropped paragraph too), then the runs inside it, in the order of their positions.
        for at in range(max(0, base - min_words + 1), min(base, len(seen) - min_words + 1)):
            index(tuple(seen[at : at + min_words]), at)
        for offset in offsets:
            index(tuple(words[offset : offset + min_words]), base + offset)
    return kept


_RUN_MULTIPLIER = np.uint64(1_000_003)


def _run_hashes(columns: list[np.ndarray]) -> np.ndarray:
    """One hash per run of words, from `columns[j]`: the Python hash of each run's j-th word (as uint64;
    the arithmetic wraps mod 2**64). The same formula for every run of a text and for the openings."""
    runs = np.zeros(len(columns[0]), dtype=np.uint64)
    for column in columns:
        runs = runs * _RUN_MULTIPLIER + column
    return runs


def _opening_runs(words_of: list[list[str]], openings: set[tuple[str, ...]], min_words: int) -> list[list[int]]:
    """For each paragraph, the offsets of its runs of `min_words` words whose hash is that of some
    paragraph's opening (the caller checks the words): every run is hashed at once by numpy instead
    of being built as a tuple, which took most of the time on a 20 MB text."""
    found: list[list[int]] = [[] for _ in words_of]
    lengths = np.fromiter(map(len, words_of), dtype=np.int64, count=len(words_of))
    total = int(lengths.sum())
    if not openings or total < min_words:
        return found
    word_hashes = np.fromiter(map(hash, itertools.chain.from_iterable(words_of)), dtype=np.int64, count=total).view(np.uint64)
    count = total - min_words + 1
    runs = _run_hashes([word_hashes[j : j + count] for j in range(min_words)])
    opening_words = np.array([[hash(word) for word in run] for run in openings], dtype=np.int64).view(np.uint64)
    wanted = np.sort(_run_hashes([opening_words[:, j] for j in range(min_words)]))
    at = np.minimum(np.searchsorted(wanted, runs), len(wanted) - 1)
    positions = np.flatnonzero(wanted[at] == runs)  # np.isin would sort all the runs first
    ends = np.cumsum(lengths)
    owners = np.searchsorted(ends, positions, side="right")
    offsets = positions - (ends[owners] - lengths[owners])
    inside = offsets + min_words <= lengths[owners]  # runs that end in the paragraph they start in
    for owner, offset in zip(owners[inside].tolist(), offsets[inside].tolist(), strict=True):
        found[owner].append(offset)
    return found


def is_heading(paragraph: str) -> bool:
    """A short line without a sentence end: a title, heading, byline, label or list item."""
    return "\n" not in paragraph and 0 < len(_words(paragraph)) <= 14 and not re.search(r"[.!?…][\"”’)]*$", paragraph)


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _closing_fence(lines: list[str], start: int, fence: str) -> int | None:
    """Index of the line closing a code fence opened at `start`, or None when it is never closed."""
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped.startswith(fence) and set(stripped) == {fence[0]}:
            return j
    return None


def code_block(lines: list[str]) -> str:
    """A fenced code block as written: indentation kept (tabs expanded), no blank or trailing space."""
    kept = [line.expandtabs(4).rstrip() for line in lines]
    kept = [line for line in kept if line.strip()]
    indent = min((len(line) - len(line.lstrip(" ")) for line in kept), default=0)
    return "\n".join(line[indent:] for line in kept)


def _is_table_delimiter(line: str) -> bool:
    """The |---|:--:| line under a Markdown table's header."""
    stripped = line.strip()
    return "|" in stripped and "-" in stripped and set(stripped) <= set("|:- ")


def table_cells(line: str) -> list[str]:
    """The cells of one Markdown table row, Markdown removed from each."""
    cells = _CELL_SPLIT.split(line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return [strip_markdown(normalize_line(cell.replace("\\|", "|"))) for cell in cells]


def table_rows(header: list[str], rows: list[list[str]]) -> str:
    """A table as text, one line per row, each cell labelled with its column's header:
    "Country: El Salvador | Prisoners: 119,000". A table without rows keeps its header line."""
    lines = []
    for cells in rows:
        labelled = [f"{name}: {cell}" if name else cell for name, cell in zip(header + [""] * len(cells), cells) if cell]
        if labelled:
            lines.append(" | ".join(labelled))
    return "\n".join(lines) if lines else " | ".join(cell for cell in header if cell)


def structure_lines(text: str, markdown: bool = True, dropped: list[Dropped] | None = None) -> list[str]:
    """Normalized lines of prose; in Markdown (`markdown`), its syntax removed and each code block and
    table one multi-line item. Plain text keeps every character but spacing.

    Code keeps its characters and indentation (the Markdown rules would read `__init__` as emphasis
    and `leak()` as an empty link); a table's rows keep their header as labels, so a row found alone
    still says what its numbers are. Fence and delimiter lines are syntax and go.
    """
    lines = normalize_characters(text).split("\n")
    if not markdown:
        return _with_words([normalize_line(line) for line in lines], dropped)
    items: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            close = _closing_fence(lines, i, fence.group(1))
            if close is not None:
                block = code_block(lines[i + 1 : close])
                if block:
                    items.extend(["", block, ""])
                i = close + 1
                continue
            i += 1  # a fence never closed is a stray marker, not the start of code to the end of the file
            continue
        if "|" in line and i + 1 < len(lines) and _is_table_delimiter(lines[i + 1]):
            header = table_cells(line)
            j = i + 2
            rows = []
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                rows.append(table_cells(lines[j]))
                j += 1
            items.extend(["", table_rows(header, rows), ""])
            i = j
            continue
        items.append(strip_markdown(normalize_line(line)))
        i += 1
    return _with_words(items, dropped)


def _with_words(items: list[str], dropped: list[Dropped] | None) -> list[str]:
    """The items that hold a letter or digit, blank lines and page breaks: a line without any ("---",
    "* * *", a stray "|---|") is layout, not text."""
    kept = [item for item in items if not item or item == PAGE_BREAK or any(ch.isalnum() for ch in item)]
    if dropped is not None and len(kept) < len(items):
        dropped.extend(Dropped(item, NO_WORDS) for item in items if item and item != PAGE_BREAK and not any(ch.isalnum() for ch in item))
    return kept


def clean_text(text: str, markdown: bool = True, dropped: list[Dropped] | None = None) -> list[tuple[str, int | None]]:
    """Raw text -> clean (paragraph, page) pairs; pages only for text with PAGE_BREAKs (PDF).
    `markdown`: the text is Markdown (its syntax goes); `dropped`: collects what is left out, and why."""
    lines: list[str] = []
    for number, page in enumerate(text.split(PAGE_BREAK)):
        if number:
            lines.append(PAGE_BREAK)
        lines.extend(structure_lines(page, markdown, dropped))
    paragraphs = group_paragraphs(remove_boilerplate(lines, dropped))
    return drop_repeated_paragraphs(paragraphs, dropped=dropped)


def dropped_text(raw: RawDocument) -> list[Dropped]:
    """Everything cleaning leaves out of `raw`'s indexed text, in the order it is found, with why."""
    dropped: list[Dropped] = []
    clean_text(raw.text, is_markdown(raw.file), dropped)
    return dropped


def clean_document(raw: RawDocument) -> CleanDocument:
    """RawDocument -> CleanDocument: paragraphs joined by blank lines, offsets recorded."""
    paragraphs = clean_text(raw.text, is_markdown(raw.file))
    spans: list[Paragraph] = []
    position = 0
    for paragraph, page in paragraphs:
        spans.append(Paragraph(position, position + len(paragraph), page))
        position += len(paragraph) + 2
    text = "\n\n".join(p for p, _ in paragraphs)
    title = raw.meta.title or next((p for p, _ in paragraphs if is_heading(p)), "") or raw.file
    meta = replace(raw.meta, title=title)
    return CleanDocument(raw.file, text, raw.fingerprint, meta, tuple(spans))
