"""Spreadsheets (.xlsx, .xls, .ods, .csv) as text: each row a record labelled with its column headers.

A row becomes one block, "Row 7: Country: El Salvador | Population: 412,000", so a row found alone
still says what its numbers are ("Population 412,000" stays findable) and where it stands (the row
number as the spreadsheet shows it). Each sheet is a page (its number is the location of its rows)
and opens with a "Sheet: NAME" line; citations name the sheet ('sheet "Ports"'). Empty cells are left
out, except a formula cell without a saved value, shown empty in its column ("Total:"); values are
shown as the sheet shows them where the file says how (thousands separators, percentages, dates). A
hidden sheet is read and marked: "Sheet: NAME (hidden)", cited as 'sheet "NAME" (hidden)'.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from dataclasses import dataclass

from ingest.containers import check_ooxml_container, open_odf
from ingest.extracted import Extracted, FormatError, author_of, blocks_text, has_text, plain_reason
from ingest.limits import MAX_REPEATED_CELLS, check_zipped

HEADER_SCAN_ROWS = 20  # the header row is looked for among the first rows (titles and notes may come first)
MAX_COLUMNS = 1024  # ODS rows repeat empty cells to the sheet's edge; nothing real is this wide


@dataclass(frozen=True)
class Sheet:
    """One sheet's rows as cell texts, each with its 1-based row number; `blank` holds the (row number,
    cell index) of cells shown empty rather than left out (a formula without a saved value)."""

    name: str
    rows: list[tuple[int, list[str]]]
    hidden: bool = False
    blank: frozenset[tuple[int, int]] = frozenset()

    @property
    def label(self) -> str:
        """How citations name the sheet: 'sheet "Ports"', 'sheet "Costs" (hidden)'."""
        return (f'sheet "{self.name}"' if self.name else "sheet") + (" (hidden)" if self.hidden else "")


def _decimals(number_format: str) -> int:
    match = re.search(r"0\.(0+)", number_format)
    return len(match.group(1)) if match else 0


def cell_text(value: object, number_format: str = "") -> str:
    """A cell's value as text, formatted as the sheet shows it where `number_format` says so."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ", "minutes")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        decimals = _decimals(number_format)
        if "%" in number_format:
            return f"{value * 100:.{decimals}f}%"
        grouped = "," if "#,##" in number_format else ""
        if decimals or (isinstance(value, float) and not value.is_integer()):
            return f"{value:{grouped}.{decimals}f}" if decimals else f"{value:{grouped}.15g}".rstrip()
        return f"{int(value):{grouped}d}"
    return " ".join(str(value).split())


def _header_index(rows: list[tuple[int, list[str]]]) -> int | None:
    """The position of the header row: the first of the opening rows that is about as wide as the
    widest of them, all text (headers are names, not figures). None when no row qualifies."""
    opening = rows[:HEADER_SCAN_ROWS]
    widest = max((sum(1 for c in cells if c) for _, cells in opening), default=0)
    if widest < 2:
        return None
    for i, (_, cells) in enumerate(opening):
        filled = [c for c in cells if c]
        if len(filled) >= max(2, math.ceil(widest / 2)) and not any(_is_number(c) for c in filled):
            return i
    return None


_NUMBER = re.compile(r"^[-+]?[\d.,]+%?$")


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def row_blocks(sheet: Sheet, label_sheet: bool) -> list[str]:
    """A sheet as blocks: its name, then every non-empty row labelled with its number and headers."""
    rows = [(n, cells) for n, cells in sheet.rows if any(cells) or any(b[0] == n for b in sheet.blank)]
    if not rows:
        return []
    header_at = _header_index(rows)
    header = rows[header_at][1] if header_at is not None else []
    hidden = " (hidden)" if sheet.hidden else ""
    blocks = [f"Sheet: {sheet.name}{hidden}"] if sheet.name or hidden else []
    where = f"{sheet.name} row" if label_sheet and sheet.name else "Row"
    for i, (number, cells) in enumerate(rows):
        if i == header_at and len(rows) > 1:
            continue  # its names label every row below it
        names = header if header_at is not None and i > header_at else []
        labelled = [
            f"{names[j]}: {cell}".rstrip() if j < len(names) and names[j] else cell
            for j, cell in enumerate(cells)
            if cell or (number, j) in sheet.blank  # a formula without a saved value keeps its column, empty
        ]
        blocks.append(f"{where} {number}: " + " | ".join(labelled))
    return blocks


def sheets_text(sheets: list[Sheet], kind: str, paged: bool = True) -> str:
    """Every sheet a page of row blocks (a workbook of one sheet is paged too, so its rows cite sheet
    1); refuses a workbook without a single filled cell."""
    label = len(sheets) > 1
    pages = [row_blocks(sheet, label) for sheet in sheets]
    if not has_text(pages):
        raise FormatError(f"the {kind} has no filled cells")
    if paged and len(pages) == 1:
        pages.append([])
    return blocks_text(pages)


def workbook(sheets: list[Sheet], kind: str, title: str = "", authors: tuple[str, ...] = ()) -> Extracted:
    """A workbook's text, one page per sheet, each page cited by its sheet's name. Without a title of
    its own it is titled by its sheets' names (as a CSV by its columns'): cleaning would otherwise take
    its first line, "Sheet: NAME", and a row of another sheet would be cited under that name."""
    title = title or " · ".join(s.name for s in sheets if s.name)
    return Extracted(sheets_text(sheets, kind), title=title, authors=authors, page_labels=tuple(s.label for s in sheets))


# A formula element that closes its cell, or an empty value: the only shapes of a formula cell without
# a saved value. A sheet without them (every sheet Excel or LibreOffice saved) is not parsed a second time.
_NO_VALUE = re.compile(rb"</(?:\w+:)?f>\s*</(?:\w+:)?c>|<(?:\w+:)?f\b[^<>]*/>\s*</(?:\w+:)?c>|<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</")


def _may_lack_values(open_part) -> bool:
    """Whether a sheet's XML part holds a formula cell without a saved value (a byte scan, chunk by chunk)."""
    tail = b""
    with open_part() as part:
        while chunk := part.read(1 << 20):
            window = tail + chunk
            # Most sheets hold no formula at all: two substring tests instead of the regular expression.
            if (b"f>" in window or b"f " in window) and _NO_VALUE.search(window):
                return True
            tail = chunk[-256:]  # a match across two chunks
    return False


def _uncomputed_cells(worksheet) -> frozenset[tuple[int, int]]:
    """(row, column), both 1-based, of the cells of a read-only openpyxl worksheet that hold a formula
    without a saved value: openpyxl reads them as empty (data_only), yet the sheet shows a result there."""
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse  # defusedxml's when installed, as openpyxl reads

    cell_tag, row_tag = f"{{{SHEET_MAIN_NS}}}c", f"{{{SHEET_MAIN_NS}}}row"
    formula_tag, value_tag = f"{{{SHEET_MAIN_NS}}}f", f"{{{SHEET_MAIN_NS}}}v"
    open_part = getattr(worksheet, "_get_source", None)  # a read-only worksheet streams its XML part
    if open_part is None or not _may_lack_values(open_part):
        return frozenset()
    found = set()
    with open_part() as part:
        for _, element in iterparse(part, events=("end",)):
            if element.tag == cell_tag:
                if element.find(formula_tag) is not None and not element.findtext(value_tag) and element.get("r"):
                    found.add(coordinate_to_tuple(element.get("r")))
            elif element.tag == row_tag:
                element.clear()  # memory stays that of one row
    return frozenset(found)


# ---------------------------------------------------------------- .xlsx (openpyxl)


def extract_xlsx(data: bytes) -> Extracted:
    """Every worksheet of an Excel workbook (cached values of formulas), with its title and creator."""
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    check_ooxml_container(data, ".xlsx")
    check_zipped(data, "XLSX")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FormatError(f"corrupt or unreadable XLSX ({plain_reason(exc)})") from exc
    except Exception as exc:  # lxml and zip errors of damaged parts surface as their own types
        raise FormatError(f"corrupt or unreadable XLSX ({plain_reason(exc)})") from exc
    try:
        sheets = []
        for worksheet in book.worksheets:
            uncomputed = _uncomputed_cells(worksheet)
            # The size a sheet declares (<dimension ref="A1:XFD1048576"/>) is not trusted: openpyxl would
            # pad every missing row to it, a million rows of 16,384 cells from a 5 KB file. Without it,
            # rows are as wide as their last cell and missing rows come empty.
            worksheet.reset_dimensions()
            rows, blank = [], set()
            for row in worksheet.iter_rows():
                if not row:
                    continue  # a missing row (at most Excel's 1,048,576 of them): nothing to look at
                cells = [cell_text(c.value, getattr(c, "number_format", "") or "") for c in row[:MAX_COLUMNS]]
                number = next((c.row for c in row if getattr(c, "row", None)), None)
                empty = {j for j, c in enumerate(row[:MAX_COLUMNS]) if (getattr(c, "row", 0), getattr(c, "column", 0)) in uncomputed}
                if number is not None and (any(cells) or empty):
                    rows.append((number, cells))
                    blank.update((number, j) for j in empty)
            hidden = worksheet.sheet_state in ("hidden", "veryHidden")
            sheets.append(Sheet(worksheet.title, rows, hidden, frozenset(blank)))
        props = book.properties
        title, creator = props.title or "", props.creator
    except FormatError:
        raise
    except Exception as exc:  # a damaged sheet part fails while rows are read (read-only mode is lazy)
        raise FormatError(f"corrupt or unreadable XLSX ({plain_reason(exc)})") from exc
    finally:
        book.close()
    return workbook(sheets, "spreadsheet", title, author_of(creator))


# ---------------------------------------------------------------- .xls (xlrd)


def extract_xls(data: bytes) -> Extracted:
    """Every sheet of an Excel 97-2003 workbook (xlrd), dates as dates."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=False, on_demand=True)
    except xlrd.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise FormatError("encrypted XLS (password protected): save it without a password to index it") from exc
        raise FormatError(f"corrupt or unreadable XLS ({exc})") from exc
    except Exception as exc:  # struct and CompDoc errors of damaged files
        raise FormatError(f"corrupt or unreadable XLS ({plain_reason(exc)})") from exc
    sheets = []
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            rows = []
            for r in range(sheet.nrows):
                cells = []
                for c in range(min(sheet.ncols, MAX_COLUMNS)):
                    cell = sheet.cell(r, c)
                    value = cell.value
                    if cell.ctype == xlrd.XL_CELL_DATE:
                        value = xlrd.xldate.xldate_as_datetime(value, book.datemode)
                    elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                        value = bool(value)
                    elif cell.ctype in (xlrd.XL_CELL_ERROR, xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        value = None
                    cells.append(cell_text(value))
                if any(cells):
                    rows.append((r + 1, cells))
            sheets.append(Sheet(sheet.name, rows, hidden=getattr(sheet, "visibility", 0) != 0))  # 1 hidden, 2 very hidden
        author = getattr(book, "user_name", "")
    except Exception as exc:
        raise FormatError(f"corrupt or unreadable XLS ({plain_reason(exc)})") from exc
    finally:
        book.release_resources()
    return workbook(sheets, "spreadsheet", authors=author_of(author))


# ---------------------------------------------------------------- .ods (odfpy)


def _ods_cell(cell) -> str:
    from odf import teletype
    from odf.namespaces import OFFICENS

    kind = cell.attributes.get((OFFICENS, "value-type"))
    text = " ".join(teletype.extractText(cell).split())
    if text or kind is None:
        return text  # the text a cell shows is how the sheet formats its value
    value = cell.attributes.get((OFFICENS, "value")) or cell.attributes.get((OFFICENS, "date-value")) or ""
    return str(value)


def _hidden_table_styles(document) -> set[str]:
    """Names of the table styles that hide a table (style:table-properties table:display="false")."""
    from odf.namespaces import STYLENS, TABLENS
    from odf.style import Style, TableProperties

    styles = document.automaticstyles.getElementsByType(Style) if document.automaticstyles else []
    return {
        str(style.attributes.get((STYLENS, "name")))
        for style in styles
        if any(props.attributes.get((TABLENS, "display")) == "false" for props in style.getElementsByType(TableProperties))
    }


def extract_ods(data: bytes) -> Extracted:
    """Every table of an OpenDocument spreadsheet (repeated rows and cells expanded, empty ones skipped)."""
    from odf.namespaces import OFFICENS, TABLENS
    from odf.table import Table, TableRow

    document, title, authors = open_odf(data, "ODS")
    sheets = []
    try:
        hiding = _hidden_table_styles(document)
        expanded = 0
        for table in document.spreadsheet.getElementsByType(Table):
            rows, blank = [], set()
            number = 0
            for row in table.getElementsByType(TableRow):
                repeat = int(row.attributes.get((TABLENS, "number-rows-repeated"), 1) or 1)
                cells: list[str] = []
                empty: list[int] = []  # formula cells without a saved value: shown empty, in their column
                for cell in row.childNodes:
                    if cell.qname[1] not in ("table-cell", "covered-table-cell"):
                        continue
                    times = int(cell.attributes.get((TABLENS, "number-columns-repeated"), 1) or 1)
                    text = _ods_cell(cell) if cell.qname[1] == "table-cell" else ""  # a covered cell shows nothing
                    count = min(times, MAX_COLUMNS - len(cells))
                    if not text and cell.attributes.get((TABLENS, "formula")) and cell.attributes.get((OFFICENS, "value")) is None:
                        empty.extend(range(len(cells), len(cells) + count))
                    cells.extend([text] * count)
                    if len(cells) >= MAX_COLUMNS:
                        break
                if any(cells) or empty:
                    expanded += repeat * max(1, sum(1 for c in cells if c))
                    if expanded > MAX_REPEATED_CELLS:  # one row element may say "repeat me a million times"
                        raise FormatError(
                            f"the ODS's repeated rows expand to more than {MAX_REPEATED_CELLS:,} filled cells: refused"
                        )
                    for copy in range(repeat):
                        rows.append((number + copy + 1, list(cells)))
                        blank.update((number + copy + 1, j) for j in empty)
                number += repeat
            hidden = str(table.attributes.get((TABLENS, "style-name")) or "") in hiding
            sheets.append(Sheet(str(table.getAttribute("name") or ""), rows, hidden, frozenset(blank)))
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"corrupt or unreadable ODS ({plain_reason(exc)})") from exc
    return workbook(sheets, "spreadsheet", title, authors)


# ---------------------------------------------------------------- .csv


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """The rows of a CSV text, each with its 1-based number.

    Split by the sniffed delimiter only when every filled row splits into as many cells: a list of
    sentences with commas in them ("The Maple farm, near Ondra, has 6 oxen.") is one column, and
    splitting it would label one sentence with pieces of another. Otherwise each line is one cell,
    as written (its number is its line number)."""
    try:
        rows = list(enumerate(csv.reader(io.StringIO(text, newline=""), _dialect(text[:8192])), start=1))
    except csv.Error as exc:
        raise FormatError(f"malformed CSV ({exc})") from exc
    widths = {len(cells) for _, cells in rows if any(c.strip() for c in cells)}
    if len(widths) > 1:
        return [(n, [cell_text(line)]) for n, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1)]
    widest = max(widths, default=0)
    if widest > MAX_COLUMNS:
        raise FormatError(f"the CSV has {widest:,} columns: at most {MAX_COLUMNS:,} are read, so it is refused rather than cut")
    return [(n, [cell_text(c) for c in cells]) for n, cells in rows]


def extract_csv(data: bytes) -> Extracted:
    """A CSV file (encoding and delimiter detected) as one sheet; row numbers count the header as row 1."""
    from ingest.decode import decode_text

    rows = _csv_rows(decode_text(data))
    header_at = _header_index([r for r in rows if any(r[1])])
    # A CSV has no title of its own; its column names say what it lists better than its first row.
    title = " · ".join(c for c in [r for r in rows if any(r[1])][header_at][1] if c) if header_at is not None else ""
    return Extracted(sheets_text([Sheet("", rows)], "CSV file", paged=False), title=title)
