"""Questions in Spanish over English sources, English questions over a Spanish source, the language check, the
multilingual part of an index (and a build without it), and `verbatim eval --questions-from`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.questions import language_note
from index.build.pipeline import build_index
from index.config import Settings
from index.search import Searcher
from index.search.records import ENGLISH_ROUTE, MULTILINGUAL_ROUTE
from index.storage.store import load_version
from ingest.language import passage_language, question_language

from conftest import SOURCES

SPANISH_DOC = Path(__file__).resolve().parent / "data" / "es" / "planta-potabilizadora-chalatenango.txt"
CSIS = "csis-burgeoning-regional-appeal-of-mano-dura.txt"
PISM = "pism-international-echoes-of-el-salvador-public-security-model.txt"
MODEL = "bundled:all-MiniLM-L6-v2"


# ---------------------------------------------------------------- the language check


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("¿Cuántos presos hay en El Salvador?", "Spanish"),
        ("¿Cuándo abrió el CECOT?", "Spanish"),
        ("Cuántas personas están en la cárcel", "Spanish"),
        ("How many prisoners are in El Salvador?", "English"),
        ("El Salvador police force size 2019 vs 2025", "English"),
        ("CECOT opening date", "English"),
        ("Combien de prisonniers y a-t-il au Salvador ?", "French"),
        ("Сколько заключённых в Сальвадоре?", "Cyrillic script"),
    ],
)
def test_question_language(question, language):
    assert question_language(question) == language


def test_only_languages_the_index_cannot_read_get_a_hint():
    assert language_note("¿Cuántos presos hay en El Salvador?", MODEL, multilingual=True) is None
    assert language_note("Combien de prisonniers y a-t-il au Salvador ?", MODEL, multilingual=True) is None
    note = language_note("Сколько заключённых в Сальвадоре?", MODEL, multilingual=True)
    assert note and "please ask in English or Spanish" in note
    # An index built with --no-multilingual reads English only: every other language is told so.
    note = language_note("¿Cuántos presos hay en El Salvador?", MODEL, multilingual=False)
    assert note and "Spanish" in note and "--no-multilingual" in note


def test_passage_language():
    assert passage_language(SPANISH_DOC.read_text(encoding="utf-8")) == "es"
    english = (SOURCES / CSIS).read_text(encoding="utf-8")
    assert passage_language(english) == "en"
    # English prose full of Spanish names stays English; a title tells nothing.
    names = "The Centro de Confinamiento del Terrorismo of La Libertad opened in Tecoluca, San Vicente, in January 2023, and it holds the gang members that the government arrested."
    assert passage_language(names) == "en"
    assert passage_language("Mano Dura") == "und"


# ---------------------------------------------------------------- Spanish questions, English sources


def test_a_spanish_question_finds_both_prisoner_figures(bundled_settings):
    answer = Searcher(bundled_settings).search("¿Cuántos presos hay en El Salvador?")
    assert answer.route == MULTILINGUAL_ROUTE and answer.language == "Spanish" and not answer.abstained
    texts = [hit.passage.text for hit in answer.hits]
    assert any("119,000" in t and PISM in hit.passage.files for t, hit in zip(texts, answer.hits))
    assert any("77,000" in t and CSIS in hit.passage.files for t, hit in zip(texts, answer.hits))
    # Quoted word for word from the English source.
    for hit in answer.hits:
        occurrence = hit.passage.occurrences[0]
        assert load_version(bundled_settings.index_dir).sources[occurrence.file].text[occurrence.start : occurrence.end] == hit.passage.text


def test_a_spanish_question_about_cecot_finds_january_2023(bundled_settings):
    answer = Searcher(bundled_settings).search("¿Cuándo abrió el CECOT?")
    assert answer.route == MULTILINGUAL_ROUTE and not answer.abstained
    assert any("In January 2023, the government opened the showcase CECOT prison" in h.passage.text for h in answer.hits[:3])


def test_the_shipped_multilingual_reader_is_verified_small_and_described():
    """Within 40 MB (decimal), sha256 verified, its tokenizer the shipped e5's own file (a link, not a copy), and a
    card naming its base, licences, data and the command that rebuilds it."""
    from index.models.reader import MULTILINGUAL_READER_DIR, reader_files

    files = reader_files(MULTILINGUAL_READER_DIR)
    assert files.state == "sha256 verified" and set(files.files) == {"model.onnx", "tokenizer.json"}
    assert (MULTILINGUAL_READER_DIR / "model.onnx").stat().st_size <= 40_000_000
    e5 = MULTILINGUAL_READER_DIR.parent / "multilingual-e5-small" / "tokenizer.json"
    assert (MULTILINGUAL_READER_DIR / "tokenizer.json").resolve() == e5.resolve()
    card = (MULTILINGUAL_READER_DIR / "README.md").read_text(encoding="utf-8")
    for needed in ("multilingual-e5-small", "MIT", "CC BY-SA 4.0", "--multilingual", "rank-32", "XQuAD", "Held-out"):
        assert needed in card, needed


def test_the_multilingual_reader_reads_when_it_is_installed(bundled_settings, monkeypatch):
    """Until the multilingual reader is installed the route shows passages without a span; once its folder holds a
    model (the English reader stands in for it here: the same files and interface) it reads the shown passages."""
    from index.models.reader import READER_DIR
    from index.search import pipeline

    question = "¿Cuántos presos hay en El Salvador?"
    monkeypatch.setattr(pipeline, "MULTILINGUAL_READER_DIR", bundled_settings.index_dir / "no-reader-here")
    without = Searcher(bundled_settings)
    assert all(hit.answer is None for hit in without.search(question).hits)
    assert not any(key[0] == "reader" for key in without._models)
    monkeypatch.setattr(pipeline, "MULTILINGUAL_READER_DIR", READER_DIR)
    searcher = Searcher(bundled_settings.with_overrides(rerank=False))  # the English path would not load a reader
    answer = searcher.search(question)
    assert answer.route == MULTILINGUAL_ROUTE
    assert ("reader", "multilingual") in searcher._models
    from index.models.reader import get_reader

    name = get_reader(READER_DIR).name  # what the reader's readings are kept under
    assert all(searcher._recent_spans.get((name, question, hit.passage.text)) is not None for hit in answer.hits)


def test_english_questions_keep_the_english_path(bundled_settings):
    index = load_version(bundled_settings.index_dir)
    assert index.multilingual is not None and index.multilingual.size == len(index.passages)
    assert len(index.multilingual.foreign_rows) == 0  # the bundled sources are English: e5 is not needed for English
    searcher = Searcher(bundled_settings)
    answer = searcher.search("How many people are in prison in El Salvador?")
    assert answer.route == ENGLISH_ROUTE and answer.hits[0].answer is not None
    assert not any(key[0] == "multilingual" for key in searcher._models)  # nothing loaded the multilingual encoder


# ---------------------------------------------------------------- an English question, a Spanish source


@pytest.fixture(scope="module")
def mixed_collection(tmp_path_factory) -> Settings:
    """One English source and one Spanish one, indexed with the multilingual part."""
    root = tmp_path_factory.mktemp("mixed")
    sources = root / "sources"
    sources.mkdir()
    shutil.copy(SOURCES / CSIS, sources / CSIS)
    shutil.copy(SPANISH_DOC, sources / SPANISH_DOC.name)
    settings = Settings(sources_dir=sources, index_dir=root / "index", multilingual=True)
    build_index(settings, full=True)
    return settings


def test_an_english_question_finds_the_spanish_source(mixed_collection):
    index = load_version(mixed_collection.index_dir)
    spanish = {row for row, p in enumerate(index.passages) if SPANISH_DOC.name in p.files}
    assert spanish and set(index.multilingual.foreign_rows) <= spanish
    assert {index.multilingual.languages[row] for row in index.multilingual.foreign_rows} == {"es"}
    answer = Searcher(mixed_collection).search("How many residents will the new water treatment plant in Chalatenango supply?")
    assert answer.route == ENGLISH_ROUTE
    found = [h for h in answer.hits if SPANISH_DOC.name in h.passage.files]
    assert found and any("18.000 habitantes" in h.passage.text for h in found)


def test_a_rebuild_embeds_only_new_passages_with_the_multilingual_encoder(mixed_collection, tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index", multilingual=True)
    shutil.copytree(mixed_collection.sources_dir, settings.sources_dir)
    shutil.copytree(mixed_collection.index_dir, settings.index_dir)
    before = load_version(settings.index_dir)
    (settings.sources_dir / "nota.txt").write_text(
        "El Ministerio de Salud informó que la campaña de vacunación contra el sarampión llegará a 250 escuelas del país.\n",
        encoding="utf-8",
    )
    report = build_index(settings)
    after = load_version(settings.index_dir)
    assert report.embedded_multilingual == len(after.passages) - len(before.passages) == 1
    # Reused vectors are the stored ones, decoded: the same as before for every kept passage.
    old, new = before.multilingual.vectors(), after.multilingual.vectors()
    for row, passage in enumerate(before.passages):
        assert (new[after.row_of_id[passage.id]] == old[row]).all()


def test_no_multilingual_builds_an_english_only_index(mixed_collection, tmp_path):
    settings = Settings(sources_dir=mixed_collection.sources_dir, index_dir=tmp_path / "index", multilingual=False)
    report = build_index(settings, full=True)
    index = load_version(settings.index_dir)
    assert report.embedded_multilingual == 0 and index.multilingual is None and not index.manifest.multilingual
    assert not (index.path / "multilingual").exists()
    answer = Searcher(settings).search("¿Cuántas personas abastecerá la planta?")
    assert answer.route == ENGLISH_ROUTE  # nothing else to answer with


# ---------------------------------------------------------------- eval --questions-from


def _squad(path: Path, question_of: dict[str, str], contexts: list[str], answers: dict[str, str]) -> Path:
    qas_of = {c: [] for c in contexts}
    for i, (qid, question) in enumerate(question_of.items()):
        context = contexts[i % len(contexts)]
        answer = answers[qid]
        qas_of[context].append({"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.find(answer)}] if answer else [], "is_impossible": not answer})
    data = {"data": [{"title": f"Article {n}", "paragraphs": [{"context": c, "qas": qas_of[c]}]} for n, c in enumerate(contexts)]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_eval_scores_questions_of_one_file_against_the_paragraphs_of_another(tmp_path, capsys, monkeypatch):
    from app.cli import main

    contexts = [
        "The Amazon rainforest covers about 5,500,000 square kilometres, most of it in Brazil.",
        "The Rhine rises in the Swiss Alps and flows 1,230 kilometres to the North Sea in the Netherlands.",
    ]
    answers = {"q1": "5,500,000 square kilometres", "q2": "1,230 kilometres"}
    english = _squad(tmp_path / "en.json", {"q1": "How large is the Amazon rainforest?", "q2": "How long is the Rhine?"}, contexts, answers)
    spanish = _squad(tmp_path / "es.json", {"q1": "¿Qué extensión tiene la selva amazónica?", "q2": "¿Cuánto mide el Rin?"}, contexts, answers)
    out = tmp_path / "out.json"
    monkeypatch.setenv("VERBATIM_MULTILINGUAL", "1")
    code = main(["eval", "--squad", str(english), "--questions-from", str(spanish), "--json", str(out), "--k", "2"])
    assert code == 0
    results = json.loads(out.read_text())
    squad = next(iter(results["squad"].values()))["metrics"]
    assert squad["questions"] == 2 and squad["hit@1"] == 1.0
    assert "paired by id" in capsys.readouterr().err
    assert main(["eval", "--questions-from", str(spanish)]) == 2  # it needs --squad's paragraphs


def test_word_by_word_english_keeps_names_and_figures_and_finds_words_by_the_encoder():
    """eval/studies/word_translation_study.py: the translate-test study's translator (the table, names and
    figures as they are, other words the nearest English word by the shipped multilingual encoder)."""
    from eval.studies.word_translation_study import WordTranslator

    translate = WordTranslator(["prisoners", "house", "weather", "river"])
    assert translate("¿Cuántos presos hay en El Salvador?") == "how many prisoners there are in El Salvador?"
    assert translate("¿Por qué cerró en 2023?").startswith("why ")
    assert "2023" in translate("¿Por qué cerró en 2023?")
