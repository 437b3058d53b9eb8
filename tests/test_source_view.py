"""The source view's model and renderings on real indexes: paragraphs and pages as cleaning made them,
the focus equal to the cited text, neighbours, moved passages, PDF page pictures, `verbatim show`."""

from __future__ import annotations

import html
import io
import re
import shutil

import pytest
from PIL import Image

from app.cli import main
from app.page_image import PAGE_WIDTH_PX, page_png
from app.source_view import (
    Focus,
    LocationError,
    SourceDocument,
    SourceNotFound,
    SourceParagraph,
    locate,
    location_label,
    source_document,
    source_html,
    source_text,
)
from index.build.pipeline import build_index
from index.config import Settings
from index.storage.store import load_version
from ingest.clean import clean_document
from ingest.readers import read_document
from ingest.records import SourceMeta
from tests.test_formats import make_pdf

CSIS = "csis-burgeoning-regional-appeal-of-mano-dura.txt"
PDF_PAGES = [
    ["Harbour Survey", "", "The survey counted 412 vessels in the harbour during the spring season.", "Dredging kept the channel open."],
    ["Dredging Costs", "", "Dredging the main channel cost 3.2 million euros in the survey year.", "Silt returns every winter."],
    ["Lighthouse Repairs", "", "The north lighthouse lamp was repaired after a storm in March.", "Its wiring had corroded."],
]


def _marked(fragment: str, css: str) -> str:
    """The text of every <mark> whose class list includes `css`, joined, unescaped."""
    return html.unescape("".join(re.findall(rf'<mark class="[^"]*\b{css}\b[^"]*"[^>]*>(.*?)</mark>', fragment)))


@pytest.fixture(scope="module")
def bundled(bundled_settings):
    return load_version(bundled_settings.index_dir)


@pytest.fixture(scope="module")
def pdf_settings(tmp_path_factory, embedder) -> Settings:
    root = tmp_path_factory.mktemp("pdf-source")
    (root / "sources").mkdir()
    make_pdf(root / "sources" / "harbour.pdf", PDF_PAGES)
    settings = Settings(sources_dir=root / "sources", index_dir=root / "index")
    report = build_index(settings, embedder=embedder)
    assert report.sources == 1 and not report.skipped
    return settings


def test_paragraphs_and_pages_are_those_cleaning_made(bundled, bundled_settings, pdf_settings):
    cases = [(bundled, bundled_settings)] + [(load_version(pdf_settings.index_dir), pdf_settings)]
    for index, settings in cases:
        for name in index.sources:
            cleaned = clean_document(read_document(settings.sources_dir / name, settings.sources_dir))
            doc = source_document(index, name)
            assert doc.text == cleaned.text
            assert [(p.start, p.end, p.page) for p in doc.paragraphs] == [(p.start, p.end, p.page) for p in cleaned.paragraphs]
            for o in doc.passages:  # every citation's paragraph number points at the paragraph it starts in
                paragraph = doc.paragraph(o.paragraph)
                assert paragraph.start <= o.start < paragraph.end and o.end <= doc.paragraphs[-1].end
                assert paragraph.page == o.page
    pdf = source_document(load_version(pdf_settings.index_dir), "harbour.pdf")
    assert pdf.pages == 3 and [p.page for p in pdf.paragraphs if p.page] == sorted(p.page for p in pdf.paragraphs if p.page)


def test_focus_is_exactly_the_cited_text_and_neighbours_walk_the_source(bundled):
    doc = source_document(bundled, CSIS)
    assert len(doc.passages) > 10
    for occurrence in doc.passages:
        evidence = (occurrence.start + 5, occurrence.end - 5)
        rendered = source_html(doc, Focus(occurrence.start, occurrence.end, evidence))
        # A passage of short lines (a byline) spans paragraphs: each paragraph marks its part.
        assert _marked(rendered, "vb-focus") == doc.text[occurrence.start : occurrence.end].replace("\n\n", "")
        assert _marked(rendered, "vb-evidence") == doc.text[evidence[0] : evidence[1]].replace("\n\n", "")
        assert rendered.count('id="vb-focus"') == 1
        label = location_label(doc, occurrence.start, occurrence.end)  # "¶ 49" or, across paragraphs, "¶ 49–50"
        assert label.startswith(f"¶ {occurrence.paragraph}") and f"chars {occurrence.start}–{occurrence.end}" in label
        assert label in html.unescape(rendered)
    # Every paragraph is shown with its number, and the text between the tags is the whole source.
    rendered = source_html(doc)
    assert rendered.count('class="vb-pnum"') == len(doc.paragraphs)
    body = re.sub(r'<span class="vb-pnum">¶ \d+</span> ', "", rendered.split('<div class="vb-doc-text">', 1)[1])
    paragraphs = [html.unescape(re.sub(r"<[^>]+>", "", p)) for p in re.findall(r"<p [^>]*>(.*?)</p>", body)]
    assert "\n\n".join(paragraphs) == doc.text
    # Next from the first passage visits every passage in reading order; previous walks back.
    walk, current = [doc.passages[0]], doc.passages[0]
    while (following := doc.neighbours(current.start, current.end)[1]) is not None:
        walk.append(following)
        current = following
    assert walk == list(doc.passages)
    assert doc.neighbours(current.start, current.end)[0] == doc.passages[-2]
    assert doc.neighbours(doc.passages[0].start, doc.passages[0].end)[0] is None


def test_a_rebuild_that_moves_a_passage_still_opens_it(tmp_path, embedder):
    sources = tmp_path / "sources"
    sources.mkdir()
    original = "Tide Tables\n\nThe spring tide reached 4.1 metres at the north pier on 3 March.\n\nNeap tides were lower.\n"
    (sources / "tides.txt").write_text(original, encoding="utf-8")
    settings = Settings(sources_dir=sources, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder)
    before = load_version(settings.index_dir)
    passage = next(p for p in before.passages if "4.1 metres" in p.text)
    old = passage.occurrences[0]

    (sources / "tides.txt").write_text(original.replace("Tide Tables\n\n", "Tide Tables\n\nA new first paragraph was added here.\n\n"), encoding="utf-8")
    build_index(settings, embedder=embedder)
    after = load_version(settings.index_dir)
    doc = source_document(after, "tides.txt")
    focus, notice = locate(after, doc, old.start, old.end, passage.id, (4, 15))
    assert doc.text[focus.start : focus.end] == passage.text and focus.start > old.start
    assert doc.text[focus.evidence[0] : focus.evidence[1]] == passage.text[4:15]
    assert "re-indexed" in notice
    # A passage that no longer exists: the same characters, said so, no evidence mark.
    focus, notice = locate(after, doc, 0, 5, passage_id=12345, evidence=(0, 2))
    assert (focus.start, focus.end, focus.evidence) == (0, 5, None) and "no longer" in notice
    with pytest.raises(LocationError, match="out of range"):
        locate(after, doc, 0, len(doc.text) + 1)
    with pytest.raises(LocationError, match="paragraph 9 is out of range: tides.txt has 4 paragraphs"):
        locate(after, doc, paragraph=9)
    with pytest.raises(SourceNotFound, match="tides.txt"):
        source_document(after, "tidal.txt")


def test_a_pdf_page_is_drawn_only_from_the_file_that_was_indexed(pdf_settings, tmp_path):
    index = load_version(pdf_settings.index_dir)
    doc = source_document(index, "harbour.pdf")
    cited = next(o for o in doc.passages if "3.2 million" in doc.text[o.start : o.end])
    assert cited.page == 2 and doc.paragraph_at(cited.start).page == 2
    path = pdf_settings.sources_dir / "harbour.pdf"
    png = page_png(path, doc.fingerprint, 2)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == PAGE_WIDTH_PX and image.height > image.width  # A4, portrait
    assert page_png(path, doc.fingerprint, 9) is None  # no such page
    changed = tmp_path / "harbour.pdf"
    shutil.copy(path, changed)
    changed.write_bytes(changed.read_bytes() + b"\n% edited")
    assert page_png(changed, doc.fingerprint, 2) is None  # not the indexed bytes: no picture
    assert page_png(tmp_path / "missing.pdf", doc.fingerprint, 2) is None
    rendered = html.unescape(source_html(doc, Focus(cited.start, cited.end), page_image="data:image/png;base64,AAAA"))
    assert "Original page 2 of harbour.pdf" in rendered and 'id="vb-page-2"' in rendered and "(p. 2)" in rendered


def test_hostile_metadata_and_text_stay_text():
    text = '<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror="alert(3)">'
    meta = SourceMeta("evil.txt", title="<b onmouseover=alert(4)>T</b>", publisher="<i>P</i>", url="javascript:alert(5)")
    doc = SourceDocument(meta, text, "f", (SourceParagraph(1, 0, len(text), None),), ())
    rendered = source_html(doc, Focus(0, 8))
    assert "<script" not in rendered and "<img" not in rendered and "<b " not in rendered and "<i>" not in rendered
    assert "href" not in rendered  # a javascript: URL is shown, never linked
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).count(text) == 1
    good = SourceDocument(SourceMeta("a.txt", url="https://example.org/a?b=1&c=2"), "Text.", "f", (SourceParagraph(1, 0, 5, None),), ())
    assert 'href="https&#58;//example.org/a?b=1&#38;c=2"' in source_html(good)


def test_show_prints_the_context_of_a_passage(bundled, bundled_settings, capsys):
    flags = ["--index-dir", str(bundled_settings.index_dir), "--sources-dir", str(bundled_settings.sources_dir)]
    doc = source_document(bundled, CSIS)
    cited = doc.passages[5]
    assert main(["show", CSIS, "--chars", f"{cited.start}-{cited.end}", *flags]) == 0
    out = capsys.readouterr().out
    assert f"»{doc.text[cited.start : cited.end]}«" in out
    assert f"¶ {cited.paragraph - 1}  " in out and f"¶ {cited.paragraph + 1}  " in out and f"¶ {cited.paragraph + 2}  " not in out
    assert out.startswith("The Burgeoning Regional Appeal of Mano Dura Crime-Fighting Strategies\n")

    assert main(["show", f"sources/{CSIS}", "--paragraph", "1", "--context", "0", *flags]) == 0
    out = capsys.readouterr().out
    assert "¶ 1  »" in out and "¶ 2  " not in out

    assert main(["show", CSIS, "--paragraph", "999", *flags]) == 2  # a refused request
    assert capsys.readouterr().err == f"error: paragraph 999 is out of range: {CSIS} has {len(doc.paragraphs)} paragraphs (1–{len(doc.paragraphs)})\n"
    assert main(["show", "nothing.txt", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no source named 'nothing.txt' in the index (sources: ") and CSIS in err and err.count("\n") == 1
    # A reversed range is a usage mistake (issue 26, item 14): one line on stderr, exit 2, before any lookup.
    with pytest.raises(SystemExit) as refused:
        main(["show", CSIS, "--chars", "10-2", *flags])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("verbatim show: error: argument --chars: '10-2': give a character range A-B") and err.count("\n") == 1
    assert source_text(doc).count("¶ ") == len(doc.paragraphs)


def test_ask_markdown_quotes_are_verbatim(bundled, bundled_settings, capsys):
    flags = ["--index-dir", str(bundled_settings.index_dir), "--sources-dir", str(bundled_settings.sources_dir)]
    assert main(["ask", "How many times has the state of emergency been extended?", "--markdown", *flags]) == 0
    out = capsys.readouterr().out
    quotes = re.findall(r'^> "(.*)" — ', out, flags=re.M) + re.findall(r'^\*\*\d+\.\*\* Highlighted: "(.*)"$', out, flags=re.M)
    assert len(quotes) >= 6
    texts = [record.text for record in bundled.sources.values()]
    # Quotes are made literal Markdown (a backslash before punctuation the source holds, like a .txt's own
    # *maras*, issue 26 item 12); a viewer shows the character itself, as CommonMark's backslash escapes do.
    shown = [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", q) for q in quotes]
    assert all(any(q in t for t in texts) for q in shown)
    assert out.startswith("## How many times has the state of emergency been extended?\n") and "46 times" in out


def test_the_web_view_shows_a_cited_pdf_page_and_steps_between_passages(pdf_settings, embedder):
    from app.source_page import SourceView
    from index.search import Searcher

    view = SourceView(pdf_settings, Searcher(pdf_settings, embedder))
    doc = source_document(load_version(pdf_settings.index_dir), "harbour.pdf")
    cited = next(o for o in doc.passages if "3.2 million" in doc.text[o.start : o.end])
    rendered, state, previous, following, where = view.open({"file": "harbour.pdf", "start": str(cited.start), "end": str(cited.end)})
    assert '<img src="data:image/png;base64,' in rendered and "Original page 2 of harbour.pdf" in rendered
    assert _marked(rendered, "vb-focus") == doc.text[cited.start : cited.end]
    assert state == {"file": "harbour.pdf", "start": cited.start, "end": cited.end}
    assert previous.interactive and following.interactive
    assert "passage" in where and f"of {len(doc.passages)}" in where
    # Next passage: the one after it, on page 3, with page 3's picture.
    rendered, state, *_ = view.step(state, +1)
    after = doc.neighbours(cited.start, cited.end)[1]
    assert state["start"] == after.start and _marked(rendered, "vb-focus") == doc.text[after.start : after.end]
    assert f"Original page {after.page} of harbour.pdf" in rendered
    # Bad links get a plain message, never a traceback.
    assert "no source named" in html.unescape(view.open({"file": "nope.pdf"})[0])
    rendered = html.unescape(view.open({"file": "harbour.pdf", "start": "x", "end": "4"})[0])
    assert "Cannot show that place: 'x' is not a whole number" in rendered and "Harbour Survey" in rendered
    assert "No source given" in view.open({})[0]
    rendered = view.open({"file": "harbour.pdf", "start": str(cited.start), "end": str(cited.end), "ev": "4-"})[0]
    assert _marked(rendered, "vb-focus") == doc.text[cited.start : cited.end] and "vb-evidence" not in rendered


def test_find_source_compares_whole_path_components():
    from types import SimpleNamespace

    from app.source_view import find_source

    index = SimpleNamespace(sources=dict.fromkeys(["a/readme.txt", "b/readme.txt", "x/a/notes.txt", "csis.txt"]))
    assert find_source(index, "a/readme.txt") == "a/readme.txt"
    assert find_source(index, "sources/b/readme.txt") == "b/readme.txt"  # a path ending in an indexed one
    assert find_source(index, "sources\\b\\readme.txt") == "b/readme.txt"
    assert find_source(index, "/home/me/sources/csis.txt") == "csis.txt"
    assert find_source(index, "a/notes.txt") == "x/a/notes.txt"  # the one indexed path ending in the name
    assert find_source(index, "notes.txt") == "x/a/notes.txt"
    # cba/readme.txt ends in the characters of a/readme.txt, not in its components.
    for name in ("cba/readme.txt", "ba/readme.txt", "readme.txt", "../readme.txt", "xa/notes.txt", "is.txt"):
        with pytest.raises(SourceNotFound):
            find_source(index, name)
    # Even with one readme.txt indexed, another folder's readme.txt is not it.
    alone = SimpleNamespace(sources=dict.fromkeys(["a/readme.txt"]))
    assert find_source(alone, "readme.txt") == "a/readme.txt"
    with pytest.raises(SourceNotFound):
        find_source(alone, "cba/readme.txt")
    # When the name ends in two indexed paths, the longer (more specific) one is meant.
    both = SimpleNamespace(sources=dict.fromkeys(["readme.txt", "a/readme.txt"]))
    assert find_source(both, "sources/a/readme.txt") == "a/readme.txt"
    assert find_source(both, "sources/readme.txt") == "readme.txt"
