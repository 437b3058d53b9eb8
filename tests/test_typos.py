"""Issue 34, item 11: a question with typos is searched as the sources spell its words."""

from __future__ import annotations

import subprocess
import sys

from index.config import Settings
from index.search import Searcher
from index.search.candidates import spelled_question
from index.storage.lexical import Vocabulary, edit_distance
from tests.conftest import cli_env

TYPOS = "How many peple are in prisn in El Salvdor?"


def test_edit_distance_counts_typos():
    assert edit_distance("prisn", "prison", 1) == 1
    assert edit_distance("salvdor", "salvador", 2) == 1
    assert edit_distance("teh", "the", 1) == 1  # two neighbours swapped is one typo
    assert edit_distance("imit", "limit", 2) == 1
    assert edit_distance("abcdef", "uvwxyz", 2) == 3  # stops past the limit


def test_the_nearest_known_term_is_found_by_bigrams():
    vocabulary = Vocabulary(["prison", "poison", "person", "salvador"], frequency=__import__("numpy").array([5, 1, 3, 4]))
    assert vocabulary.nearest("prisn") == "prison"
    assert vocabulary.nearest("salvdor") == "salvador"
    assert vocabulary.nearest("prsion") == "prison"  # two neighbours swapped
    assert vocabulary.nearest("zebra") is None
    assert vocabulary.nearest("pri") is None  # too short to tell a typo from another word


def test_typos_are_respelled_and_known_words_never(bundled_settings):
    searcher = Searcher(bundled_settings)
    index = searcher.index()
    encoder = searcher.encoder(index)
    assert spelled_question(index, TYPOS, encoder) == "How many people are in prison in El Salvador?"
    assert spelled_question(index, "peple / prisn / Salvdor", encoder) == "people / prison / Salvador"
    # English the sources do not use is not a typo of a word they do use.
    for question in ("Why do politicians want to imitate Bukele?", "Who won the 2018 FIFA World Cup?", "What share of Poland's population is imprisoned?"):
        assert spelled_question(index, question, encoder) == question


def test_a_question_with_typos_finds_the_passage_of_the_spelled_one(bundled_settings):
    searcher = Searcher(bundled_settings)
    typed = searcher.search(TYPOS, k=5, mode="hybrid")
    spelled = searcher.search("How many people are in prison in El Salvador?", k=5, mode="hybrid")
    assert spelled.hits[0].passage.id in [hit.passage.id for hit in typed.hits[:3]]
    assert any("119,000" in hit.passage.text for hit in typed.hits[:3])
    assert max(hit.lexical_score for hit in typed.hits) > 0  # the lexical stage scores it again


def test_ask_in_the_terminal_finds_the_passage_despite_typos(bundled_settings):
    run = subprocess.run([sys.executable, "-m", "app.cli", "ask", "--json", "peple / prisn / Salvdor"], env=cli_env(bundled_settings), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "119,000" in run.stdout
