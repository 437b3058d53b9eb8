"""`sources.toml`: citation metadata per source file, checked against a schema, written atomically.

One table per file (its path relative to the sources folder), with these keys only:
title, publisher, date, url, added, id (strings), authors (a list of names; one string is one name) and
metadata (an inline table of any fields filters read: `metadata = {year = 2024, tags = ["a", "b"]}`).
Any problem is one line naming the file, the line and the fix (MetadataError). Tables are added and
removed as text, so the comments and layout people gave the file survive; every write replaces the
whole file atomically (temporary file, fsync, rename), under the sources lock held by the caller.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import tomllib
from pathlib import Path

from ingest.records import MetadataValueError, SourceMeta, json_metadata

METADATA_FILE = "sources.toml"
# A sources folder's own trash: removed and replaced sources wait there (hidden, so never a source).
TRASH_FOLDER = ".trash"
STRING_FIELDS = ("title", "publisher", "date", "url", "added")
KNOWN_FIELDS = ("title", "authors", "publisher", "date", "url", "added", "id", "metadata")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_HEADER = re.compile(r"^\s*\[(?!\[)(.+?)\]\s*(?:#.*)?$")


class MetadataError(ValueError):
    """sources.toml cannot be used; the message names the file, the line and the fix."""


def _table_name(header_inside: str) -> str | None:
    try:
        parsed = tomllib.loads(f"[{header_inside}]\n")
    except tomllib.TOMLDecodeError:
        return None
    return next(iter(parsed), None)


def _key_name(line: str) -> str | None:
    """The key a `key = value` line sets ("" quotes removed), or None for other lines."""
    match = re.match(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""", line)
    if not match:
        return None
    key = match.group(1)
    return json.loads(key) if key.startswith('"') else key.strip("'")


def _locate(text: str) -> dict[tuple[str | None, str | None], int]:
    """1-based line of each table header (table, None) and each key (table, key); top level is table None."""
    lines: dict[tuple[str | None, str | None], int] = {}
    table: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _table_name(header.group(1))
            lines.setdefault((table, None), number)
            continue
        key = _key_name(line)
        if key is not None:
            lines.setdefault((table, key), number)
    return lines


def _kind(value: object) -> str:
    return {str: "a string", list: "a list", dict: "a table", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _field(path: Path, line: int, table: str, key: str, value: object) -> object:
    """The value of one key, checked: a string, or for authors a list of strings."""
    where = f"{path}, line {line}"
    if key == "authors":
        if isinstance(value, str):
            return (value,) if value.strip() else ()  # one name, never split into characters
        if isinstance(value, list) and all(isinstance(a, str) for a in value):
            return tuple(a for a in value if a.strip())
        raise MetadataError(
            f'{where}: authors of ["{table}"] must be a list of names, not {_kind(value)}; '
            f'write authors = ["First Author", "Second Author"]'
        )
    if key == "metadata":
        if not isinstance(value, dict):
            raise MetadataError(f'{where}: metadata of ["{table}"] must be a table, not {_kind(value)}; write metadata = {{year = 2024, tags = ["a", "b"]}}')
        try:
            return json_metadata(value)
        except MetadataValueError as exc:
            raise MetadataError(f'{where}: {exc}') from exc
    if key == "date" and isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()  # an unquoted TOML date is what people mean by a date
    if not isinstance(value, str):
        example = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        raise MetadataError(f'{where}: {key} of ["{table}"] must be a string, not {_kind(value)}; write {key} = {json.dumps(example, ensure_ascii=False)}')
    return value


def parse_metadata(text: str, path: Path) -> dict[str, SourceMeta]:
    """Metadata per file name from the text of `path`. Raises MetadataError (one line) on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        line = f", line {position.group(1)}" if position else ""
        what = _TOML_POSITION.sub("", message)
        duplicate = re.match(r"Cannot declare \('(.+)',\) twice", what)
        if duplicate:
            raise MetadataError(f'{path}{line}: the table ["{duplicate.group(1)}"] appears twice; delete one of them') from exc
        raise MetadataError(
            f'{path}{line}: not valid TOML ({what}); fix that line (text values in double quotes: title = "…")'
        ) from exc
    lines = _locate(text)
    metas: dict[str, SourceMeta] = {}
    for name, fields in data.items():
        if not isinstance(fields, dict):
            raise MetadataError(
                f'{path}, line {lines.get((None, name), 1)}: "{name}" is not inside a table; '
                f'put it under the header of the file it describes, e.g. ["report.pdf"]'
            )
        values: dict[str, object] = {}
        for key, value in fields.items():
            line = lines.get((name, key), lines.get((name, None), 1))
            if key not in KNOWN_FIELDS:
                close = difflib.get_close_matches(key, KNOWN_FIELDS, n=1, cutoff=0.6)
                hint = f'did you mean "{close[0]}"?' if close else f"known keys: {', '.join(KNOWN_FIELDS)}"
                raise MetadataError(f'{path}, line {line}: unknown key "{key}" in ["{name}"]; {hint}')
            values[key] = _field(path, line, name, key, value)
        metas[name] = SourceMeta(file=name, **values)
    return metas


def load_metadata(sources_dir: Path) -> dict[str, SourceMeta]:
    """Per-file metadata from `sources.toml`; a missing file means none. Raises MetadataError."""
    path = sources_dir / METADATA_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise MetadataError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    return parse_metadata(text, path)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def toml_value(value: object) -> str:
    """A JSON value as TOML text; tables inline (a `[file.metadata]` header would split the file's table).

    TOML has no null: a None field is left out of its table.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        raise MetadataValueError(f"{value} is not a number a metadata file can hold")
    if isinstance(value, (str, int, float)):
        return json.dumps(value, ensure_ascii=False)  # a JSON string or number is TOML's too
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        parts = [f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(parts) + "}"
    raise MetadataValueError(f"{value!r} is not a JSON value")


def table_text(name: str, fields: dict) -> str:
    """A `["name"]` table with `fields`, as TOML text."""
    lines = [f"\n[{json.dumps(name, ensure_ascii=False)}]"]
    for key, value in fields.items():
        if value is not None:
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def set_tables(sources_dir: Path, tables: dict[str, str]) -> None:
    """Put each table's text in the file, replacing the table of the same name if there is one, and drop
    the tables of names mapped to "" (caller holds the sources lock). One read and one atomic write for
    any number of tables: the Python API adds thousands of documents at once."""
    path = sources_dir / METADATA_FILE
    text = read_text(sources_dir)
    parse_metadata(text, path)  # never build on a broken file: the user fixes it first
    spans: dict[str, tuple[int, int]] = {}
    offset, name, start = 0, None, 0
    for line in text.splitlines(keepends=True):
        header = _HEADER.match(line.rstrip("\r\n"))
        if header:
            if name is not None:
                spans.setdefault(name, (start, offset))
            name, start = _table_name(header.group(1)), offset
        offset += len(line)
    if name is not None:
        spans.setdefault(name, (start, len(text)))
    replaced = sorted((spans[n] for n in tables if n in spans), reverse=True)
    for a, b in replaced:  # from the end, so earlier offsets stay right
        text = text[:a] + text[b:]
    added = "".join(t for t in tables.values() if t)
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomically(path, text + added)


def _table_span(text: str, name: str) -> tuple[int, int] | None:
    """[start, end) of the table headed `name` in the TOML text (up to the next header), if any."""
    offset = 0
    start = None
    for line in text.splitlines(keepends=True):
        header = _HEADER.match(line.rstrip("\r\n"))
        if header:
            if start is not None:
                return start, offset
            if _table_name(header.group(1)) == name:
                start = offset
        offset += len(line)
    return (start, len(text)) if start is not None else None


def read_text(sources_dir: Path) -> str:
    path = sources_dir / METADATA_FILE
    return path.read_text(encoding="utf-8-sig") if path.exists() else ""


def add_table(sources_dir: Path, name: str, table: str) -> None:
    """Append a table's text unless the file already has one for `name` (caller holds the sources lock)."""
    path = sources_dir / METADATA_FILE
    text = read_text(sources_dir)
    parse_metadata(text, path)  # never build on a broken file: the user fixes it first
    if _table_span(text, name) is None:
        write_atomically(path, (text if not text or text.endswith("\n") else text + "\n") + table)


def read_table(sources_dir: Path, name: str) -> str:
    """The text of `name`'s table ("" when there is none)."""
    text = read_text(sources_dir)
    span = _table_span(text, name)
    return text[span[0] : span[1]] if span else ""


def take_table(sources_dir: Path, name: str) -> str:
    """Remove `name`'s table from the file and return its text ("" when there was none)."""
    path = sources_dir / METADATA_FILE
    text = read_text(sources_dir)
    span = _table_span(text, name)
    if span is None:
        return ""
    before, after = text[: span[0]], text[span[1] :]
    if not after and before.endswith("\n\n"):
        before = before.rstrip("\n") + "\n"  # the last table's blank line goes with it: a table removed and added back 100 times leaves no 100 blank lines
    write_atomically(path, before + after)
    return text[span[0] : span[1]]


# ---------------------------------------------------------------- a date the document states

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_MONTH = r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DATE_FORMS = (
    re.compile(r"(?P<year>\d{4})-(?P<mm>\d{1,2})-(?P<day>\d{1,2})"),
    re.compile(rf"{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})", re.I),
    re.compile(rf"(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(?P<year>\d{{4}})", re.I),
    re.compile(rf"{_MONTH},?\s+(?P<year>\d{{4}})", re.I),
    re.compile(r"(?P<first>\d{1,2})[/.](?P<second>\d{1,2})[/.](?P<year>\d{4})"),
)
# A line that states when the document came out: a label, then the date and nothing else.
_DATE_LINE = re.compile(
    r"^\s*(?:published(?:\s+on)?|publication\s+date|date\s+(?:of\s+)?publi(?:shed|cation)|posted(?:\s+on)?"
    r"|release\s+date|released(?:\s+on)?|date)\s*[:\-–—]?\s*(?P<date>.{6,30}?)\s*\.?\s*$",
    re.I,
)
STATED_DATE_LINES = 40  # a publication date is stated near the top, not in the middle of the text


def _iso(year: int, month: int, day: int | None = None) -> str:
    """'YYYY-MM-DD' (or 'YYYY-MM'), or "" when no such day exists."""
    try:
        return dt.date(year, month, day or 1).isoformat()[: 10 if day else 7]
    except ValueError:
        return ""


def _date_value(text: str) -> str:
    """`text` (a whole date, nothing more) as ISO; a numeric date whose day and month could be swapped
    (10/09/2025) is kept as written, since only the document's country could tell them apart."""
    for form in _DATE_FORMS:
        m = form.fullmatch(text.strip())
        if not m:
            continue
        parts = m.groupdict()
        year = int(parts["year"])
        if parts.get("month"):
            return _iso(year, _MONTHS[parts["month"][:3].lower()], int(parts["day"]) if parts.get("day") else None)
        if parts.get("mm"):
            return _iso(year, int(parts["mm"]), int(parts["day"]))
        first, second = int(parts["first"]), int(parts["second"])
        if first <= 12 and second <= 12 and first != second:
            return text.strip() if _iso(year, first, second) else ""
        day, month = (first, second) if first > 12 else (second, first)
        return _iso(year, month, day)
    return ""


def stated_date(text: str) -> str:
    """The publication date the document states in a line of its own near its top ("Published: 3 March
    2024", "Release Date: 2025-10-09"), as ISO; "" when it states none. Dates inside sentences are events
    the text talks about, never taken for the document's date."""
    lines = [line for line in text.splitlines()[: STATED_DATE_LINES * 3] if line.strip()][:STATED_DATE_LINES]
    for line in lines:
        m = _DATE_LINE.match(line)
        if m:
            value = _date_value(m["date"])
            if value:
                return value
    return ""
