"""Real-world file shapes, one shared index: every distinctive phrase must be found by `verbatim ask`.

Fact sheets of short lines, Markdown with a table, a list and code, UTF-16 LE/BE with a BOM,
Latin-1, KOI8-R and CRLF files. Each case asks a question through the CLI's own `main` (the code
`verbatim ask --json` runs, without a process start per question) and looks for the phrase in the
returned passages. The 20 MB file is in tests/test_large_file.py.
"""

from __future__ import annotations

import codecs
import json

import pytest

from app.cli import main as cli_main
from index.build.pipeline import build_index
from index.config import Settings
from ingest.clean import clean_document
from ingest.readers import read_document

FACT_SHEET = """Vessby fact sheet
Capital city Vessby
Population 12,400
River Lumme
Twin town Oxaburg
Mayor Åsa Lindqvist
"""

MARKDOWN = """# Norland prison census

The census office of Norland publishes its figures every spring

## Prisoners by region

| Region | Prisoners | Change |
|---|---:|---|
| Upper Norland | 4,512 | up 3% |
| Lower Norland | 2,087 | down 1% |

## Export script

```python
def leak():
    return "quartz-owl" + __secret__
```

Ferry operators of the archipelago:

- Skerry Lines runs the night crossing
- Osprey Boats serves the northern islets
"""

LATIN_1 = (
    "La fromagerie de Saint-Brévin affine six cent quarante meules de comté chaque hiver. "
    "Le maître affineur, Hélène Dubré, retourne les meules à la main deux fois par semaine.\n"
)
KOI8_R = (
    "Город Вессби известен своими соборами и старой крепостью. Население города составляет "
    "двенадцать тысяч человек, а крепость построили монахи в тринадцатом веке.\n"
)
UTF16_LE = "The lighthouse at Marrow Point was first lit in 1871 and burned whale oil until 1903.\n"
UTF16_BE = "Glassblowers of Tervel shipped 9,300 lanterns to the northern ports in the winter of 1912.\n"
CRLF = "Ferry timetable\r\n\r\nThe ferry to Osterholm leaves at 06:40 every weekday.\r\nIt returns at 19:15.\r\n"

FILES: dict[str, bytes] = {
    "vessby-facts.txt": FACT_SHEET.encode("utf-8"),
    "norland.md": MARKDOWN.encode("utf-8"),
    "fromagerie.txt": LATIN_1.encode("latin-1"),
    "vessby-ru.txt": KOI8_R.encode("koi8-r"),
    "lighthouse.txt": codecs.BOM_UTF16_LE + UTF16_LE.encode("utf-16-le"),
    "glassblowers.txt": codecs.BOM_UTF16_BE + UTF16_BE.encode("utf-16-be"),
    "ferry.txt": CRLF.encode("utf-8"),
}

# (question, phrase that must be in a returned passage, file it must come from)
CASES = [
    ("What is the twin town of Vessby?", "Twin town Oxaburg", "vessby-facts.txt"),
    ("What is the population of Vessby?", "Population 12,400", "vessby-facts.txt"),
    ("How many prisoners are held in Upper Norland?", "Region: Upper Norland | Prisoners: 4,512 | Change: up 3%", "norland.md"),
    ("When does the census office of Norland publish its figures?", "publishes its figures every spring", "norland.md"),
    ("What does the leak function return?", 'def leak():\n    return "quartz-owl" + __secret__', "norland.md"),
    ("Who runs the night crossing?", "- Skerry Lines runs the night crossing", "norland.md"),
    ("How many meules does the fromagerie de Saint-Brévin affine?", "six cent quarante meules de comté", "fromagerie.txt"),
    ("Чем известен город Вессби?", "Город Вессби известен своими соборами", "vessby-ru.txt"),
    ("When was the lighthouse at Marrow Point first lit?", "first lit in 1871", "lighthouse.txt"),
    ("How many lanterns did the glassblowers of Tervel ship?", "shipped 9,300 lanterns", "glassblowers.txt"),
    ("When does the ferry to Osterholm leave?", "The ferry to Osterholm leaves at 06:40 every weekday.", "ferry.txt"),
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, embedder) -> Settings:
    root = tmp_path_factory.mktemp("matrix")
    sources = root / "sources"
    sources.mkdir()
    for name, data in FILES.items():
        (sources / name).write_bytes(data)
    settings = Settings(sources_dir=sources, index_dir=root / "index")
    report = build_index(settings, embedder=embedder, full=True)
    assert report.skipped == ()
    assert report.sources == len(FILES)
    return settings


def _ask(settings: Settings, question: str, capsys) -> list[dict]:
    capsys.readouterr()
    code = cli_main(["ask", question, "--json", "--k", "5", "--sources-dir", str(settings.sources_dir), "--index-dir", str(settings.index_dir)])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("question, phrase, file", CASES, ids=[c[2] + ":" + c[1][:24] for c in CASES])
def test_each_distinctive_phrase_is_found_by_ask(matrix, capsys, question, phrase, file):
    results = _ask(matrix, question, capsys)
    found = [r for r in results if phrase in r["text"] and r["source"] == file]
    assert found, f"{phrase!r} not in the passages returned for {question!r}: {[r['text'][:80] for r in results]}"


def test_every_passage_is_a_verbatim_slice_of_the_cleaned_text(matrix, embedder):
    from index.storage.store import load_version

    live = load_version(matrix.index_dir)
    for passage in live.passages:
        for occurrence in passage.occurrences:
            assert live.sources[occurrence.file].text[occurrence.start : occurrence.end] == passage.text


def test_titles_and_text_are_decoded_not_mojibake(matrix):
    from index.storage.store import load_version

    live = load_version(matrix.index_dir)
    assert live.sources["vessby-ru.txt"].text.startswith("Город Вессби")
    assert live.sources["fromagerie.txt"].text.startswith("La fromagerie de Saint-Brévin")
    assert live.sources["lighthouse.txt"].text == UTF16_LE.strip()
    assert live.sources["vessby-facts.txt"].meta.title == "Vessby fact sheet"
    assert "Mayor Åsa Lindqvist" in live.sources["vessby-facts.txt"].text


def test_utf16_chinese_with_a_bom_is_read_as_chinese(tmp_path):
    text = "萨尔瓦多的监狱\n\n萨尔瓦多的监狱人口在二零二四年达到十一万九千人。这是世界上最高的监禁率。\n"
    for name, data in (("le.txt", codecs.BOM_UTF16_LE + text.encode("utf-16-le")), ("be.txt", codecs.BOM_UTF16_BE + text.encode("utf-16-be"))):
        (tmp_path / name).write_bytes(data)
        doc = clean_document(read_document(tmp_path / name, tmp_path))
        assert doc.meta.title == "萨尔瓦多的监狱"
        assert "十一万九千人" in doc.text


def test_ask_json_gives_the_heading_a_passage_stands_under(matrix, capsys):
    results = _ask(matrix, "How many prisoners are held in Upper Norland?", capsys)
    row = next(r for r in results if "Upper Norland | Prisoners: 4,512" in r["text"])
    assert row["heading"] == "Norland prison census"  # the first line of the heading run above the table
