"""How far a file may expand when read, checked before the work: a small file must not take minutes
and gigabytes (a 0.9 MB .docx can hold 300 MB of XML; a 454-byte PDF a 100 x 100 inch page).

Zipped documents (.docx .pptx .xlsx .ods .odt .epub) are checked from their zip directory and a
streamed count of their XML, never holding a whole part: the sizes the parts declare (Python's
zipfile never expands a part past its declared size), how much each part is compressed, and how
many XML elements they hold, since the DOM readers (python-docx, python-pptx, odfpy, lxml) spend
about 300-700 bytes and 0.02-0.5 ms per element. The caps are far above what real reports reach, so
only a file built to expand is refused. Pages and images for OCR are checked in ingest/ocr.py
against MAX_OCR_PIXELS.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from ingest.extracted import FormatError

MB = 1 << 20
MAX_UNZIPPED_BYTES = 512 * MB  # all parts together (python-docx and odfpy hold every part in memory)
MAX_RATIO = 100  # a part larger than RATIO_FREE_BYTES expanding more than this is built to expand
RATIO_FREE_BYTES = 10 * MB  # below this a part cannot hurt, however well it compresses
# What OCR renders or decodes at most: 100 Mpixel is an A0 poster at 250 dpi (a page is rendered at a
# lower resolution to fit, down to 150 dpi); a 100 Mpixel picture holds 100-400 MB while it is read.
MAX_OCR_PIXELS = 100_000_000
# XML is the parts that are parsed: markup, not pictures or fonts.
XML_SUFFIXES = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx")


@dataclass(frozen=True)
class XmlCaps:
    """How much XML one document of a format may hold: bytes in one part, elements in all parts."""

    part_bytes: int
    elements: int


# A page of Word text is about 200-400 elements (paragraphs, runs, their properties), so a million is
# 2,500 pages or more; python-docx holds 1M elements in about 350 MB and odfpy in about 700 MB.
DOM_CAPS = XmlCaps(part_bytes=64 * MB, elements=1_000_000)
# openpyxl's read-only mode streams a sheet and keeps only the rows' texts: a 100,000-row sheet of 10
# columns is about 2.2M elements and 40-60 MB of XML; reading it takes minutes, not memory.
STREAMED_CAPS = XmlCaps(part_bytes=256 * MB, elements=4_000_000)
# odfpy builds a Python object per element (about 700 bytes and 0.4 ms each): 300,000 is 3,000 pages
# of text or a sheet of 30,000 rows of 5 columns, read in about 2 minutes.
ODF_CAPS = XmlCaps(part_bytes=64 * MB, elements=300_000)
CAPS = {"XLSX": STREAMED_CAPS, "ODT": ODF_CAPS, "ODS": ODF_CAPS}
# What an .ods's repeated rows (one element saying "this row, N times") may expand to, in filled cells:
# ten times what ODF_CAPS lets a sheet hold written out.
MAX_REPEATED_CELLS = 3_000_000
# Formats whose XML never declares a DTD (an EPUB's XHTML may name one; lxml keeps its entities as text).
NO_DTD_KINDS = frozenset(("DOCX", "PPTX", "XLSX", "ODT", "ODS"))


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB" if size >= MB else f"{size / MB:.1f} MB"


@dataclass
class XmlScan:
    """What a streamed look at one XML part found: its elements (up to a budget), and whether it declares a DTD."""

    elements: int = 0
    dtd: bool = False


def scan_xml(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> XmlScan:
    """Count one part's XML elements on the expanded stream (1 MB at a time) as start tags (`<` not
    followed by `/`; a comment or processing instruction counts too, which only errs on the safe
    side), stopping once past `budget`, and see whether it declares a DTD (`<!DOCTYPE`)."""
    found, tail = XmlScan(), b""
    with archive.open(info) as stream:
        while chunk := stream.read(MB):
            # `</` closes an element; the previous chunk's last bytes join in, so a split one is seen
            found.elements += chunk.count(b"<") - (tail[-1:] + chunk).count(b"</")
            found.dtd = found.dtd or b"<!DOCTYPE" in tail + chunk
            tail = chunk[-16:]
            if found.elements > budget:
                break
    return found


def check_zipped(data: bytes, kind: str) -> None:
    """Refuse a zipped document (`kind`: "DOCX", "XLSX", ...) that would expand too far, before any
    reader opens it: its parts' declared sizes, each part's compression ratio, the size of each XML
    part and the number of XML elements in all of them, and (Office formats) a DTD declaring entities. A damaged zip is left for the reader to refuse."""
    caps = CAPS.get(kind, DOM_CAPS)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > MAX_UNZIPPED_BYTES:
            raise FormatError(
                f"the {kind} would expand to {_mb(total)} when unzipped: refused (at most {_mb(MAX_UNZIPPED_BYTES)})"
            )
        for info in infos:
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > RATIO_FREE_BYTES and ratio > MAX_RATIO:
                raise FormatError(
                    f"the {kind}'s part {info.filename} would expand {ratio:,.0f} times, to {_mb(info.file_size)}: "
                    f"refused as a zip bomb (at most {MAX_RATIO} times for parts over {_mb(RATIO_FREE_BYTES)})"
                )
        xml = [info for info in infos if info.filename.lower().endswith(XML_SUFFIXES)]
        for info in xml:
            if info.file_size > caps.part_bytes:
                raise FormatError(
                    f"the {kind}'s part {info.filename} holds {_mb(info.file_size)} of XML: refused (at most {_mb(caps.part_bytes)})"
                )
        elements = 0
        for info in xml:
            try:
                found = scan_xml(archive, info, caps.elements - elements)
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError, zlib.error):
                return  # a damaged or encrypted part: the reader refuses the file with its own reason
            if found.dtd and kind in NO_DTD_KINDS:
                # Office readers keep an entity they do not expand as a node whose text, and all the
                # text after it in its paragraph, they drop without a word: refused instead, saying so.
                raise FormatError(
                    f"the {kind}'s part {info.filename} declares a DTD (XML entities), which {kind} files never do: "
                    f"refused, since the text after an entity would be lost"
                )
            elements += found.elements
            if elements > caps.elements:
                raise FormatError(
                    f"the {kind} holds more than {caps.elements:,} XML elements: refused (a document of "
                    f"thousands of pages, or one built to exhaust memory)"
                )
