"""Hostile input to the app layer (issue 26): source markup in Markdown exports and copied quotes, and
questions in other languages. Generated cases, not only the examples the issue names."""

from __future__ import annotations

import html
import random
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from app.present import answer_to_html, answer_to_markdown, hit_quotes, md_literal, quote_markdown
from index.reader import AnswerSpan
from index.search import Answer, Citation, Hit, SourceSays
from ingest.records import Occurrence, Passage, SourceMeta, Span

# ---------------------------------------------------------------- item 5: export escaping

HOSTILE_SNIPPETS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    "<img src=x onerror=alert(2)>",
    '<iframe src="javascript:alert(4)"></iframe>',
    "[the report](javascript:alert(3))",
    "[ref][1]\n\n[1]: javascript:alert(9)",
    '<a href="javascript:alert(5)">annex</a>',
    "<javascript:alert(6)>",
    "<http://evil.example/x>",
    "![pixel](http://evil.example/p.png)",
    "``code `run` here``",
    "```js\nalert(1)\n```",
    "~~~\nfenced\n~~~",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "x | y | z",
    "&lt;script&gt; &amp; &#60;b&#62; &copy; &#x3C;i&#x3E;",
    "> > nested quote",
    ">>> deeper",
    "*bold* _it_ **strong** __under__ ***both***",
    "snake_case_name and 2*3*4",
    "# heading\n## another",
    "- item\n+ item\n* item",
    "1. first\n2) second",
    "---",
    "Title\n===",
    "\n\n    indented code block",
    "~~struck~~ and $x^2$ math",
    "<!-- comment --> <?php echo 1; ?> <![CDATA[x]]>",
    "\\<script>alert(7)</script>",
    "ends with a backslash\\",
    "<details open ontoggle=alert(8)>x</details>",
    "<svg/onload=alert(9)>",
    "<style>body{display:none}</style>",
    '<div onmouseover="alert(10)">hover</div>',
    "<sCrIpT >alert(11)</ScRiPt >",
    "line with two trailing spaces  \nnext",
]
PROSE = "the port of Veradale spent 42,000 euros on the north lighthouse lamp in 2023".split()
URL = "https://example.org/r"
# Every tag a rendered export may hold: its own structure, never one from a source.
STRUCTURE = {"blockquote", "p", "em", "strong", "h2", "ul", "li", "a", "br"}


class _Tags(HTMLParser):
    """Tags with their attributes, and the text, of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(markdown: str) -> _Tags:
    """`markdown` rendered by markdown-it (CommonMark, raw HTML allowed, GFM tables and strikethrough), parsed."""
    rendered = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)
    parsed = _Tags()
    parsed.feed(rendered)
    parsed.close()
    return parsed


def _words(text: str) -> str:
    return " ".join(text.split())


def _assert_inert(markdown: str, reference: str) -> _Tags:
    """The rendered `markdown` has exactly the tags of `reference` (the same export of text without
    markup) and none from the source: no script, image, frame or handler, links only to http(s)."""
    parsed, plain = _parse(markdown), _parse(reference)
    assert [t for t, _ in parsed.tags] == [t for t, _ in plain.tags], markdown
    for tag, attrs in parsed.tags:
        assert tag in STRUCTURE, markdown
        for name, value in attrs:
            assert not name.startswith("on") and name in ("href",), markdown
            assert (value or "").startswith("https://"), markdown
    return parsed


def _passage(rng: random.Random) -> str:
    """Prose with 1-4 hostile snippets at random places: mid-line, at a line start, after a blank line."""
    pieces: list[str] = []
    for _ in range(rng.randint(1, 4)):
        pieces.append(" ".join(rng.sample(PROSE, rng.randint(0, 5))))
        pieces.append(rng.choice(["", " ", "\n", "\n\n"]) + rng.choice(HOSTILE_SNIPPETS) + rng.choice(["", " ", "\n"]))
    pieces.append(" ".join(rng.sample(PROSE, 4)) + ".")
    return " ".join(pieces).strip()


def _citation(text: str) -> tuple[Citation, Occurrence]:
    occurrence = Occurrence("memo.txt", 10, 10 + len(text), 2, None)
    return Citation(SourceMeta("memo.txt", title="Memo", date="2025-01-02", authors=("A. Author",), publisher="Pub", url=URL), occurrence), occurrence


def _answer(text: str, abstained: bool = False) -> Answer:
    """One hit on `text`: evidence its middle third, the reader's span inside that, and a "what each source
    says" line quoting the span."""
    citation, occurrence = _citation(text)
    a, b = len(text) // 3, max(len(text) // 3 + 1, 2 * len(text) // 3)
    span = AnswerSpan(a, b, text[a:b], 5.0, 0.0, 1.0)
    passage = Passage(1, text, (Span(0, a), Span(a, b), Span(b, len(text))), (occurrence,))
    hit = Hit(passage, 0.9, 0.9, 1.0, (Span(a, b),), (citation,), None if abstained else span)
    says = () if abstained else (SourceSays(1, span.text, citation),)
    return Answer("What did <b>it</b> cost?", "hybrid", (hit,), abstained, "v", 1.0, sources_say=says)


def _plain(text: str) -> str:
    """`text` without markup but with the same lines: the reference an export of it must match tag for tag."""
    return re.sub(r"\S", "x", text)


CITED = f"A. Author, Memo, Pub, 2025-01-02, ¶ 2, {URL}"


@pytest.mark.parametrize("snippet", HOSTILE_SNIPPETS)
def test_each_snippet_in_a_quote_renders_as_its_own_characters(snippet):
    text = f"The lamp cost 42,000 euros. {snippet} The end."
    citation, _ = _citation(text)
    parsed = _assert_inert(quote_markdown(text, citation), quote_markdown(_plain(text), citation))
    assert _words("".join(parsed.text)) == _words(f'"{text}" — {CITED}')


@pytest.mark.parametrize("seed", range(40))
def test_generated_passages_export_inert_and_verbatim(seed):
    rng = random.Random(seed)
    text = _passage(rng)
    citation, _ = _citation(text)
    # The quote a "Copy quote" button copies, and the answering sentence's.
    parsed = _assert_inert(quote_markdown(text, citation), quote_markdown(_plain(text), citation))
    assert _words("".join(parsed.text)) == _words(f'"{text}" — {CITED}')
    answer = _answer(text)
    passage_quote, sentence_quote = hit_quotes(answer.hits[0], abstained=False)
    assert passage_quote == quote_markdown(text, citation)
    sentence = text[len(text) // 3 : max(len(text) // 3 + 1, 2 * len(text) // 3)]
    parsed = _assert_inert(sentence_quote, quote_markdown(_plain(sentence), citation))
    assert _words("".join(parsed.text)) == _words(f'"{sentence}" — {CITED}')
    # The exported answer: highlighted sentence, answer span, what each source says, the passage.
    plain_answer = _answer(_plain(text))
    for abstained in (False, True):
        exported = answer_to_markdown(_answer(text, abstained))
        parsed = _assert_inert(exported, answer_to_markdown(_answer(_plain(text), abstained) if abstained else plain_answer))
        shown = _words("".join(parsed.text))
        assert _words(text) in shown and "What did <b>it</b> cost?" in shown
        if not abstained:
            assert shown.count(_words(sentence)) >= 3  # highlighted, answer span, what the source says
    # The page's hidden payloads are exactly these Markdown texts (the buttons copy their text).
    page = answer_to_html(answer)
    payloads = [html.unescape(p) for p in re.findall(r'<(?:span|div) class="vb-(?:pay vb-pay-\w+|md)">(.*?)</(?:span|div)>', page)]
    assert payloads == [passage_quote, sentence_quote, answer_to_markdown(answer)]


def test_md_literal_keeps_plain_prose_as_written():
    prose = 'He said "no", twice. It cost 42,000 euros (about $45,000); see p. 4!'
    assert md_literal(prose) == prose.replace("$", "\\$")
