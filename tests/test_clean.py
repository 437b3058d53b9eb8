import re

import pytest

from ingest.clean import NO_INDEXABLE_TEXT, clean_document, clean_text, is_alt_text_duplicate, strip_markdown
from ingest.readers import read_sources

from conftest import SOURCES

# Every line of page furniture in the bundled corpus: none may survive cleaning.
BOILERPLATE = [
    "loader from loading.io",
    "info_outline",
    "show art",
    "Available Downloads",
    "Remote Visualization",
    "More Episodes",
    "PISM BULLETIN",
    "Latin America Today",
    "Piercing the Propaganda Bubble",
    "Family Separation Crisis",
    "LGBTIQ",
    "Mujeres contra la corrupción",
    "Description\n",
]


@pytest.fixture(scope="module")
def cleaned():
    documents, skipped = read_sources(SOURCES)
    assert not skipped
    return {d.file: clean_document(d) for d in documents}


def test_markdown_residue():
    assert strip_markdown("driven by two gangs known as *maras*: Barrio 18") == "driven by two gangs known as maras: Barrio 18"
    assert strip_markdown("[In February 2025, Rubio visited](#), among others.") == "In February 2025, Rubio visited, among others."
    assert strip_markdown(r"from \$145 million to \$314 million") == "from $145 million to $314 million"
    assert strip_markdown("**Bold** and __strong__ and _em_ text") == "Bold and strong and em text"
    assert strip_markdown("**This podcast is in Spanish.") == "This podcast is in Spanish."
    assert strip_markdown("Beatriz Magaloni ( / ), a political scientist") == "Beatriz Magaloni, a political scientist"
    assert strip_markdown("# A heading") == "A heading"
    # Arithmetic and identifiers are not emphasis.
    assert strip_markdown("2 * 3 * 4 and snake_case_name") == "2 * 3 * 4 and snake_case_name"


def test_no_boilerplate_survives(cleaned):
    for doc in cleaned.values():
        for line in BOILERPLATE:
            assert line not in doc.text + "\n", f"{line!r} survived in {doc.file}"
    # Markdown syntax goes from Markdown only (issue 26): read as Markdown, the captures keep no residue;
    # as the .txt files they are, they keep every character they hold.
    as_markdown = "".join(p for d in read_sources(SOURCES)[0] for p, _ in clean_text(d.text, markdown=True))
    assert "\\$" not in as_markdown and not re.search(r"\*\w", as_markdown)


def test_content_survives(cleaned):
    pism = cleaned["pism-international-echoes-of-el-salvador-public-security-model.txt"].text
    assert "total number of prisoners in El Salvador reached 119,000 people" in pism
    assert "driven by two gangs known as *maras*: Barrio 18" in pism  # a .txt: its asterisks are its own
    # A paragraph cut by a page break is joined again.
    assert "and a growing percentage approve of non-democratic regimes" in pism
    page = cleaned["wola-podcast-page-grim-side-of-el-salvador-security-model.txt"].text
    assert "Release Date: 10/09/2025" in page
    assert page.count("the highest incarceration rate in the world") == 1


def test_pull_quotes_are_dropped(cleaned):
    csis = cleaned["csis-burgeoning-regional-appeal-of-mano-dura.txt"].text
    assert csis.count("Bukele’s actions and his improvements to El Salvador’s security have made his name synonymous") == 1
    assert csis.count("Plan Bukele not only is popular in El Salvador") == 1


def _repeats_by_definition(paragraphs: list[str], min_words: int = 8) -> list[str]:
    """The definition, quadratic: a paragraph of at least min_words words goes when its words already
    stand, in order, in the paragraphs kept before it (joined, so a quote may span two of them)."""
    kept, seen = [], []
    for paragraph in paragraphs:
        words = re.sub(r"\W+", " ", paragraph.casefold()).split()
        n = len(words)
        if n >= min_words and any(seen[at : at + n] == words for at in range(len(seen) - n + 1)):
            continue
        kept.append(paragraph)
        seen += words
    return kept


def test_repeated_paragraphs_are_dropped_as_defined_in_long_random_documents():
    import random

    from ingest.clean import drop_repeated_paragraphs

    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(12)]  # few words: many runs repeat by chance
    for _ in range(40):
        paragraphs: list[str] = []
        for _ in range(rng.randint(5, 60)):
            choice = rng.random()
            if paragraphs and choice < 0.3:  # a quote of earlier text, perhaps across two paragraphs
                source = " ".join(paragraphs[rng.randrange(len(paragraphs)) :]).split()
                start = rng.randrange(len(source))
                paragraphs.append(" ".join(source[start : start + rng.randint(3, 20)]).upper())
            elif paragraphs and choice < 0.4:
                paragraphs.append(rng.choice(paragraphs) + ".")  # the same paragraph again
            else:
                paragraphs.append(" ".join(rng.choices(vocabulary, k=rng.randint(1, 25))) + ".")
        kept = [text for text, _ in drop_repeated_paragraphs([(text, None) for text in paragraphs])]
        assert kept == _repeats_by_definition(paragraphs)
        assert len(kept) < len(paragraphs) or len(paragraphs) < 10


def test_titles_come_from_the_document():
    from ingest.readers import RawDocument, SourceMeta

    raw = RawDocument("x.txt", "\n\nA Title Line\n\nBody sentence one. Body two.\n", "f", SourceMeta("x.txt"))
    doc = clean_document(raw)
    assert doc.meta.title == "A Title Line"
    assert [doc.text[p.start : p.end] for p in doc.paragraphs] == ["A Title Line", "Body sentence one. Body two."]


def test_general_rules_on_unseen_page():
    text = "\n".join(
        [
            "spinner by example.com",
            "Annual Report on Rivers",
            "Share",
            "Print",
            "Deep Water show image Deep Water",
            "Other Show",
            "A teaser about another item that goes on...",
            "play_arrow",
            "The river rose 3.2 metres in 2024.",
            "It flooded the valley.",
            "ANNUAL REPORT",
            "Its banks were rebuilt.",
        ]
    )
    paragraphs = [p for p, _ in clean_text(text)]
    assert paragraphs == [
        "Annual Report on Rivers",
        "The river rose 3.2 metres in 2024.",
        "It flooded the valley.",
        "Its banks were rebuilt.",
    ]
    assert is_alt_text_duplicate("Deep Water show image Deep Water")
    assert not is_alt_text_duplicate("The end of the end")


def test_markdown_links_with_parentheses_in_the_target_are_reduced_to_their_text():
    from ingest.clean import strip_markdown

    text = "Read [the report](javascript:alert(3)) or [X](https://en.wikipedia.org/wiki/X_(y)), then stop."
    assert strip_markdown(text) == "Read the report or X, then stop."


def test_code_is_kept_as_written():
    text = "Intro line that ends here.\n\n```python\ndef leak():\n    return __secret__  # *not* emphasis\n```\n\nCall `leak()` or `__init__` now."
    paragraphs = [p for p, _ in clean_text(text)]
    assert paragraphs == [
        "Intro line that ends here.",
        "def leak():\n    return __secret__  # *not* emphasis",
        "Call leak() or __init__ now.",
    ]
    assert strip_markdown("def leak():") == "def leak():"


def test_tables_become_rows_labelled_with_their_header():
    text = "| Country | Prisoners |\n|---|---:|\n| El Salvador | 119,000 |\n| Honduras | **20,000** |\n\n|---|---|\n\n```\n```"
    assert [p for p, _ in clean_text(text)] == ["Country: El Salvador | Prisoners: 119,000\nCountry: Honduras | Prisoners: 20,000"]


def test_short_lines_of_a_fact_sheet_all_survive():
    lines = ["Vessby fact sheet", "Capital city Vessby", "UNESCO WORLD HERITAGE", "1243", "Website vessby.org", "Population 12,400"]
    assert [p for p, _ in clean_text("\n".join(lines))] == lines


def test_page_furniture_rules_need_their_context():
    # A bare number is a page number in paged (PDF) text only; a credit needs a credit word.
    assert [p for p, _ in clean_text("Founded in\n\n1243\n\nby monks.")] == ["Founded in", "1243", "by monks."]
    assert [p for p, _ in clean_text("First page text here.\n\n12\n\fSecond page text.")] == ["First page text here.", "Second page text."]
    assert [p for p, _ in clean_text("Photo by example.com\n\nThe river rose.")] == ["The river rose."]


def test_bidi_overrides_are_removed_from_text():
    assert clean_text("Invoice \u202eTXT.EXE\u202c total 12 euros.")[0][0] == "Invoice TXT.EXE total 12 euros."


def test_a_file_with_no_indexable_text_is_reported(tmp_path, embedder):
    from index.build.pipeline import build_index
    from index.config import Settings
    from ingest.library import add_sources

    furniture = tmp_path / "furniture.txt"
    furniture.write_text("info_outline\nShare\nPrint\n---\n")
    added, skipped = add_sources([furniture], tmp_path / "sources")
    assert added == [] and [(s.file, s.reason) for s in skipped] == [("furniture.txt", NO_INDEXABLE_TEXT)]
    (tmp_path / "sources" / "furniture.txt").write_text("info_outline\nShare\nPrint\n")
    (tmp_path / "sources" / "real.txt").write_text("The harbour survey counted 212 fishing boats\n")
    report = build_index(Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index"), embedder=embedder)
    assert [(s.file, s.reason) for s in report.skipped] == [("furniture.txt", NO_INDEXABLE_TEXT)]
    assert report.sources == 1 and report.passages == 1
