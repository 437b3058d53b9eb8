"""Small files that would expand hugely when read: zipped documents with one part blown up, a PDF
with a vast page, an image whose header declares hundreds of megapixels. Made in a few seconds at
most, with the formats' own containers, for the caps of ingest/limits.py to refuse."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

# The part of each zipped format that holds its text, and the tag the filler goes in front of.
MAIN_PART = {
    ".docx": ("word/document.xml", b"<w:sectPr"),
    ".pptx": ("ppt/slides/slide1.xml", b"</p:spTree>"),
    ".xlsx": ("xl/worksheets/sheet1.xml", b"</sheetData>"),
    ".odt": ("content.xml", b"</office:text>"),
    ".ods": ("content.xml", b"</table:table>"),
    ".epub": ("EPUB/chap_1.xhtml", b"</body>"),
}

# Filler of each kind: many tiny elements (what costs memory in a parsed document), or plain text.
FILLER = {
    ".docx": b"<w:p/>",
    ".pptx": b"<a:t/>",  # not where a slide's text is read: it only has to be parsed
    ".xlsx": b'<row><c t="n"><v>1</v></c></row>',
    ".odt": b"<text:p/>",
    ".ods": b"<table:table-row/>",
    ".epub": b"<p/>",
}


def inflate(template: bytes, member: str, before: bytes, filler: bytes, size: int, level: int = 1) -> bytes:
    """A copy of the zipped document `template` whose part `member` carries `size` bytes of `filler`
    repeated in front of its first `before`. Compression level 1 keeps making it fast (0.4 s per 300 MB)."""
    chunk = filler * max(1, (1 << 20) // len(filler))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename != member:
                dst.writestr(info.filename, content)
                continue
            head, found, tail = content.partition(before)
            assert found, f"{before!r} is not in {member}"
            with dst.open(member, "w", force_zip64=True) as fh:
                fh.write(head)
                for _ in range(max(1, size // len(chunk))):
                    fh.write(chunk)
                fh.write(found + tail)
    return out.getvalue()


def zipped_bomb(made: Path, suffix: str, size: int, filler: bytes | None = None) -> bytes:
    """The document `made` (a file of the format) with `size` bytes of filler in its main part."""
    member, before = MAIN_PART[suffix]
    return inflate(made.read_bytes(), member, before, filler or FILLER[suffix], size)


def docx_template() -> bytes:
    """A one-paragraph Word document made by python-docx."""
    import docx

    document = docx.Document()
    document.add_paragraph("The Maple farm has six oxen.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def vast_page_pdf(width_pt: int, height_pt: int) -> bytes:
    """A PDF of one page without text (so it goes to OCR) whose page box is `width_pt` x `height_pt` points."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R >>" % (width_pt, height_pt),
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    body, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(body)


def png_bomb(width: int, height: int) -> bytes:
    """A greyscale PNG of `width` x `height` white pixels: a few hundred KB that decode to width*height bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" + b"\xff" * width  # filter byte "none", then the row
    # The same row repeated: raw deflate blocks after a full flush stand alone, so the row is
    # compressed once and its bytes repeated (a 300 Mpixel image takes a moment, not minutes).
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(row) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(height):
        adler = zlib.adler32(row, adler)
    data = b"\x78\xda" + one * height + compressor.flush() + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
