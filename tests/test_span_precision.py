"""Precision before recall in what is shown: whole figures, spans of the type asked and about the thing
asked, no span in a passage that does not answer, and no source line whose span does not answer."""

from __future__ import annotations

import json
import random
import re

import pytest

from eval.datasets import load_gold
from eval.metrics import line_answers
from eval.run import GOLD_DIR
from index.models.reader import whole_span
from index.search import Searcher
from index.search.span_check import about_the_thing_asked, names, of_the_type_asked

_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


@pytest.mark.parametrize(
    ("text", "cut", "whole"),
    [
        ("the total number of prisoners reached 119,000 people", "119", "119,000"),
        ("the total number of prisoners reached 119,000 people", "000", "119,000"),
        ("se incautaron unos 1.200 barcos", "200", "1.200"),
        ("doubled the defence budget from $145 million to $314 million (in current prices)", "314", "$314 million"),
        ("has jailed nearly 2 percent of the population", "2", "2 percent"),
        ("or 1.9% of the country's population", "1.9", "1.9%"),
        ("or 1.9% of the country's population", "9", "1.9%"),
        ("the facility alone costs around US$70 million to build", "70", "US$70 million"),
    ],
)
def test_a_span_is_widened_to_the_whole_figure(text, cut, whole):
    at = text.index(cut) if cut != "9" else text.index("1.9") + 2
    start, end = whole_span(text, at, at + len(cut))
    assert text[start:end] == whole


def test_a_span_never_starts_or_ends_inside_a_number():
    """Random texts of grouped and decimal figures, cut anywhere: the widened span never splits a figure."""
    rng = random.Random(7)
    for _ in range(2000):
        figures = [rng.choice(["{:,}", "{:.1f}", "{}"]).format(rng.choice([rng.randint(0, 10**7), rng.random() * 1000]))
                   for _ in range(3)]
        text = " ".join(f"{w} {f}" for w, f in zip(["about", "then", "so"], figures)) + " people"
        a = rng.randrange(len(text))
        b = rng.randrange(a, len(text)) + 1
        start, end = whole_span(text, a, b)
        assert text[a:b].strip() in text[start:end]  # only widened (or trimmed of spaces)
        for m in _FIGURE.finditer(text):
            assert not (m.start() < start < m.end()) and not (m.start() < end < m.end()), (text, a, b, text[start:end])


def test_a_span_of_the_wrong_type_is_refused():
    assert of_the_type_asked("How many prisoners does El Salvador hold?", "119,000")
    assert not of_the_type_asked("How many prisoners does El Salvador hold?", "Terrorism Confinement Center")
    assert of_the_type_asked("When did CECOT open?", "January 2023")
    assert not of_the_type_asked("When did CECOT open?", "Terrorism Confinement Center")
    assert of_the_type_asked("What percentage of the population is incarcerated?", "1.9%")
    # "How many" counts: a share of a population is not a count of it (gold: WOLA's "2 percent" for prisoners).
    assert not of_the_type_asked("How many prisoners does El Salvador hold?", "nearly 2 percent")
    assert not of_the_type_asked("How many people are in prison in El Salvador?", "87%")
    assert of_the_type_asked("How many prisoners does El Salvador hold?", "119,000 people, or 1.9%")
    assert of_the_type_asked("How many percent of Salvadorans are in prison?", "2 percent")
    assert not of_the_type_asked("What percentage of the population is incarcerated?", "6.3 million")
    # A question for a title, a name or a person: never a bare date or figure.
    assert not of_the_type_asked("What is the title of the article Magaloni co-authored?", "September 11, 2025")
    assert not of_the_type_asked("Who leads the MS-13 gang?", "2023")
    assert not of_the_type_asked("Which company built CECOT?", "$70 million")
    assert of_the_type_asked("What is the title of the article Magaloni co-authored?", "“Does the Bukele Model Have a Future?”")
    assert of_the_type_asked("What is the title of the episode?", "The Grim Side of El Salvador’s “Security Model”")
    assert of_the_type_asked("What did Noboa promise?", "2023")  # no kind asked: the other checks decide
    assert of_the_type_asked("Who leads the PISM?", "anything")  # no kind asked: no type check
    # A Spanish question (the multilingual route) is checked against the English words it is answered with.
    assert of_the_type_asked("¿Cuántos presos hay en El Salvador?", "119,000")
    assert not of_the_type_asked("¿Cuántos presos hay en El Salvador?", "CECOT")
    assert of_the_type_asked("¿Cuándo abrió el CECOT?", "January 2023")
    assert not of_the_type_asked("¿Cuándo abrió el CECOT?", "gangs")
    assert not of_the_type_asked("¿Qué porcentaje de la población está en prisión?", "6.3 million")
    assert not of_the_type_asked("¿Quién dirige la MS-13?", "2023")


@pytest.mark.parametrize(
    ("question", "sentence", "span", "about"),
    [
        ("How many prisoners does El Salvador hold?",
         "To contextualize the situation, the United States, which ranks second to El Salvador in terms of "
         "incarcerations per capita, has approximately 2.1 million incarcerated people.", "2.1 million", False),
        ("How many prisoners does El Salvador hold?",
         "Two years later, the total number of prisoners in El Salvador reached 119,000 people.", "119,000", True),
        ("How many prisoners does El Salvador hold?",
         "This has led to the incarceration of over 77,000 people.", "77,000", True),
        ("What percentage of the population is incarcerated?",
         "It reached 119,000 people, or 1.9% of the population (for comparison, in Poland, the prison population "
         "is approximately 0.19%).", "0.19%", False),
        ("How many people does the United States hold in prison?",
         "To contextualize the situation, the United States, which ranks second to El Salvador in terms of "
         "incarcerations per capita, has approximately 2.1 million incarcerated people.", "2.1 million", True),
        ("When did CECOT open?", "In January 2023, the government opened the showcase CECOT prison.", "January 2023", True),
        # An aside that only names what precedes it is another name for it (gold: three right spans were refused).
        ("How much did CECOT cost to build?", "The primary expense of the investment is the Terrorism Confinement "
         "Center (CECOT); the facility alone costs around $70 million to build.", "$70 million", True),
        ("How many prisoners does El Salvador hold?", "In the United States (US), there are 2.1 million incarcerated "
         "people.", "2.1 million", False),
        # A sentence's opening word is not a name.
        ("How many complaints were lodged in Honduras between December 2022 and September 2023?",
         "Between December 2022 and September 2023, nearly 300 complaints were lodged.", "nearly 300", True),
        ("How many Salvadoran children have lost one or both parents to mass imprisonment?",
         "Due to mass incarceration, 40,000 children have lost one or both parents.", "40,000", True),
        ("How many prisoners does El Salvador hold?", "Honduras holds 20,000 prisoners.", "20,000", False),
        # The figure's own "of"/"in" complement says whose it is, whoever the clause before it names (gold: WOLA's
        # "nearly 2 percent" was refused for its leading "President Nayib Bukele's government").
        ("What share of El Salvador's population is behind bars?", "President Nayib Bukele’s government has jailed "
         "nearly 2 percent of El Salvador’s entire population—the highest incarceration rate in the world.", "2 percent", True),
        ("How many prisoners does El Salvador hold?", "El Salvador's neighbour has jailed 20,000 people in Honduras.", "20,000", False),
        ("How many prisoners does El Salvador hold?", "The United States would need 6.62 million to match El Salvador's "
         "rate.", "6.62 million", False),
    ],
)
def test_a_span_about_another_country_or_thing_is_refused(question, sentence, span, about):
    at = sentence.index(span)
    assert about_the_thing_asked(question, sentence, at, at + len(span)) is about


def test_a_capitalized_opener_the_passage_writes_in_lower_case_is_not_a_name():
    question = "How much money can a Salvadoran receive for reporting a neighbour to the authorities?"
    sentence = "Civilians can denounce neighbors by calling a hotline—and are sometimes paid $300."
    at = sentence.index("$300")
    assert not about_the_thing_asked(question, sentence, at, at + 4)  # alone, "Civilians" may be a name
    passage = sentence + " Many civilians have fled the country."
    assert about_the_thing_asked(question, sentence, at, at + 4, passage)
    country = "Poland holds 0.19% of its people in prison. Salvadorans hold more."
    assert not about_the_thing_asked("What share of El Salvador's population is in prison?", country[:44], 13, 18, country)


def test_names_are_runs_of_capitalized_words():
    assert names("How many prisoners does El Salvador hold?") == ["El Salvador"]
    assert names("Who founded Tren de Aragua in 2014?") == ["Tren de Aragua"]
    assert names("What is the population?") == []


@pytest.fixture(scope="module")
def searcher(bundled_settings) -> Searcher:
    return Searcher(bundled_settings)


PRECISION_GOLD = [q for q in load_gold(GOLD_DIR / "precision.jsonl")]


@pytest.mark.parametrize("q", PRECISION_GOLD, ids=[q.id for q in PRECISION_GOLD])
def test_no_source_line_or_span_shown_that_does_not_answer(searcher, q):
    """The hand-labelled precision questions: every source line and every span shown answers (a wrong one
    is worse than none); a question the sources do not answer shows no line."""
    answer = searcher.search(q.question)
    for line in answer.sources_say:
        assert q.answerable and line_answers(line.citation.occurrence.file, line.text, q.answers, q.says), (q.question, line.text)
        assert of_the_type_asked(q.question, line.text)
    for hit in answer.hits:
        if hit.answer is not None:
            assert not answer.abstained
            assert of_the_type_asked(q.question, hit.answer.text)
            assert hit.answer.text == hit.passage.text[hit.answer.start : hit.answer.end]


def test_a_passage_that_does_not_answer_shows_no_span_and_no_highlight(searcher):
    unanswering = 0
    for question in ("How many times has the state of exception been extended?", "When did CECOT open?",
                     "How much did CECOT cost to build?", "Who won Honduras's December presidential election?"):
        answer = searcher.search(question)
        spans = searcher.reader_calls().read(question, [h.passage.text for h in answer.hits[: searcher.settings.reader_top]])
        for rank, (hit, span) in enumerate(zip(answer.hits, spans), start=1):
            if rank > 1 and span.margin < searcher.settings.answer_margin:
                unanswering += 1
                assert hit.evidence == () and hit.answer is None
    assert unanswering  # the reader found no answer in some passage of these


def test_the_tradeoff_counts_the_first_passages_shown_span_only(tmp_path, monkeypatch):
    """span_study tradeoff: the open task's span EM at a threshold is the first passage's span when it may be shown
    and passes it, 0 otherwise; a right span in the second passage, or a refused one, earns nothing."""
    from eval.studies import span_study

    def row(group, question, rank, margin, right, em=0.0, about=True):
        return {"group": group, "article": "a" if group != "gold" else "gold", "question": question, "rank": rank,
                "margin": margin, "has_answer": margin / 2, "right": right, "em": em, "type_ok": True,
                "about_ok": about, "answered": True, "nonempty": True}

    fit_rows = [row(g, f"{g}{i}", 1, m, m > 0) for g in ("gold", "squad2") for i, m in enumerate(range(-10, 11))]
    v1 = [row("squad1", "q1", 1, 12.0, True, 1.0),  # confident and right: counts from a low threshold to a high one
          row("squad1", "q2", 1, 12.0, True, 1.0, about=False),  # refused by the rule checks: never counts
          row("squad1", "q3", 1, -12.0, False), row("squad1", "q3", 2, 12.0, True, 1.0)]  # right only in passage 2
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(v1), encoding="utf-8")
    monkeypatch.setattr(span_study, "V1_ROWS", path)
    table = span_study.tradeoff(fit_rows)
    assert [line["em"] for line in table] == [round(1 / 3, 3)] * len(table)
    assert all(line["squad1"][0] == 2 for line in table)  # q1's span and q3's second: the refused one is never shown
