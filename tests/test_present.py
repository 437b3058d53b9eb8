import html
import re

from app.present import answer_to_html, answer_to_text, escape, group_by_source, hit_to_dict
from index.search import Answer, Citation, Hit
from ingest.records import Occurrence, Passage, SourceMeta, Span

HOSTILE = 'Click [here](javascript:alert(1)) <script>alert(1)</script> <img src=x onerror="alert(2)"> *bold* $x$ & co.'


def _hit(text: str, files: list[str], score: float, evidence: tuple[Span, ...] = ()) -> Hit:
    occurrences = tuple(Occurrence(f, 10, 10 + len(text), 2) for f in files)
    passage = Passage(1, text, (Span(0, len(text)),), occurrences)
    citations = tuple(Citation(SourceMeta(f, title=f"Title {f}", date="2025-01-02", authors=("A. Author",)), o) for f, o in zip(files, occurrences))
    return Hit(passage, score, score, 1.0, evidence or passage.sentences, citations)


def test_escape_is_exact_and_inert():
    escaped = escape(HOSTILE)
    assert html.unescape(escaped) == HOSTILE
    assert not re.search(r"[<>*\[\]()$]", escaped)


def test_hostile_text_renders_inert():
    answer = Answer("q", "hybrid", (_hit(HOSTILE, ["a.txt"], 0.9),), False, "v", 1.0)
    rendered = answer_to_html(answer)
    assert "<script" not in rendered and "<img" not in rendered and "javascript:" not in rendered
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).count(HOSTILE) == 1


def test_evidence_is_marked_inside_the_quote():
    text = "First sentence. The answer is 42. Last one."
    hit = _hit(text, ["a.txt"], 0.9, evidence=(Span(16, 33),))
    rendered = answer_to_html(Answer("q", "hybrid", (hit,), False, "v", 1.0))
    assert "<mark>The answer is 42.</mark>" in rendered
    assert "»The answer is 42.«" in answer_to_text(Answer("q", "hybrid", (hit,), False, "v", 1.0))
    assert hit_to_dict(hit)["evidence"] == "The answer is 42."


def test_abstention_says_so():
    answer = Answer("q", "hybrid", (_hit("Unrelated text.", ["a.txt"], 0.1),), True, "v", 1.0)
    assert "The sources do not answer this." in answer_to_html(answer)
    assert answer_to_text(answer).startswith("The sources do not answer this.")


def test_grouping_by_source_lists_each_source_with_its_date():
    hits = (_hit("A says 119,000.", ["pism.txt"], 0.9), _hit("B says 77,000.", ["csis.txt"], 0.8), _hit("Both say so.", ["pism.txt", "csis.txt"], 0.7))
    groups = group_by_source(hits)
    assert [(f, [r for r, _ in items]) for f, items in groups] == [("pism.txt", [1, 3]), ("csis.txt", [2, 3])]
    rendered = answer_to_html(Answer("q", "hybrid", hits, False, "v", 1.0), by_source=True)
    assert rendered.count('class="vb-source"') == 2
    assert "2025-01-02" in rendered
