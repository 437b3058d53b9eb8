"""Slides (.pptx), OpenDocument text (.odt) and plain RTF (.rtf) as text, with their own metadata.

Slides are pages: a passage cut from slide 4 cites slide 4. Within a slide, each paragraph of a text
box, each table row (labelled with its header, as spreadsheet rows are) and the speaker notes are
blocks of their own, in the order the slide stacks its shapes. A hidden slide is read and marked, as a
hidden sheet is: it opens with "Slide 4 (hidden)" and is cited as "slide 4 (hidden)".
"""

from __future__ import annotations

import io
import re

from ingest.containers import check_ooxml_container, open_odf
from ingest.extracted import Extracted, FormatError, author_of, blocks_text, has_text, plain_reason, table_blocks
from ingest.limits import check_zipped

# ---------------------------------------------------------------- .pptx (python-pptx)


def _shape_blocks(shape) -> list[str]:
    """A shape's text as blocks: text-box paragraphs, table rows, grouped shapes in order."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [block for inner in shape.shapes for block in _shape_blocks(inner)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[" ".join(cell.text.split()) for cell in row.cells] for row in shape.table.rows]
        return table_blocks(rows)
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        # A line break inside a paragraph is a vertical tab in python-pptx: a space, not a glued word.
        return [" ".join(p.text.replace("\v", " ").split()) for p in shape.text_frame.paragraphs]
    return []


def extract_pptx(data: bytes) -> Extracted:
    """Every slide's text (speaker notes after it), one page per slide, with the deck's title and author."""
    import zipfile

    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    check_ooxml_container(data, ".pptx")
    check_zipped(data, "PPTX")
    try:
        deck = Presentation(io.BytesIO(data))
        pages, hidden = [], []
        for number, slide in enumerate(deck.slides, start=1):
            blocks = [block for shape in slide.shapes for block in _shape_blocks(shape)]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = [" ".join(p.text.split()) for p in slide.notes_slide.notes_text_frame.paragraphs]
                if any(notes):
                    blocks += ["Speaker notes:", *notes]
            hidden.append(slide.element.get("show") in ("0", "false"))  # <p:sld show="0">: skipped in the slide show
            if hidden[-1] and any(b.strip() for b in blocks):  # a slide without text stays without
                blocks.insert(0, f"Slide {number} (hidden)")
            pages.append(blocks)
        props = deck.core_properties
        title, author = props.title or "", props.author
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FormatError(f"corrupt or unreadable PPTX ({plain_reason(exc)})") from exc
    except Exception as exc:  # lxml errors of damaged parts
        raise FormatError(f"corrupt or unreadable PPTX ({plain_reason(exc)})") from exc
    if not has_text(pages):
        raise FormatError("the PPTX has no text (slides of pictures only?)")
    labels = tuple(f"slide {n}" + (" (hidden)" if h else "") for n, h in enumerate(hidden, start=1)) if any(hidden) else ()
    return Extracted(blocks_text(pages), title=title, authors=author_of(author), page_labels=labels)


# ---------------------------------------------------------------- .odt (odfpy)


def _odt_blocks(node, blocks: list[str]) -> None:
    """Headings and paragraphs in document order (inside lists, sections and frames too); table rows
    as labelled blocks."""
    from odf import teletype

    for child in node.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        name = child.qname[1]
        if name in ("h", "p"):
            blocks.append(" ".join(teletype.extractText(child).split()))
        elif name == "table":
            rows = []
            for row in child.getElementsByType(_table_row()):
                cells = [" ".join(teletype.extractText(c).split()) for c in row.childNodes if c.qname[1] == "table-cell"]
                rows.append(cells)
            blocks.extend(table_blocks(rows))
        elif name not in ("tracked-changes", "sequence-decls", "variable-decls", "user-field-decls", "annotation"):
            _odt_blocks(child, blocks)


def _table_row():
    from odf.table import TableRow

    return TableRow


def extract_odt(data: bytes) -> Extracted:
    """Paragraphs, headings, lists and tables of an OpenDocument text, with its title and author."""
    document, title, authors = open_odf(data, "ODT")
    blocks: list[str] = []
    try:
        _odt_blocks(document.text, blocks)
    except Exception as exc:
        raise FormatError(f"corrupt or unreadable ODT ({plain_reason(exc)})") from exc
    if not has_text([blocks]):
        raise FormatError("the ODT has no text")
    return Extracted(blocks_text([blocks]), title=title, authors=authors)


# ---------------------------------------------------------------- .rtf (striprtf)

_INFO_FIELD = r"\{\\%s\s+((?:[^{}\\]|\\.)*)\}"


def _info(rtf: str, field: str) -> str:
    from striprtf.striprtf import rtf_to_text

    found = re.search(_INFO_FIELD % field, rtf)
    return " ".join(rtf_to_text("{\\rtf1 " + found.group(1) + "}").split()) if found else ""


def extract_rtf(data: bytes) -> Extracted:
    """Plain RTF (text and paragraphs; pictures and embedded objects are not read), with \\info's title and author."""
    from striprtf.striprtf import rtf_to_text

    head = data.lstrip()[:5]
    if head != b"{\\rtf":
        raise FormatError("not an RTF file (it does not start with {\\rtf)")
    # RTF is 7-bit: other characters are escapes (\'e9, \u233) striprtf decodes; latin-1 never fails.
    rtf = data.decode("latin-1")
    try:
        text = rtf_to_text(rtf, errors="replace")
    except Exception as exc:  # striprtf raises plain errors on malformed groups
        raise FormatError(f"corrupt or unreadable RTF ({plain_reason(exc)})") from exc
    # One block per paragraph: RTF's \par ends one, and a blank line keeps cleaning from joining them.
    blocks = [line.strip() for line in text.split("\n")]
    if not has_text([blocks]):
        raise FormatError("the RTF has no text")
    return Extracted(blocks_text([blocks]), title=_info(rtf, "title"), authors=author_of(_info(rtf, "author")))
