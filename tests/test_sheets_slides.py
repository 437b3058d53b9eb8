"""Spreadsheets and slides as a user adds them (issue 34, items 2, 7 and 8): a one-column CSV whose
sentences hold commas keeps its rows as written; every citation names the sheet and the slide (terminal,
--json, --markdown, the chat's HTML, the source view); hidden sheets and slides are read and marked
hidden; a formula cell without a saved value keeps its column, empty.

Files are made here with openpyxl, python-pptx and odfpy, added with `verbatim add` into one index.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main as cli_main
from index.config import Settings
from ingest.clean import clean_document
from ingest.passages import sections
from ingest.readers import read_document

ONE_COLUMN_CSV = "Sentence\nThe Maple farm, near Ondra, has 6 oxen.\nThe Oak farm has 2 mules.\n"


def make_fruit(path: Path) -> None:
    """Three sheets, no title: each row's sheet is the only thing that tells them apart."""
    import openpyxl

    book = openpyxl.Workbook()
    for index, (name, fruit, count) in enumerate([("Alpha", "Apples", 3), ("Beta", "Pears", 7), ("Gamma", "Plums", 9)]):
        sheet = book.active if index == 0 else book.create_sheet(name)
        sheet.title = name
        sheet.append(["Fruit", "Crates in the Wendle cellar"])
        sheet.append([fruit, count])
    book.save(str(path))


def make_store(path: Path) -> None:
    """Formulas openpyxl writes without a saved value, and a hidden sheet."""
    import openpyxl

    book = openpyxl.Workbook()
    stock = book.active
    stock.title = "Stock"
    stock.append(["Item", "Qty", "Price", "Total"])
    stock.append(["Bolts", 4, 2.5, "=B2*C2"])
    stock.append(["Nuts", 10, 0.25, "=B3*C3"])
    secret = book.create_sheet("Secret costs")
    secret.append(["Supplier", "Yearly fee"])
    secret.append(["Harlow Forge", 7700])
    secret.sheet_state = "hidden"
    book.save(str(path))


def make_ferry(path: Path) -> None:
    """Three slides; slide 2 is hidden ("Hide slide")."""
    from pptx import Presentation

    deck = Presentation()
    texts = [
        "The Brisk ferry timetable for the summer season.",
        "The Brisk ferry carries 340 passengers on each crossing.",
        "The harbour fee at Tarrow is 14 crowns per boat.",
    ]
    for number, text in enumerate(texts, start=1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Ferry facts {number}"
        slide.placeholders[1].text_frame.text = text
    deck.slides[1].element.set("show", "0")
    deck.save(str(path))


def make_yard(path: Path) -> None:
    """An OpenDocument workbook: a formula cell without a value, and a table hidden by its style."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.style import Style, TableProperties
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    hidden = Style(name="taHidden", family="table")
    hidden.addElement(TableProperties(display="false"))
    document.automaticstyles.addElement(hidden)
    for name, rows, style in (
        ("Yard", [["Boat", "Length", "Berth"], ["Heron", "12", None]], {}),
        ("Old", [["Boat", "Owner"], ["Tern", "Ada Vell"]], {"stylename": "taHidden"}),
    ):
        table = Table(name=name, **style)
        for cells in rows:
            row = TableRow()
            for value in cells:
                if value is None:
                    cell = TableCell(formula="of:=[.B2]*2")  # no office:value: never computed
                else:
                    cell = TableCell(valuetype="float", value=value) if value.isdigit() else TableCell()
                    cell.addElement(P(text=value))
                row.addElement(cell)
            table.addElement(row)
        document.spreadsheet.addElement(table)
    document.save(str(path))


def _paragraphs(path: Path) -> list[tuple[str, int | None]]:
    doc = clean_document(read_document(path, path.parent))
    return [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs]


@pytest.fixture(scope="module")
def added(tmp_path_factory, embedder) -> Settings:
    """One index of the files above, made by `verbatim add` as a user would."""
    root = tmp_path_factory.mktemp("sheets_slides")
    incoming = root / "incoming"
    incoming.mkdir()
    (incoming / "onecol.csv").write_text(ONE_COLUMN_CSV, encoding="utf-8")
    make_fruit(incoming / "fruit.xlsx")
    make_store(incoming / "store.xlsx")
    make_ferry(incoming / "ferry.pptx")
    make_yard(incoming / "yard.ods")
    settings = Settings(sources_dir=root / "sources", index_dir=root / "index")
    assert cli_main(["add", *(str(p) for p in sorted(incoming.iterdir())), *_dirs(settings)]) == 0
    return settings


def _dirs(settings: Settings) -> list[str]:
    return ["--sources-dir", str(settings.sources_dir), "--index-dir", str(settings.index_dir)]


def _run(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli_main(list(args))
    return code, capsys.readouterr().out


def _ask(settings: Settings, capsys, question: str, *flags: str) -> str:
    code, out = _run(capsys, "ask", question, "--k", "3", *flags, *_dirs(settings))
    assert code == 0
    return out


def _first(settings: Settings, capsys, question: str) -> dict:
    return json.loads(_ask(settings, capsys, question, "--json"))[0]


@pytest.fixture(scope="module")
def searcher(added):
    from index.search import Searcher

    return Searcher(added)


def _views(searcher, question: str) -> tuple[dict, str, str, str]:
    """One answer as `ask --json` (first record), `ask`, `ask --markdown` and the chat print it (its
    HTML unescaped: the chat shows the entities as the characters they stand for)."""
    from html import unescape

    from app.present import answer_to_dicts, answer_to_html, answer_to_markdown, answer_to_text

    answer = searcher.search(question, k=3)
    return answer_to_dicts(answer)[0], answer_to_text(answer), answer_to_markdown(answer), unescape(answer_to_html(answer))


# ---------------------------------------------------------------- item 2: a one-column CSV


def test_a_one_column_csv_is_quoted_as_written_and_loses_nothing(added, capsys):
    first = _first(added, capsys, "How many oxen does the Maple farm have?")
    assert first["source"] == "onecol.csv" and first["answers"]
    assert first["text"] == "Row 2: The Maple farm, near Ondra, has 6 oxen."
    # The span is marked only where the span gate is confident; when it is, it is this row's figure.
    assert first["answer"] is None or "6" in first["answer"]["text"]
    code, shown = _run(capsys, "show", "onecol.csv", *_dirs(added))
    assert code == 0
    for row in ("Row 1: Sentence", "Row 2: The Maple farm, near Ondra, has 6 oxen.", "Row 3: The Oak farm has 2 mules."):
        assert row in shown
    code, dropped = _run(capsys, "show", "onecol.csv", "--dropped", *_dirs(added))
    assert code == 0 and "cleaning leaves 0 lines out of the index" in dropped


def test_a_csv_is_split_only_where_every_row_splits_alike(tmp_path):
    (tmp_path / "table.csv").write_text("Farm,Oxen\nMaple,6\nOak,2\n", encoding="utf-8")
    assert ("Row 2: Farm: Maple | Oxen: 6", None) in _paragraphs(tmp_path / "table.csv")
    # A header without a comma and rows with some: one column, each line as the file has it.
    (tmp_path / "ragged.csv").write_text("Notes\nMaple, near Ondra, 6 oxen\nOak, 2 mules\n", encoding="utf-8")
    assert [text for text, _ in _paragraphs(tmp_path / "ragged.csv")] == [
        "Row 1: Notes",
        "Row 2: Maple, near Ondra, 6 oxen",
        "Row 3: Oak, 2 mules",
    ]
    # Quoted cells with commas are one column too, and read as the CSV means them.
    (tmp_path / "quoted.csv").write_text('Sentence\n"The Maple farm, near Ondra, has 6 oxen."\n', encoding="utf-8")
    assert ("Row 2: The Maple farm, near Ondra, has 6 oxen.", None) in _paragraphs(tmp_path / "quoted.csv")


# ---------------------------------------------------------------- item 7: the sheet's name and the slide number


def test_runs_of_short_lines_never_cross_a_page():
    texts = ["Sheet: Alpha", "Alpha row 2: Apples", "Sheet: Beta", "Beta row 2: Pears"]
    assert [members for members, _ in sections(texts)] == [[0, 1, 2, 3]]
    assert [members for members, _ in sections(texts, [1, 1, 2, 2])] == [[0, 1], [2, 3]]


def test_each_sheet_is_cited_by_its_name_in_every_output(added, searcher, capsys):
    question = "How many crates of plums are in the Wendle cellar?"
    assert 'fruit.xlsx, sheet "Gamma", ¶' in _ask(added, capsys, question)  # the real CLI once
    first, text, markdown, html = _views(searcher, question)
    assert first["source"] == "fruit.xlsx" and "Gamma row 2: Fruit: Plums" in first["text"]
    assert first["page"] == 3 and first["page_label"] == 'sheet "Gamma"'
    assert first["sources"][0]["page_label"] == 'sheet "Gamma"'
    assert first["title"] == "Alpha · Beta · Gamma"  # not its first line, "Sheet: Alpha"
    assert 'fruit.xlsx, sheet "Gamma", ¶' in text
    assert '(sheet "Gamma")' in markdown
    assert 'fruit.xlsx, sheet "Gamma", ¶' in html  # the chat's citation link


def test_slides_are_cited_as_slides_in_the_chat_and_the_source_view(added, searcher):
    from app.source_view import source_document, source_html

    first, text, markdown, html = _views(searcher, "What is the harbour fee at Tarrow?")
    assert first["source"] == "ferry.pptx" and first["page_label"] == "slide 3"
    assert "ferry.pptx, slide 3, ¶" in text and "(slide 3)" in markdown
    assert "ferry.pptx, slide 3, ¶" in html and "p. 3" not in html
    doc = source_document(searcher.index(), "fruit.xlsx")
    html = source_html(doc)
    assert "3 sheets" in html and "sheet &#34;Gamma&#34;</div>" in html
    gamma = next(p for p in doc.paragraphs if doc.text[p.start : p.end].startswith("Gamma row 2"))
    alpha = next(p for p in doc.paragraphs if doc.text[p.start : p.end].startswith("Alpha row 2"))
    assert (gamma.page, alpha.page) == (3, 1)  # each row under its own sheet's mark


def test_show_names_sheets_and_slides(added, capsys):
    code, shown = _run(capsys, "show", "fruit.xlsx", *_dirs(added))
    assert code == 0 and "3 sheets" in shown
    assert shown.index('--- sheet "Beta" ---') < shown.index("Beta row 2") < shown.index('--- sheet "Gamma" ---')
    code, shown = _run(capsys, "show", "ferry.pptx", *_dirs(added))
    assert code == 0 and "3 slides" in shown and "--- slide 3 ---" in shown


# ---------------------------------------------------------------- item 8: hidden content, formulas without a value


def test_a_hidden_sheet_is_quoted_with_its_mark(added, searcher, capsys):
    first, text, markdown, html = _views(searcher, "What is the yearly fee of Harlow Forge?")
    assert first["source"] == "store.xlsx" and "Secret costs row 2: Supplier: Harlow Forge | Yearly fee: 7700" in first["text"]
    assert first["page_label"] == 'sheet "Secret costs" (hidden)'
    assert 'store.xlsx, sheet "Secret costs" (hidden), ¶' in text and '(sheet "Secret costs" (hidden))' in markdown
    assert 'store.xlsx, sheet "Secret costs" (hidden), ¶' in html
    code, shown = _run(capsys, "show", "store.xlsx", *_dirs(added))
    assert code == 0 and '--- sheet "Secret costs" (hidden) ---' in shown and "Sheet: Secret costs (hidden)" in shown


def test_a_hidden_slide_is_quoted_with_its_mark(added, searcher, capsys):
    first, text, markdown, html = _views(searcher, "How many passengers does the Brisk ferry carry on each crossing?")
    assert first["source"] == "ferry.pptx" and "carries 340 passengers" in first["text"]
    assert first["page"] == 2 and first["page_label"] == "slide 2 (hidden)"
    assert "ferry.pptx, slide 2 (hidden), ¶" in text and "(slide 2 (hidden))" in markdown
    assert "ferry.pptx, slide 2 (hidden), ¶" in html
    code, shown = _run(capsys, "show", "ferry.pptx", *_dirs(added))
    assert code == 0 and "--- slide 2 (hidden) ---" in shown and "Slide 2 (hidden)" in shown
    assert "--- slide 1 ---" in shown  # visible slides carry no mark


def test_a_formula_without_a_saved_value_keeps_its_column_empty(added, capsys):
    code, shown = _run(capsys, "show", "store.xlsx", *_dirs(added))
    assert code == 0
    assert "Stock row 2: Item: Bolts | Qty: 4 | Price: 2.5 | Total:\n" in shown
    assert "Stock row 3: Item: Nuts | Qty: 10 | Price: 0.25 | Total:\n" in shown


def test_ods_hidden_tables_and_formulas_without_a_value(added):
    doc = clean_document(read_document(added.sources_dir / "yard.ods", added.sources_dir))
    paragraphs = [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs]
    assert ("Yard row 2: Boat: Heron | Length: 12 | Berth:", 1) in paragraphs
    assert ("Sheet: Old (hidden)", 2) in paragraphs and ("Old row 2: Boat: Tern | Owner: Ada Vell", 2) in paragraphs
    assert doc.meta.page_labels == ('sheet "Yard"', 'sheet "Old" (hidden)')


def test_a_deck_of_pictures_with_a_hidden_slide_is_still_refused(tmp_path):
    from pptx import Presentation

    from ingest.readers import ReadError

    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[6]).element.set("show", "0")  # a blank layout: no text at all
    deck.save(str(tmp_path / "blank.pptx"))
    with pytest.raises(ReadError, match="has no text"):
        read_document(tmp_path / "blank.pptx", tmp_path)


# ---------------------------------------------------------------- low item: OCR's languages


def test_the_ocr_warning_names_the_languages_it_reads():
    from app.source_view import SourceDocument, SourceParagraph
    from ingest.records import SourceMeta

    doc = SourceDocument(SourceMeta("scan.png"), "Bruckenwarter", "f", (SourceParagraph(1, 0, 13, 1),), (), (1,))
    assert "OCR reads English and Spanish only" in doc.ocr_notice()
