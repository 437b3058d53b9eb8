"""Slides, spreadsheets, e-books, OpenDocument and RTF: files made here with each format's library.

Each format is read with its metadata and locations (slide, sheet and row, chapter); damaged,
locked and empty files are refused with a reason while the rest of the folder is indexed; and in a
corpus of one file per format, a fact asked of each file is answered first, from that file.
"""

from __future__ import annotations

import json
import shutil

import pytest
from make_formats import (
    CSV,
    FACTS,
    corrupt,
    drm_epub,
    encrypted_odf,
    make_all,
    make_epub,
    make_ods,
    make_odt,
    make_pptx,
    make_xlsx,
    ole_encrypted,
)

from app.cli import main as cli_main
from index.build.pipeline import build_index
from index.config import Settings
from index.storage.store import load_version
from ingest.clean import clean_document
from ingest.library import add_sources, remove_source
from ingest.readers import SUPPORTED_SUFFIXES, ReadError, read_document, read_sources

NEW_SUFFIXES = (".pptx", ".xlsx", ".xls", ".ods", ".csv", ".epub", ".odt", ".rtf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _paragraphs(path):
    doc = clean_document(read_document(path, path.parent))
    return doc, [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs]


def test_every_new_type_is_a_source_type():
    assert set(NEW_SUFFIXES) <= set(SUPPORTED_SUFFIXES)


def test_pptx_slides_are_pages_with_tables_and_notes(tmp_path):
    make_pptx(tmp_path / "deck.pptx")
    doc, paragraphs = _paragraphs(tmp_path / "deck.pptx")
    assert doc.meta.title == "Corvel Energy Review" and doc.meta.authors == ("Nadia Okafor",)
    assert ("The Corvel wind farm delivered 48 megawatts in its first winter of operation.", 3) in paragraphs
    assert ("Turbine model: Vestra V90 | Count: 16", 3) in paragraphs
    assert ("Mention the icing problem in February.", 3) in paragraphs
    assert ("Two substations were rebuilt in the spring.", 2) in paragraphs
    assert ("The northern line was buried underground.", 2) in paragraphs  # a paragraph of its own, not joined


def test_xlsx_rows_keep_their_headers_sheet_and_row(tmp_path):
    make_xlsx(tmp_path / "towns.xlsx")
    doc, paragraphs = _paragraphs(tmp_path / "towns.xlsx")
    assert doc.meta.title == "Coastal towns" and doc.meta.authors == ()  # openpyxl's own name is no author
    row = "Towns row 4: Town: Marlow Bay | Population: 412,000 | Area km2: 88.5 | Charter: 1862-05-01"
    assert (row, 1) in paragraphs
    assert ("Towns row 1: Coastal towns of the Serran province (census of 2021)", 1) in paragraphs
    assert ("Ports row 2: Port: Marlow Bay harbour | Ships per year: 3150", 2) in paragraphs


def test_ods_and_csv_rows(tmp_path):
    make_ods(tmp_path / "bridges.ods")
    _, paragraphs = _paragraphs(tmp_path / "bridges.ods")
    assert ("Row 2: Bridge: Hollin Viaduct | Span metres: 640 | Opened: 1887", 1) in paragraphs
    (tmp_path / "stations.csv").write_text(CSV, encoding="utf-8")
    doc, paragraphs = _paragraphs(tmp_path / "stations.csv")
    assert ("Row 2: Station: Kestrel Road | Opened: 1932 | Passengers per day: 18,450", None) in paragraphs
    assert doc.meta.title == "Station · Opened · Passengers per day"


def test_semicolon_csv_in_a_legacy_encoding(tmp_path):
    text = "Fromagerie;Meules par hiver\nSaint-Brévin;640\nMontlac;1 200\n"
    (tmp_path / "meules.csv").write_bytes(text.encode("cp1252"))
    _, paragraphs = _paragraphs(tmp_path / "meules.csv")
    assert ("Row 2: Fromagerie: Saint-Brévin | Meules par hiver: 640", None) in paragraphs


def test_epub_chapters_are_pages_with_book_metadata(tmp_path):
    make_epub(tmp_path / "tarn.epub")
    doc, paragraphs = _paragraphs(tmp_path / "tarn.epub")
    assert doc.meta.title == "Tales of Tarn Island" and doc.meta.authors == ("Ilse Marrow",) and doc.meta.date == "1998-04-02"
    assert ("The lighthouse keeper of Tarn Island kept 14 goats on the cliffs.", 2) in paragraphs
    assert ("Nobody stayed the winter.", 3) in paragraphs
    assert not any("Leaving" in text and page == 1 for text, page in paragraphs)  # the table of contents is not read


def test_odt_and_rtf(tmp_path):
    make_odt(tmp_path / "brenna.odt")
    doc, paragraphs = _paragraphs(tmp_path / "brenna.odt")
    assert doc.meta.title == "Brenna Glassworks" and doc.meta.authors == ("Tomas Vik",)
    assert ("The Brenna glassworks employed 260 workers in 1911.", None) in paragraphs
    made = make_all(tmp_path / "all")
    doc, paragraphs = _paragraphs(made[".rtf"])
    assert doc.meta.title == "Osric Tunnel" and doc.meta.authors == ("Jana Kolár",)
    assert ("The Osric tunnel is 3.2 kilometres long and opened in 1968.", None) in paragraphs


def _bad_files(tmp_path) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the reason's words) for every way a new-format file is refused."""
    good = make_all(tmp_path / "good")
    data = {suffix: path.read_bytes() for suffix, path in good.items()}
    return {
        "half.pptx": (corrupt(data[".pptx"]), "corrupt or unreadable PPTX"),
        "half.xlsx": (corrupt(data[".xlsx"]), "corrupt or unreadable XLSX"),
        "half.ods": (corrupt(data[".ods"]), "corrupt or unreadable ODS"),
        "half.epub": (corrupt(data[".epub"]), "corrupt or unreadable EPUB"),
        "half.odt": (corrupt(data[".odt"]), "corrupt or unreadable ODT"),
        "junk.xls": (b"\xd0\xcf\x11\xe0 not a workbook at all", "corrupt or unreadable XLS"),
        "junk.rtf": (b"Just words, no RTF header.", "not an RTF file"),
        "locked.pptx": (ole_encrypted(), "encrypted .pptx"),
        "locked.xlsx": (ole_encrypted(), "encrypted .xlsx"),
        "drm.epub": (drm_epub(data[".epub"]), "encrypted \\(DRM-protected\\) EPUB"),
        "locked.odt": (encrypted_odf(data[".odt"]), "encrypted ODT"),
        "locked.ods": (encrypted_odf(data[".ods"]), "encrypted ODS"),
        "empty.csv": (b"", "empty file"),
        "commas.csv": (b",,,\n,,\n", "no filled cells"),
        "blank.rtf": (b"{\\rtf1\\ansi {\\fonttbl{\\f0 Times;}} \\par }", "no text"),
    }


def test_bad_files_are_refused_with_a_reason(tmp_path):
    for name, (data, reason) in _bad_files(tmp_path).items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ReadError, match=reason):
            read_document(tmp_path / name, tmp_path)


def test_a_folder_with_bad_files_of_every_new_type_still_reads_the_good_ones(tmp_path):
    folder = tmp_path / "mixed"
    made = make_all(folder)
    for name, (data, _) in _bad_files(tmp_path).items():
        (folder / name).write_bytes(data)
    documents, skipped = read_sources(folder)
    assert sorted(d.file for d in documents) == sorted(p.name for p in made.values())
    assert sorted(s.file for s in skipped) == sorted(_bad_files(tmp_path / "again"))
    assert all(s.reason for s in skipped)


def test_add_accepts_every_new_type_and_refuses_a_broken_one(tmp_path):
    made = make_all(tmp_path / "incoming")
    (tmp_path / "incoming" / "half.pptx").write_bytes(corrupt(made[".pptx"].read_bytes()))
    added, skipped = add_sources([tmp_path / "incoming"], tmp_path / "sources")
    assert sorted(a.file for a in added) == sorted(p.name for p in made.values())
    assert [(s.file, s.reason.split(" (")[0]) for s in skipped] == [("half.pptx", "corrupt or unreadable PPTX")]


# ---------------------------------------------------------------- one corpus, one gold question per format


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder) -> Settings:
    root = tmp_path_factory.mktemp("formats")
    sources = root / "sources"
    make_all(sources)
    for name, (data, _) in _bad_files(root / "bad").items():
        (sources / name).write_bytes(data)
    settings = Settings(sources_dir=sources, index_dir=root / "index")
    report = build_index(settings, embedder=embedder, full=True)
    assert sorted(s.file for s in report.skipped) == sorted(_bad_files(root / "again"))  # and nothing else is lost
    assert report.sources == 7
    return settings


def _ask(settings: Settings, question: str, capsys) -> list[dict]:
    capsys.readouterr()
    code = cli_main(["ask", question, "--json", "--k", "5", "--sources-dir", str(settings.sources_dir), "--index-dir", str(settings.index_dir)])
    assert code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("question, phrase, file, page", FACTS, ids=[f[2] for f in FACTS])
def test_each_format_answers_its_gold_question_first(corpus, capsys, question, phrase, file, page):
    results = _ask(corpus, question, capsys)
    first = results[0]
    assert first["source"] == file and phrase in first["text"], [(r["source"], r["text"][:80]) for r in results]
    assert first["answers"] and first["page"] == page


def test_passages_are_exact_slices_of_the_cleaned_text(corpus):
    live = load_version(corpus.index_dir)
    for passage in live.passages:
        for occurrence in passage.occurrences:
            assert live.sources[occurrence.file].text[occurrence.start : occurrence.end] == passage.text


def test_a_new_format_source_is_removed_from_answers(corpus, tmp_path, embedder, capsys):
    sources, index = tmp_path / "sources", tmp_path / "index"
    shutil.copytree(corpus.sources_dir, sources)
    shutil.copytree(corpus.index_dir, index)
    settings = Settings(sources_dir=sources, index_dir=index)
    remove_source("towns.xlsx", sources, tmp_path / "trash")
    report = build_index(settings, embedder=embedder)
    assert report.embedded == 0  # removing a file embeds nothing
    results = _ask(settings, "What is the population of Marlow Bay?", capsys)
    assert all(r["source"] != "towns.xlsx" for r in results)

