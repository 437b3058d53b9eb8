"""Tests for eval.datasets loaders on small files written per test."""

import json
from pathlib import Path

import pytest

from eval.datasets import (
    BENCHMARKS,
    BeirData,
    Document,
    GoldQuestion,
    load_beir,
    load_gold,
    load_paired_squad,
    load_squad,
    load_translated_squad,
    safe_document_name,
    translated_pairs,
)



# --- gold ------------------------------------------------------------------------

def test_load_gold_skips_blank_lines_and_ignores_extra_fields(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(
        json.dumps({"id": "q001", "question": " Who won? ", "answers": ["Denver", "Broncos"],
                    "sources": ["game.txt"], "difficulty": "easy"}) + "\n"
        "\n"
        "   \n"
        + json.dumps({"id": "q002", "question": "Unanswerable?", "answers": []}) + "\n",
        encoding="utf-8",
    )
    questions = load_gold(path)
    assert questions == [
        GoldQuestion("q001", "Who won?", ("Denver", "Broncos"), ("game.txt",)),
        GoldQuestion("q002", "Unanswerable?", (), ()),
    ]
    assert questions[0].answerable is True
    assert questions[1].answerable is False


def test_load_gold_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(
        json.dumps({"id": "q1", "question": "Q?", "answers": ["a"]}) + "\n\n"
        '{"id": "q2", "question": "broken\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"gold\.jsonl:3"):
        load_gold(path)


@pytest.mark.parametrize("record", [
    {"id": "q1", "answers": ["a"]},
    {"id": "q1", "question": "Q?"},
])
def test_load_gold_missing_required_field(tmp_path, record):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "q0", "question": "ok", "answers": []}) + "\n"
                    + json.dumps(record) + "\n", encoding="utf-8")
    missing = "question" if "question" not in record else "answers"
    with pytest.raises(ValueError, match=rf"gold\.jsonl:2: missing '{missing}'"):
        load_gold(path)


def test_load_gold_rejects_bad_types_and_duplicate_ids(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": "Q?", "answers": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r":1: 'answers' must be a list of strings"):
        load_gold(path)
    line = json.dumps({"id": "q1", "question": "Q?", "answers": ["a"]}) + "\n"
    path.write_text(line + line, encoding="utf-8")
    with pytest.raises(ValueError, match=r":2: duplicate id 'q1'"):
        load_gold(path)


# --- SQuAD -----------------------------------------------------------------------

def _squad_fixture() -> dict:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [
                    {"context": "Super Bowl 50 was an American football game.",
                     "qas": [{"id": "a1", "question": "What game was Super Bowl 50?",
                              "answers": [{"text": "American football game", "answer_start": 21},
                                          {"text": "American football game", "answer_start": 21},
                                          {"text": "football game", "answer_start": 30}]}]},
                    {"context": "The Broncos beat the Panthers.",
                     "qas": [{"id": "a2", "question": "Who won?",
                              "answers": [{"text": "The Broncos", "answer_start": 0},
                                          {"text": "Broncos", "answer_start": 4}]}]},
                ],
            },
            {
                "title": "Genghis Khan/Legacy (1162?)",
                "paragraphs": [
                    {"context": "Temujin was born around 1162.",
                     "qas": [{"id": "b1", "question": "When was Temujin born?",
                              "answers": [{"text": "1162", "answer_start": 24}]}]},
                ],
            },
        ],
    }


def test_load_squad_two_articles(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(_squad_fixture()), encoding="utf-8")
    documents, questions = load_squad(path)
    assert documents == [
        Document("Super_Bowl_50.txt",
                 "Super Bowl 50 was an American football game.\n\nThe Broncos beat the Panthers."),
        Document("Genghis_Khan_Legacy__1162__.txt", "Temujin was born around 1162."),
    ]
    assert questions == [
        GoldQuestion("a1", "What game was Super Bowl 50?",
                     ("American football game", "football game"), ("Super_Bowl_50.txt",)),
        GoldQuestion("a2", "Who won?", ("The Broncos", "Broncos"), ("Super_Bowl_50.txt",)),
        GoldQuestion("b1", "When was Temujin born?", ("1162",), ("Genghis_Khan_Legacy__1162__.txt",)),
    ]
    # Paragraph boundaries survive as blank lines.
    assert documents[0].text.split("\n\n")[1] == "The Broncos beat the Panthers."


def test_load_squad_max_articles(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(_squad_fixture()), encoding="utf-8")
    documents, questions = load_squad(path, max_articles=1)
    assert [d.name for d in documents] == ["Super_Bowl_50.txt"]
    assert [q.id for q in questions] == ["a1", "a2"]


def test_safe_document_name_disambiguates_collisions():
    taken = {"A_B.txt"}
    assert safe_document_name("A/B", taken) == "A_B_2.txt"
    assert safe_document_name("caf\u00e9 menu", set()) == "caf__menu.txt"
    assert safe_document_name("", set()) == "untitled.txt"


# --- BEIR --------------------------------------------------------------------------

def _write_beir(root: Path, qrels_text: str) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Fahrenheit", "text": "A temperature scale.", "metadata": {}},
        {"_id": "d2", "title": "", "text": "Axons end in terminals."},
        {"_id": "d3", "text": "Unjudged filler."},
        {"_id": "d4", "title": "Heart", "text": "Ventricles pump blood."},
    ]
    queries = [
        {"_id": "q1", "text": "what is fahrenheit"},
        {"_id": "q2", "text": "axon terminals"},
        {"_id": "q3", "text": "never judged"},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(qrels_text, encoding="utf-8")
    return root


QRELS_ROWS = "q1\td1\t2\nq1\td4\t0\nq2\td2\t3\nq9\td3\t1\n"


@pytest.mark.parametrize("header", ["query-id\tcorpus-id\tscore\n", ""])
def test_load_beir_with_and_without_header(tmp_path, header):
    data = load_beir(_write_beir(tmp_path / "beir", header + QRELS_ROWS))
    assert isinstance(data, BeirData)
    assert data.documents == [
        Document("d1", "Fahrenheit\n\nA temperature scale."),
        Document("d2", "Axons end in terminals."),
        Document("d3", "Unjudged filler."),
        Document("d4", "Heart\n\nVentricles pump blood."),
    ]
    # q3 has no qrels, q9 has qrels but no query text.
    assert data.queries == {"q1": "what is fahrenheit", "q2": "axon terminals"}
    assert data.qrels == {"q1": {"d1": 2, "d4": 0}, "q2": {"d2": 3}}


def test_load_beir_max_docs_keeps_judged_documents(tmp_path):
    data = load_beir(_write_beir(tmp_path / "beir", QRELS_ROWS), max_docs=1)
    # d1 is within the first 1; d2 and d4 are judged; d3 is only judged for a dropped query.
    assert [d.name for d in data.documents] == ["d1", "d2", "d4"]


def test_load_beir_bad_score_after_first_line(tmp_path):
    root = _write_beir(tmp_path / "beir", "q1\td1\t2\nq2\td2\thigh\n")
    with pytest.raises(ValueError, match=r"test\.tsv:2: score 'high'"):
        load_beir(root)


# --- real benchmark data (read in place, skipped when absent) ----------------------

@pytest.mark.skipif(not (BENCHMARKS / "squad-v1.1-dev-part1.json").exists(), reason="no benchmark data")
def test_real_squad_slice_loads():
    documents, questions = load_squad(BENCHMARKS / "squad-v1.1-dev-part1.json")
    assert len(documents) == 12
    assert len(questions) == 2881
    assert documents[0].name == "Super_Bowl_50.txt"
    assert sum(d.text.count("\n\n") + 1 for d in documents) == 475
    assert all(q.answerable and q.sources for q in questions)


@pytest.mark.skipif(not (BENCHMARKS / "trec-dl-msmarco-5k").exists(), reason="no benchmark data")
def test_real_beir_slice_loads():
    data = load_beir(BENCHMARKS / "trec-dl-msmarco-5k")
    assert len(data.documents) == 5000
    assert len(data.queries) == 43
    assert set(data.qrels) == set(data.queries)
    small = load_beir(BENCHMARKS / "trec-dl-msmarco-5k", max_docs=10)
    judged = {doc for judgements in small.qrels.values() for doc in judgements}
    assert judged <= {d.name for d in small.documents}
    assert len(small.documents) < 5000


def test_load_paired_squad_asks_one_files_questions_of_the_others_paragraphs(tmp_path):
    english = tmp_path / "en.json"
    english.write_text(json.dumps(_squad_fixture()), encoding="utf-8")
    spanish = _squad_fixture()
    spanish["data"][0]["paragraphs"][0]["context"] = "Super Bowl 50 fue un partido de fútbol americano."
    spanish["data"][0]["paragraphs"][0]["qas"][0]["question"] = "¿Qué partido fue la Super Bowl 50?"
    spanish["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"text": "fútbol americano", "answer_start": 31}]
    path = tmp_path / "es.json"
    path.write_text(json.dumps(spanish), encoding="utf-8")
    documents, questions = load_paired_squad(english, path)
    assert documents == load_squad(english)[0]  # the paragraphs are the English file's
    first = questions[0]
    assert first.question == "¿Qué partido fue la Super Bowl 50?"
    assert first.answers == ("American football game", "football game")  # and so are the answers
    assert [q.id for q in questions] == ["a1", "a2", "b1"]
    del spanish["data"][1]
    path.write_text(json.dumps(spanish), encoding="utf-8")
    with pytest.raises(ValueError, match="no question with id 'b1'"):
        load_paired_squad(english, path)


def test_translated_squad_pairs_paragraphs_and_questions_despite_a_dropped_paragraph(tmp_path):
    """SQuAD-es keeps neither the original's question ids nor every paragraph: questions pair by alignment."""
    def qa(qid, question, answer=None, start=0):
        answers = [{"text": answer, "answer_start": start}] if answer else []
        return {"id": qid, "question": question, "answers": answers, "is_impossible": answer is None}

    english = {"data": [{"title": "Warsaw", "paragraphs": [
        {"context": "Warsaw lies on the Vistula River in Poland.", "qas": [qa("e1", "Which river runs through Warsaw?", "Vistula River", 19)]},
        {"context": "In 1897 about 34% of Warsaw's people were Jewish, said Jan Bloch.", "qas": [
            qa("e2", "What share of Warsaw was Jewish in 1897?", "about 34%", 8), qa("e3", "Who counted Krakow in 1897?")]},
        {"context": "The Saxon Garden, Ogród Saski, opened in 1727.", "qas": [qa("e4", "When did the Saxon Garden open?", "1727", 41)]},
    ]}]}
    spanish = {"data": [{"title": "Varsovia", "title_en": "Warsaw", "paragraphs": [
        {"context": "En 1897 cerca del 34% de la población de Varsovia era judía, dijo Jan Bloch.", "qas": [
            qa("s2", "¿Qué parte de Varsovia era judía en 1897?", "cerca del 34%", 8), qa("s3", "¿Quién contó Cracovia en 1897?")]},
        {"context": "El Jardín Sajón, Ogród Saski, abrió en 1727.", "qas": [qa("s4", "¿Cuándo abrió el Jardín Sajón?", "1727", 39)]},
    ]}]}
    (tmp_path / "en.json").write_text(json.dumps(english), encoding="utf-8")
    (tmp_path / "es.json").write_text(json.dumps(spanish), encoding="utf-8")
    pairs = [(qa["id"], title, paragraph, gold["id"]) for qa, title, paragraph, gold in translated_pairs(tmp_path / "en.json", tmp_path / "es.json")]
    assert pairs == [("s2", "Warsaw", 1, "e2"), ("s3", "Warsaw", 1, "e3"), ("s4", "Warsaw", 2, "e4")]
    documents, questions = load_translated_squad(tmp_path / "en.json", tmp_path / "es.json")
    assert [d.name for d in documents] == ["Warsaw.txt"]
    assert all(q.sources == ("Warsaw.txt",) for q in questions)
    assert [(q.question, q.answers, q.answerable) for q in questions] == [
        ("¿Qué parte de Varsovia era judía en 1897?", ("about 34%",), True),
        ("¿Quién contó Cracovia en 1897?", (), False),
        ("¿Cuándo abrió el Jardín Sajón?", ("1727",), True),
    ]


def test_squadshifts_held_out_questions_are_told_by_text(tmp_path):
    """A SQuADShifts file's held-out questions are those of the texts the reader never trained on (whole
    articles; single comments for Reddit), by the same rule as its training data; other files have none."""
    from eval.datasets import shifts_held_out, shifts_held_out_ids

    folder = tmp_path / "squadshifts"
    folder.mkdir()
    articles = [{"title": f"Article {i}", "paragraphs": [
        {"context": f"Text {i}.{n}", "qas": [{"id": f"q{i}-{n}", "question": "What?", "answers": [{"text": "Text", "answer_start": 0}]}]}
        for n in range(3)]} for i in range(40)]
    for source in ("new_wiki", "reddit"):
        (folder / f"{source}.json").write_text(json.dumps({"data": articles}), encoding="utf-8")
        expected = {f"q{i}-{n}" for i in range(40) for n in range(3) if shifts_held_out(source, f"Article {i}", n)}
        assert shifts_held_out_ids(folder / f"{source}.json") == expected
        assert 0 < len(expected) < 120  # about one text in ten
    wiki = shifts_held_out_ids(folder / "new_wiki.json")
    assert all({f"{q.split('-')[0]}-{n}" for n in range(3)} <= wiki for q in wiki)  # whole articles
    (tmp_path / "squad.json").write_text(json.dumps({"data": articles}), encoding="utf-8")
    assert shifts_held_out_ids(tmp_path / "squad.json") == set()
