"""Each format from real files made here: PDF (reportlab), DOCX (python-docx), HTML; and bad files."""

import codecs
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from ingest.clean import clean_document
from ingest.passages import build_passages
from ingest.readers import ReadError, read_document, read_sources


def make_pdf(path: Path, pages: list[list[str]], title: str = "Harbour Survey") -> None:
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle(title)
    pdf.setAuthor("Port Authority")
    for number, lines in enumerate(pages, start=1):
        y = 780
        for line in lines:
            pdf.drawString(60, y, line)
            y -= 16
        pdf.drawString(290, 40, str(number))  # a printed page number, which cleaning drops
        pdf.showPage()
    pdf.save()


def make_docx(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Orchard Notes"
    document.core_properties.author = "Ana Lima"
    document.add_heading("Orchard Notes", level=1)
    document.add_paragraph("The orchard produced 12 tonnes of apples in 2023. Frost cut the yield in 2024.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Year", "Tonnes"
    table.cell(1, 0).text, table.cell(1, 1).text = "2023", "12"
    document.save(str(path))


HTML = """<!doctype html><html><head><title>Bridge Works</title><meta name="author" content="City Desk">
<style>body{color:red}</style><script>document.write("tracking pixel text")</script></head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/contact">Contact us</a></nav>
<article><h1>Bridge Works</h1>
<p>The old bridge closed on 3 March 2025 for repairs that will cost 8.5 million euros in total.</p>
<p>Engineers found corrosion in 14 of the 40 steel cables, and the council approved the budget.</p>
</article><footer>Copyright 2025 City Desk. All rights reserved.</footer></body></html>"""


def test_pdf_text_with_pages(tmp_path, embedder):
    make_pdf(
        tmp_path / "survey.pdf",
        [
            ["The harbour survey counted 212 fishing boats in 2024.", "Most boats were under ten metres long."],
            ["On the second page, the survey notes that 31 boats", "were built before 1980. Repairs are planned."],
        ],
    )
    raw = read_document(tmp_path / "survey.pdf", tmp_path)
    assert raw.meta.title == "Harbour Survey" and raw.meta.authors == ("Port Authority",)
    doc = clean_document(raw)
    assert "212 fishing boats" in doc.text and "31 boats were built before 1980" in doc.text
    assert [p.page for p in doc.paragraphs] == [1, 2]
    passages = build_passages([doc], embedder.count_tokens, 128)
    by_page = {p.occurrences[0].page for p in passages if "1980" in p.text}
    assert by_page == {2}
    assert "\n2\n" not in doc.text and not doc.text.endswith("2")


def test_docx_paragraphs_tables_and_properties(tmp_path):
    make_docx(tmp_path / "notes.docx")
    raw = read_document(tmp_path / "notes.docx", tmp_path)
    assert raw.meta.title == "Orchard Notes" and raw.meta.authors == ("Ana Lima",)
    doc = clean_document(raw)
    assert "The orchard produced 12 tonnes of apples in 2023." in doc.text
    # The row keeps its column labels, as HTML and Markdown table rows do; the header row labels, alone it is nothing.
    assert "Year: 2023 | Tonnes: 12" in doc.text
    assert all(doc.text[p.start : p.end] not in ("Year | Tonnes", "Year", "Tonnes") for p in doc.paragraphs)


def test_html_main_text_only(tmp_path):
    (tmp_path / "bridge.html").write_text(HTML, encoding="utf-8")
    raw = read_document(tmp_path / "bridge.html", tmp_path)
    doc = clean_document(raw)
    assert raw.meta.title == "Bridge Works"
    assert "8.5 million euros" in doc.text and "14 of the 40 steel cables" in doc.text
    for noise in ("tracking pixel", "color:red", "Contact us", "All rights reserved"):
        assert noise not in doc.text


def _encrypted_pdf(tmp_path: Path) -> Path:
    make_pdf(tmp_path / "plain.pdf", [["Secret numbers are here."]])
    writer = PdfWriter()
    for page in PdfReader(str(tmp_path / "plain.pdf")).pages:
        writer.add_page(page)
    writer.encrypt(user_password="s3cret", owner_password="owner")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    (tmp_path / "plain.pdf").unlink()
    return path


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n ", "empty file"),
        ("binary.txt", b"\x00\x01\x02\x03binary", "binary content"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage", "PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "corrupt or unreadable DOCX"),
        ("fake.html", b"<html><head><script>track()</script><style>p{}</style></head><body></body></html>", "no main text"),
    ],
)
def test_bad_files_raise_a_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        read_document(tmp_path / name, tmp_path)


def test_encrypted_pdf_is_refused(tmp_path):
    path = _encrypted_pdf(tmp_path)
    with pytest.raises(ReadError, match="encrypted"):
        read_document(path, tmp_path)


def test_a_folder_with_bad_files_still_reads_the_good_ones(tmp_path):
    make_docx(tmp_path / "good.docx")
    (tmp_path / "good.html").write_text(HTML, encoding="utf-8")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (tmp_path / "empty.txt").write_bytes(b"")
    _encrypted_pdf(tmp_path)
    documents, skipped = read_sources(tmp_path)
    assert sorted(d.file for d in documents) == ["good.docx", "good.html"]
    assert sorted(s.file for s in skipped) == ["bad.pdf", "empty.txt", "locked.pdf"]
    assert all(s.reason for s in skipped)


TEXT = "The harbour survey counted 212 fishing boats in 2024, and the café owner agreed."


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"),
        TEXT.encode("utf-16-le"),  # no BOM: told by where the NUL bytes fall
        TEXT.encode("utf-16-be"),
        TEXT.encode("cp1252"),
    ],
    ids=["utf8-bom", "utf16le-bom", "utf16be-bom", "utf32le-bom", "utf32be-bom", "utf16le", "utf16be", "cp1252"],
)
def test_text_encodings_are_decoded(tmp_path, data):
    (tmp_path / "a.txt").write_bytes(data)
    assert read_document(tmp_path / "a.txt", tmp_path).text == TEXT


def test_an_encoding_that_cannot_be_told_is_skipped_with_that_reason(tmp_path):
    # Twenty KOI8-R bytes read as well in Shift-JIS: no guess, the reason and the fix instead.
    (tmp_path / "short.txt").write_bytes("Привет мир, это тест.".encode("koi8-r"))
    with pytest.raises(ReadError, match="cannot tell the text encoding with confidence.*save it as UTF-8"):
        read_document(tmp_path / "short.txt", tmp_path)


def test_html_without_a_date_gets_none_invented(tmp_path):
    page = HTML.replace("Copyright 2025 City Desk.", "Copyright 2025 City Desk. © 2025")
    (tmp_path / "undated.html").write_text(page, encoding="utf-8")
    assert read_document(tmp_path / "undated.html", tmp_path).meta.date == ""
    dated = page.replace("<head>", '<head><meta property="article:published_time" content="2024-03-05T10:00:00Z">')
    (tmp_path / "dated.html").write_text(dated, encoding="utf-8")
    assert read_document(tmp_path / "dated.html", tmp_path).meta.date == "2024-03-05"


def test_html_declared_charset_is_used(tmp_path):
    page = '<html><head><meta charset="koi8-r"><title>Вессби</title></head><body><article><p>Город Вессби известен своими соборами и старой крепостью, построенной монахами.</p></article></body></html>'
    (tmp_path / "ru.html").write_bytes(page.encode("koi8-r"))
    raw = read_document(tmp_path / "ru.html", tmp_path)
    assert raw.meta.title == "Вессби" and "известен своими соборами" in raw.text


def test_docx_software_defaults_are_not_metadata(tmp_path):
    document = docx.Document()  # python-docx's template: author "python-docx", created 2013-12-23
    document.add_paragraph("The orchard produced 12 tonnes of apples in 2023.")
    document.save(str(tmp_path / "plain.docx"))
    raw = read_document(tmp_path / "plain.docx", tmp_path)
    assert raw.meta.authors == () and raw.meta.date == ""


def test_html_tables_code_and_lists_keep_their_structure(tmp_path):
    page = """<html><head><title>Prison census</title></head><body><article><h1>Prison census</h1>
<p>The census below was published by the <b>ministry</b> of justice in the spring of that year.</p>
<table><tr><th>Country</th><th>Prisoners</th></tr><tr><td>El Salvador</td><td>119,000</td></tr></table>
<pre><code>def leak():
    return secrets
</code></pre><ul><li>First item here</li><li>Second item there</li></ul></article></body></html>"""
    (tmp_path / "census.html").write_text(page, encoding="utf-8")
    doc = clean_document(read_document(tmp_path / "census.html", tmp_path))
    paragraphs = [doc.text[p.start : p.end] for p in doc.paragraphs]
    assert "Country: El Salvador | Prisoners: 119,000" in paragraphs
    assert "def leak():\n    return secrets" in paragraphs
    assert "The census below was published by the ministry of justice in the spring of that year." in paragraphs
    assert {"- First item here", "- Second item there"} <= set(paragraphs)


@pytest.mark.parametrize("seed", range(12))
def test_docx_table_rows_keep_their_column_labels(tmp_path, seed):
    """Issue 26, item 11: generated Word tables (2-5 columns, 1-8 rows, empty and repeated values, a merged
    cell): every row is one block with each cell labelled by its column's header, and no block is the header."""
    import random

    rng = random.Random(seed)
    header = rng.sample(["Year", "Tonnes", "Region", "Mayor", "Notes", "Price"], rng.randint(2, 5))
    rows = [[rng.choice(["", "Yes", "Yes", f"v{rng.randint(1, 99)}"]) for _ in header] for _ in range(rng.randint(1, 8))]
    rows = [r if any(r) else ["Yes", *r[1:]] for r in rows]
    document = docx.Document()
    document.add_paragraph("The table below lists the records.")
    table = document.add_table(rows=1 + len(rows), cols=len(header))
    for j, name in enumerate(header):
        table.cell(0, j).text = name
    for i, row in enumerate(rows, start=1):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    merged = None
    if len(header) > 2 and rng.random() < 0.5:
        i = rng.randint(1, len(rows))
        table.cell(i, 0).merge(table.cell(i, 1)).text = merged = "Both columns"
        rows[i - 1][:2] = ["Both columns", ""]
    document.save(str(tmp_path / "t.docx"))
    text = read_document(tmp_path / "t.docx", tmp_path).text
    blocks = text.split("\n\n")[1:]
    expected = [" | ".join(f"{name}: {value}" for name, value in zip(header, row) if value) for row in rows]
    assert blocks == expected
    assert " | ".join(header) not in blocks
    if merged:
        assert sum(b.count("Both columns") for b in blocks) == 1
