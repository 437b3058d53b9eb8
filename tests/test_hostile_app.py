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
from index.models.reader import AnswerSpan
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


# ---------------------------------------------------------------- item 9: questions in other languages

from app.questions import language_note, question_language  # noqa: E402

MODEL = "bundled:all-MiniLM-L6-v2"
NAMES = ["El Salvador", "Nayib Bukele", "La Libertad", "CECOT", "San Salvador", "Las Colinas", "Del Sur", "La Prensa Gráfica"]
# Templates per language, short and long; {n} is a name (Spanish names included on purpose).
FOREIGN = {
    "Spanish": ["¿Quién es {n}?", "¿Cuántas personas están presas en {n}?", "¿Qué dijo {n} sobre las cárceles?",
                "Cuántos presos hay en las cárceles de {n} y cuándo se construyó el centro de confinamiento del terrorismo",
                "¿Por qué el gobierno de {n} extendió el régimen de excepción?"],
    "French": ["Qui est {n} ?", "Combien de personnes sont en prison dans {n} ?", "Que dit {n} sur les prisons ?",
               "Pourquoi le gouvernement de {n} a-t-il prolongé l'état d'urgence et combien de fois ?"],
    "German": ["Wer ist {n}?", "Wie viele Menschen sind in {n} im Gefängnis?", "Was sagt {n} über die Gefängnisse?",
               "Warum hat die Regierung von {n} den Ausnahmezustand verlängert und wie oft wurde er verlängert?"],
    "Portuguese": ["Quem é {n}?", "Quantas pessoas estão presas em {n}?", "O que {n} disse sobre as prisões?",
                   "Por que o governo de {n} prorrogou o estado de exceção e quantas vezes isso aconteceu?"],
    "Italian": ["Chi è {n}?", "Quante persone sono in prigione in {n}?", "Che cosa ha detto {n} sulle carceri?"],
    "Dutch": ["Wie is {n}?", "Hoeveel mensen zitten in de gevangenis in {n}?", "Wat zei {n} over de gevangenissen?"],
    "Cyrillic script": ["Сколько людей в тюрьмах {n}?", "Кто такой {n}?"],
    "Chinese or Japanese": ["{n}有多少人被关押？", "{n}是谁？"],
    "Arabic script": ["كم عدد السجناء في {n}؟"],
}
ENGLISH = ["Who is {n}?", "How many people are in prison in {n}?", "What did {n} say about the prisons?", "{n}", "{n} prisons",
           "Where is {n}?", "Is {n} a democracy?", "When was the state of emergency in {n} extended, and how many times?",
           "What does Beatriz Magaloni say about {n}?", "How many prisoners are in the Centro de Confinamiento del Terrorismo?",
           "Which countries have copied {n}'s approach?", "What is {n} de la Vega known for?"]


@pytest.mark.parametrize("language", sorted(FOREIGN))
def test_questions_in_other_languages_get_the_note(language):
    for template in FOREIGN[language]:
        for name in NAMES:
            question = template.format(n=name)
            assert question_language(question) == language, question
            note = language_note(question, MODEL)
            assert note and language in note and "please ask in English" in note, question


@pytest.mark.parametrize("name", NAMES + ["Nayib Armando Bukele Ortez", "Mara Salvatrucha", "Los Angeles", "Le Monde", "Die Zeit"])
def test_english_questions_with_foreign_names_get_no_note(name):
    for template in ENGLISH:
        question = template.format(n=name)
        assert question_language(question) == "English", question
        assert language_note(question, MODEL) is None, question


def test_a_multilingual_model_gets_no_note():
    assert language_note("¿Cuántas personas están presas en El Salvador?", "paraphrase-multilingual-MiniLM-L12-v2") is None


def test_the_gold_questions_are_all_english():
    """Every English question of the evaluation sets (191, with their Spanish names) gets no note."""
    import json
    from pathlib import Path

    gold = Path(__file__).resolve().parent.parent / "eval" / "gold"
    questions = [json.loads(line)["question"] for f in sorted(gold.glob("*.jsonl")) for line in f.read_text().splitlines() if line.strip()]
    assert len(questions) > 100
    assert [q for q in questions if language_note(q, MODEL)] == []


# ---------------------------------------------------------------- item 7: plain, short replies without paths

from app.questions import validate_k  # noqa: E402


@pytest.mark.parametrize("k", [1e300, 10**300, "9" * 300, -(10**50), float("inf"), "x" * 500, [1] * 100])
def test_an_absurd_k_is_refused_in_a_short_message(k):
    value, problem = validate_k(k)
    assert value is None and len(problem) < 120 and "999" not in problem and "000000" not in problem


def _server_messages(settings) -> list[str]:
    """Messages the app relays from lower layers, each naming a path on this machine."""
    from index.storage.store import IndexError_, load_version
    from ingest.library import remove_source
    from ingest.metadata import MetadataError, load_metadata

    messages = []
    (settings.sources_dir / "sources.toml").write_text('["a.txt"]\ntitle = "x"\n["a.txt"]\ntitle = "y"\n')
    try:
        load_metadata(settings.sources_dir)
    except MetadataError as exc:
        messages.append(f"The index was not rebuilt: {exc} The previous index is still live.")
    try:
        load_version(settings.index_dir, "m")
    except IndexError_ as exc:
        messages.append(f"The index cannot be used: {exc}")
    try:
        remove_source("nope.txt", settings.sources_dir, settings.trash)
    except FileNotFoundError as exc:
        messages.append(str(exc))
    messages.append("A model file cannot be used: model file /root/.cache/verbatim/models/x/model.onnx is missing; run it")
    messages.append(f"index file {settings.index_dir}/v1/vectors.npy is truncated; run `verbatim build --full`")
    return messages


def test_web_replies_carry_no_server_paths(tmp_path):
    from app.web import MAX_REPLY_CHARS, plain_reply
    from index.config import Settings

    settings = Settings(sources_dir=tmp_path / "my sources", index_dir=tmp_path / "idx")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "a.txt").write_text("text")
    messages = _server_messages(settings)
    assert len(messages) == 5 and all(str(tmp_path) in m or "/root/" in m for m in messages)
    replies = [plain_reply(m, settings) for m in messages]
    for reply in replies:
        assert str(tmp_path) not in reply and "/root" not in reply and not re.search(r"(?:^|\s)/\w", reply), reply
    assert replies[0].startswith("The index was not rebuilt: sources.toml, line ")
    assert "model file model.onnx is missing" in replies[3] and "index file v1/vectors.npy is truncated" in replies[4]
    assert len(plain_reply("x" * 5000, settings)) == MAX_REPLY_CHARS


# ---------------------------------------------------------------- items 8 and 9 in `verbatim ask`


def _ask(settings, capsys, *args: str) -> tuple[int, str, str]:
    from app.cli import main as cli_main

    code = cli_main(["ask", "--sources-dir", str(settings.sources_dir), "--index-dir", str(settings.index_dir), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("flags", [[], ["--json"], ["--markdown"]])
def test_ask_with_a_mistyped_source_says_so_and_exits_2(bundled_settings, capsys, flags):
    code, out, err = _ask(bundled_settings, capsys, *flags, "--source", "nope.txt", "How many people are in prison in El Salvador?")
    assert code == 2 and out == ""
    assert err.strip() == "error: No indexed source named 'nope.txt'; `verbatim sources` lists them."
    # One real name and one mistyped: still refused, naming only the mistyped one.
    real = "csis-burgeoning-regional-appeal-of-mano-dura.txt"
    code, out, err = _ask(bundled_settings, capsys, *flags, "--source", real, "--source", "csis.txt", "Who is Nayib Bukele?")
    assert code == 2 and "'csis.txt'" in err and real not in err
    code, out, _ = _ask(bundled_settings, capsys, *flags, "--source", real, "Who is Nayib Bukele?")
    assert code == 0 and out


def test_ask_in_spanish_is_answered_and_russian_gets_the_language_note(bundled_settings, capsys):
    code, out, err = _ask(bundled_settings, capsys, "--json", "¿Cuántas personas están presas en El Salvador?")
    assert code == 0 and out.startswith("[") and "note:" not in err  # the index has its multilingual part
    code, out, err = _ask(bundled_settings, capsys, "--json", "Сколько людей в тюрьмах Сальвадора?")
    assert code == 0 and out.startswith("[")  # stdout stays JSON; the note is on stderr
    assert "note: This question looks like it is in Cyrillic script" in err and "please ask in English or Spanish" in err
    code, out, err = _ask(bundled_settings, capsys, "How many people are in prison in El Salvador?")
    assert code == 0 and "note:" not in err and "119,000" in out


# ---------------------------------------------------------------- item 10: a table row is one record

import numpy as np  # noqa: E402

from index.search.evidence import ROW_MARGIN_SHARE, pick_evidence, rerank_evidence, units  # noqa: E402
from ingest.clean import table_rows  # noqa: E402
from ingest.passages import paragraph_sentences  # noqa: E402

RERANK_MARGIN = 6.0  # Settings.evidence_rerank_margin
# Measured for "Who is the mayor of City137?" on a 300-row register (rows 133-144 in the top passage):
# the cross-encoder's logit and the bi-encoder score of each row. The old rule highlighted 8 of the 12.
MEASURED = [(3.36, 0.351), (4.31, 0.350), (4.78, 0.335), (4.97, 0.356), (4.97, 0.514), (3.75, 0.353), (5.19, 0.391),
            (-1.89, 0.359), (4.19, 0.323), (-0.95, 0.332), (0.94, 0.282), (0.36, 0.320)]


def _table_passage(header: list[str], rows: list[list[str]], before: str = "") -> Passage:
    """A passage as ingest cuts a table: one line per row, each cell labelled, each line a sentence."""
    text = (before + "\n" if before else "") + table_rows(header, rows)
    occurrence = Occurrence("register.md", 0, len(text), 1, None)
    sentences = tuple(paragraph_sentences(before)) + tuple(paragraph_sentences(table_rows(header, rows), len(before) + 1 if before else 0))
    return Passage(1, text, sentences, (occurrence,))


def _row_texts(passage: Passage, spans) -> list[str]:
    return [passage.text[s.start : s.end] for s in spans]


def test_the_measured_register_highlights_one_row():
    rows = [[f"City{n}", f"Mayor {n}", f"{n * 1000:,}", str(1800 + n)] for n in range(133, 145)]
    passage = _table_passage(["City", "Mayor", "Population", "Founded"], rows)
    logits, bi = np.array([m[0] for m in MEASURED]), np.array([m[1] for m in MEASURED])
    old = pick_evidence(logits + 10 * bi, passage.sentences, RERANK_MARGIN)
    assert len(old) == 8  # the defect, as measured
    evidence = rerank_evidence("Who is the mayor of City137?", passage, logits, bi, 1.0, RERANK_MARGIN)
    assert _row_texts(passage, evidence) == ["City: City137 | Mayor: Mayor 137 | Population: 137,000 | Founded: 1937"]


@pytest.mark.parametrize("seed", range(30))
def test_generated_tables_highlight_the_rows_the_question_names(seed):
    """Random tables and scores in which the named row is often not the best scored: the rows that hold the
    question's distinguishing term are highlighted, whole, and no other row."""
    rng = random.Random(seed)
    columns = rng.sample(["Mayor", "Governor", "Population", "Area", "Founded", "Region", "Notes"], rng.randint(2, 4))
    n = rng.randint(4, 16)
    rows = [[f"Town{rng.randint(100, 999)}x{i}", *(f"{c.lower()} value {rng.randint(1, 9)}" for c in columns)] for i in range(n)]
    if rng.random() < 0.3:
        rows[rng.randrange(n)][-1] = "Merged in 1950. Rebuilt in 1961"  # a cell with a full stop: two sentences, one row
    target = rng.randrange(n)
    passage = _table_passage(["Town", *columns], rows, before=rng.choice(["", "The register lists every town."]))
    question = f"What is the {columns[0].lower()} of {rows[target][0]}?"
    count = len(passage.sentences)
    logits = np.array([rng.uniform(2.0, 6.0) for _ in range(count)])
    bi = np.array([rng.uniform(0.25, 0.45) for _ in range(count)])
    evidence = rerank_evidence(question, passage, logits, bi, 1.0, RERANK_MARGIN)
    assert _row_texts(passage, evidence) == [passage.text.splitlines()[target + (1 if passage.text.startswith("The") else 0)]]


def test_rows_without_a_distinguishing_term_are_let_in_within_the_tighter_margin():
    rows = [[f"City{n}", f"{n},000"] for n in range(10)]
    passage = _table_passage(["City", "Population"], rows)
    scores = np.array([5.0, 5.5, 9.0, 7.9, 8.9, 3.0, 8.95, 7.0, 1.0, 2.0])
    evidence = rerank_evidence("Which city has the largest population?", passage, scores, np.zeros(10), 1.0, RERANK_MARGIN)
    assert _row_texts(passage, evidence) == [passage.text.splitlines()[n] for n in (2, 4, 6)]
    assert RERANK_MARGIN * ROW_MARGIN_SHARE == 1.0


def test_several_rows_sharing_the_named_value_are_all_highlighted():
    rows = [[f"City{n}", "1925" if n in (2, 5, 7) else str(1900 + n)] for n in range(9)]
    passage = _table_passage(["City", "Founded"], rows)
    scores = np.array([4.0, 4.2, 5.0, 4.1, 4.3, 4.4, 4.0, 3.9, 4.6])
    evidence = rerank_evidence("Which cities were founded in 1925?", passage, scores, np.zeros(9), 1.0, RERANK_MARGIN)
    assert _row_texts(passage, evidence) == [passage.text.splitlines()[n] for n in (2, 5, 7)]


def test_prose_is_picked_as_before():
    text = "The port spent 42,000 euros. The lamp was repaired in 2023. Nothing else happened. The end came soon."
    sentences = tuple(paragraph_sentences(text))
    passage = Passage(1, text, sentences, (Occurrence("a.txt", 0, len(text), 1, None),))
    assert all(not u.row for u in units(passage))
    scores = np.array([9.0, 5.0, 3.5, 1.0])
    assert rerank_evidence("How much?", passage, scores, np.zeros(4), 1.0, RERANK_MARGIN) == pick_evidence(scores, sentences, RERANK_MARGIN)


# ---------------------------------------------------------------- item 13: the confirmation removes what it names


def test_yes_after_the_choice_changed_removes_nothing(tmp_path):
    """The race the browser cannot show: "Yes, remove a.txt" arrives while b.txt is chosen."""
    from app.web import make_app
    from index.config import Settings

    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    for name in ("a.txt", "b.txt"):
        (settings.sources_dir / name).write_text(f"The text of {name}.\n")
    app = make_app(settings)
    handlers = {getattr(f.fn, "__name__", ""): f.fn for f in app.fns.values()}
    status = handlers["remove_confirmed"]("a.txt", "b.txt")[0]
    assert status.startswith("Nothing was removed: the confirmation named a.txt, but b.txt is chosen now.")
    assert (settings.sources_dir / "a.txt").exists() and (settings.sources_dir / "b.txt").exists()
    row, pending, status = handlers["withdraw_confirmation"]("b.txt", "a.txt")
    assert pending == "" and "Nothing was removed" in status
    row, pending, question, button = handlers["confirm_removal"]("b.txt")
    assert pending == "b.txt" and question.startswith("Remove b.txt from the sources?") and button.value == "Yes, remove b.txt"


def test_the_300_row_register_highlights_the_row_asked_about(tmp_path, embedder):
    """The issue's case end to end: a 300-row Markdown table, built and searched; the top hit highlights the
    City137 row alone (the old rule lit 10 of 15 rows)."""
    from index.build.pipeline import build_index
    from index.config import Settings
    from index.search import Searcher

    rng = random.Random(7)
    people = [f"{a} {b}" for a in ("Ana", "Luis", "Maria", "Jorge", "Rosa") for b in ("Lopez", "Cruz", "Reyes", "Flores")]
    lines = ["| City | Mayor | Population | Founded |", "|---|---|---|---|"]
    lines += [f"| City{n} | {rng.choice(people)} | {rng.randint(5, 900) * 1000:,} | {rng.randint(1600, 1950)} |" for n in range(1, 301)]
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "register.md").write_text("# Municipal register\n\nEvery city with its mayor.\n\n" + "\n".join(lines) + "\n")
    settings = Settings(sources_dir=sources, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder)
    hit = Searcher(settings).search("Who is the mayor of City137?", k=1).hits[0]
    highlighted = [hit.passage.text[s.start : s.end] for s in hit.evidence]
    assert len(highlighted) == 1 and highlighted[0].startswith("City: City137 | Mayor: "), highlighted
