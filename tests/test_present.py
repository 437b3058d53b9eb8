import html
import re

from urllib.parse import parse_qs, urlsplit

from app.present import (
    NO_ANSWER,
    answer_to_html,
    answer_to_markdown,
    answer_to_text,
    citation_markdown,
    escape,
    group_by_source,
    hit_quotes,
    hit_to_dict,
    md_literal,
    question_link,
    source_link,
)
from index.search import Answer, Citation, Hit
from ingest.records import Occurrence, Passage, SourceMeta, Span

HOSTILE = 'Click [here](javascript:alert(1)) <script>alert(1)</script> <img src=x onerror="alert(2)"> *bold* $x$ & co.'


def _hit(text: str, files: list[str], score: float, evidence: tuple[Span, ...] = (), page: int | None = None, url: str = "") -> Hit:
    occurrences = tuple(Occurrence(f, 10, 10 + len(text), 2, page) for f in files)
    passage = Passage(1, text, (Span(0, len(text)),), occurrences)
    citations = tuple(
        Citation(SourceMeta(f, title=f"Title {f}", date="2025-01-02", authors=("A. Author",), publisher="Pub", url=url), o)
        for f, o in zip(files, occurrences)
    )
    return Hit(passage, score, score, 1.0, evidence or passage.sentences, citations)


def test_escape_is_exact_and_inert():
    escaped = escape(HOSTILE)
    assert html.unescape(escaped) == HOSTILE
    assert not re.search(r"[<>*\[\]()$]", escaped)


def test_hostile_text_renders_inert():
    answer = Answer("q", "hybrid", (_hit(HOSTILE, ["a.txt"], 0.9),), False, "v", 1.0)
    rendered = answer_to_html(answer, link=question_link("q <script>", 5, "hybrid"))
    assert "<script" not in rendered and "<img" not in rendered and "javascript:" not in rendered
    quote = re.search(r'<blockquote class="vb-quote">(.*?)</blockquote>', rendered).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", quote)) == HOSTILE
    # The hidden copy and export payloads hold it too, as entities (no raw newline: one HTML line).
    for payload in re.findall(r'<(?:span|div) class="vb-(?:pay vb-pay-passage|md)">(.*?)</(?:span|div)>', rendered):
        assert not re.search(r"[<>*\[\]()$\n]", payload) and md_literal(HOSTILE) in html.unescape(payload)


def test_evidence_is_marked_inside_the_quote():
    text = "First sentence. The answer is 42. Last one."
    hit = _hit(text, ["a.txt"], 0.9, evidence=(Span(16, 33),))
    rendered = answer_to_html(Answer("q", "hybrid", (hit,), False, "v", 1.0))
    assert "<mark>The answer is 42.</mark>" in rendered
    assert "»The answer is 42.«" in answer_to_text(Answer("q", "hybrid", (hit,), False, "v", 1.0))
    assert hit_to_dict(hit)["evidence"] == "The answer is 42."


def test_abstention_says_so_and_marks_no_evidence():
    text = "First sentence. The answer is 42. Last one."
    answer = Answer("q", "hybrid", (_hit(text, ["a.txt"], 0.1, evidence=(Span(16, 33),)),), True, "v", 1.0)
    rendered = answer_to_html(answer)
    assert NO_ANSWER in rendered and "<mark>" not in rendered
    assert 'class="vb-hit vb-closest"' in rendered and "does not answer" in rendered
    assert "vb-copy-sentence" not in rendered  # no answering sentence to copy
    assert "&#38;ev=" not in rendered  # the source view link asks for no evidence mark either
    printed = answer_to_text(answer)
    assert printed.startswith(NO_ANSWER) and "»" not in printed and "(does not answer)" in printed
    markdown = answer_to_markdown(answer)
    assert NO_ANSWER in markdown and "Highlighted" not in markdown and "(does not answer)" in markdown


def test_markdown_quotes_are_verbatim_with_a_citation():
    text = 'He said "no" *twice*. The answer is 42. Last one.'
    hit = _hit(text, ["a.pdf", "b.txt"], 0.9, evidence=(Span(22, 39),), page=4, url="https://example.org/r?id=1")
    passage, sentence = hit_quotes(hit, abstained=False)
    cite = "A. Author, *Title a.pdf*, Pub, 2025-01-02, ¶ 2 (p. 4), https://example.org/r?id=1"
    assert citation_markdown(hit.citations[0]) == cite
    # The source's own emphasis marks are quoted as characters (tests/test_hostile_app.py renders them).
    assert passage == f'> "{md_literal(text)}" — {cite}' == f'> "He said "no" \\*twice\\*. The answer is 42. Last one." — {cite}'
    assert sentence == f'> "The answer is 42." — {cite}'
    markdown = answer_to_markdown(Answer("What is *it*?", "hybrid", (hit,), False, "v", 1.0))
    assert markdown.startswith("## What is \\*it\\*?\n")
    assert passage in markdown and '**1.** Highlighted: "The answer is 42."' in markdown
    assert "> Also in: A. Author, *Title b.txt*, Pub, 2025-01-02, ¶ 2 (p. 4), https://example.org/r?id=1" in markdown
    hostile = _hit(text, ["c.txt"], 0.9, url="javascript:alert(1)")
    assert citation_markdown(hostile.citations[0]).endswith(", ¶ 2, c.txt")  # the file, not the javascript: URL
    # Evidence covering the whole passage gives no separate sentence quote.
    assert hit_quotes(_hit(text, ["a.txt"], 0.9), abstained=False)[1] is None


def test_links_carry_what_the_views_need():
    hit = _hit("The answer is 42.", ["dir/a b&c.txt"], 0.9, evidence=(Span(4, 10),))
    query = parse_qs(urlsplit(source_link(hit.citations[0], hit)).query)
    assert query == {"file": ["dir/a b&c.txt"], "start": ["10"], "end": ["27"], "pid": ["1"], "ev": ["4-10"]}
    link = question_link("Who & why?", 3, "dense", ["a.txt", "b.txt"])
    assert parse_qs(urlsplit(link).query) == {"q": ["Who & why?"], "k": ["3"], "mode": ["dense"], "source": ["a.txt", "b.txt"]}


def test_grouping_by_source_lists_each_source_with_its_date():
    hits = (_hit("A says 119,000.", ["pism.txt"], 0.9), _hit("B says 77,000.", ["csis.txt"], 0.8), _hit("Both say so.", ["pism.txt", "csis.txt"], 0.7))
    groups = group_by_source(hits)
    assert [(f, [r for r, _ in items]) for f, items in groups] == [("pism.txt", [1, 3]), ("csis.txt", [2, 3])]
    rendered = answer_to_html(Answer("q", "hybrid", hits, False, "v", 1.0), by_source=True)
    assert rendered.count('class="vb-source"') == 2
    assert "2025-01-02" in rendered
