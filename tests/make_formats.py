"""Test files of the newer formats, made with each format's own library (and damaged or locked copies).

Shared by tests/test_formats_new.py, tests/test_ocr.py and tests/test_sync.py. Every file states one
distinctive fact, asked back by the gold questions in FACTS.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path


def make_pptx(path: Path) -> None:
    """Three slides: a title slide, bullets, and the fact on slide 3 with a table and speaker notes."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Corvel Energy Review"
    deck.core_properties.author = "Nadia Okafor"
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Corvel Energy Review"
    first.placeholders[1].text = "Annual briefing for the regional council"
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Grid works"
    second.placeholders[1].text_frame.text = "Two substations were rebuilt in the spring."
    second.placeholders[1].text_frame.add_paragraph().text = "The northern line was buried underground."
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "Wind output"
    box = third.shapes.add_textbox(Inches(0.5), Inches(1.5), Inches(8), Inches(1))
    box.text_frame.text = "The Corvel wind farm delivered 48 megawatts in its first winter of operation."
    table = third.shapes.add_table(2, 2, Inches(0.5), Inches(3), Inches(6), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Turbine model", "Count"
    table.cell(1, 0).text, table.cell(1, 1).text = "Vestra V90", "16"
    third.notes_slide.notes_text_frame.text = "Mention the icing problem in February."
    deck.save(str(path))


def make_xlsx(path: Path) -> None:
    """Two sheets: a title row above the header, formatted numbers and a date."""
    import openpyxl

    book = openpyxl.Workbook()
    book.properties.title = "Coastal towns"
    sheet = book.active
    sheet.title = "Towns"
    sheet.append(["Coastal towns of the Serran province (census of 2021)"])
    sheet.append([])
    sheet.append(["Town", "Population", "Area km2", "Charter"])
    sheet.append(["Marlow Bay", 412000, 88.5, dt.date(1862, 5, 1)])
    sheet.append(["Esker Point", 9120, 14.25, dt.date(1903, 9, 12)])
    sheet["B4"].number_format = "#,##0"
    sheet["B5"].number_format = "#,##0"
    ports = book.create_sheet("Ports")
    ports.append(["Port", "Ships per year"])
    ports.append(["Marlow Bay harbour", 3150])
    book.save(str(path))


def make_ods(path: Path) -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Bridges")
    for cells in (["Bridge", "Span metres", "Opened"], ["Hollin Viaduct", "640", "1887"], ["Sedge Bridge", "95", "1931"]):
        row = TableRow()
        for value in cells:
            cell = TableCell(valuetype="float", value=value) if value.isdigit() else TableCell()
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    document.spreadsheet.addElement(table)
    document.save(str(path))


CSV = "Station,Opened,Passengers per day\nKestrel Road,1932,\"18,450\"\nWillow Cross,1958,\"7,020\"\n"


def make_epub(path: Path) -> None:
    """Three chapters (ebooklib); the fact is in chapter 2."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("tarn-island-1")
    book.set_title("Tales of Tarn Island")
    book.set_language("en")
    book.add_author("Ilse Marrow")
    book.add_metadata("DC", "date", "1998-04-02")
    chapters = [
        ("Arrival", "<h1>Arrival</h1><p>The ferry reached Tarn Island at dawn, after a night of rain.</p>"),
        ("The keeper", "<h1>The keeper</h1><p>The lighthouse keeper of Tarn Island kept 14 goats on the cliffs.</p>"
                       "<p>He named each of them after a ship that had sunk nearby.</p>"),
        ("Leaving", "<h1>Leaving</h1><ul><li>The last ferry left in October.</li><li>Nobody stayed the winter.</li></ul>"),
    ]
    items = []
    for number, (title, body) in enumerate(chapters, start=1):
        chapter = epub.EpubHtml(title=title, file_name=f"chap_{number}.xhtml", lang="en")
        chapter.content = f"<html><body>{body}</body></html>"
        book.add_item(chapter)
        items.append(chapter)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)


def make_odt(path: Path) -> None:
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Brenna Glassworks"))
    document.meta.addElement(dc.Creator(text="Tomas Vik"))
    document.text.addElement(H(outlinelevel=1, text="Brenna Glassworks"))
    document.text.addElement(P(text="The Brenna glassworks employed 260 workers in 1911."))
    document.text.addElement(P(text="Its furnaces burned peat until the railway brought coal."))
    document.save(str(path))


RTF = (
    r"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}{\info{\title Osric Tunnel}{\author Jana Kol\'e1r}}"
    r"\f0\fs24 Osric Tunnel\par The Osric tunnel is 3.2 kilometres long and opened in 1968.\par "
    r"Its ventilation shafts were added in 1974.\par }"
)


def make_rtf(path: Path) -> None:
    path.write_text(RTF, encoding="ascii")


def corrupt(data: bytes) -> bytes:
    """The first half of a file: what an interrupted download leaves."""
    return data[: len(data) // 2]


def ole_encrypted() -> bytes:
    """The shape of a password-protected Office file: an OLE container holding an EncryptedPackage."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\0" * 64 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 512


def with_zip_member(data: bytes, name: str, content: bytes, replace: bool = False) -> bytes:
    """A copy of a zip file with one member added (or replaced)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if replace and item.filename == name:
                continue
            dst.writestr(item, src.read(item.filename))
        dst.writestr(name, content)
    return out.getvalue()


def drm_epub(data: bytes) -> bytes:
    """An EPUB whose chapter is encrypted (as DRM does), declared in META-INF/encryption.xml."""
    encryption = (
        b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
        b'<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
        b'<enc:CipherData><enc:CipherReference URI="EPUB/chap_2.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>'
    )
    return with_zip_member(data, "META-INF/encryption.xml", encryption)


def encrypted_odf(data: bytes) -> bytes:
    """An OpenDocument file whose manifest declares its parts encrypted (a password-protected save)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = archive.read("META-INF/manifest.xml").decode("utf-8")
    manifest = manifest.replace(
        'manifest:full-path="content.xml"',
        'manifest:full-path="content.xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K" '
        'manifest:checksum="x"/></manifest:file-entry><manifest:file-entry manifest:media-type="" manifest:full-path="x"',
        1,
    )
    return with_zip_member(data, "META-INF/manifest.xml", manifest.encode("utf-8"), replace=True)


def make_all(folder: Path) -> dict[str, Path]:
    """One file of each new format in `folder`, by suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        ".pptx": folder / "corvel.pptx",
        ".xlsx": folder / "towns.xlsx",
        ".ods": folder / "bridges.ods",
        ".csv": folder / "stations.csv",
        ".epub": folder / "tarn.epub",
        ".odt": folder / "brenna.odt",
        ".rtf": folder / "osric.rtf",
    }
    make_pptx(made[".pptx"])
    make_xlsx(made[".xlsx"])
    make_ods(made[".ods"])
    made[".csv"].write_text(CSV, encoding="utf-8")
    make_epub(made[".epub"])
    make_odt(made[".odt"])
    make_rtf(made[".rtf"])
    return made


# (question, phrase a returned passage must hold, file it must come from, page it must cite or None)
FACTS = [
    ("How many megawatts did the Corvel wind farm deliver in its first winter?", "delivered 48 megawatts", "corvel.pptx", 3),
    ("What is the population of Marlow Bay?", "Population: 412,000", "towns.xlsx", 1),
    ("How long is the span of the Hollin Viaduct?", "Span metres: 640", "bridges.ods", 1),
    ("How many passengers per day use Kestrel Road station?", "Passengers per day: 18,450", "stations.csv", None),
    ("How many goats did the lighthouse keeper of Tarn Island keep?", "kept 14 goats", "tarn.epub", 2),
    ("How many workers did the Brenna glassworks employ in 1911?", "employed 260 workers", "brenna.odt", None),
    ("How long is the Osric tunnel?", "3.2 kilometres long", "osric.rtf", None),
]
