"""Tests for eval.metrics against hand-computed values."""

import math

import pytest

from eval.metrics import (
    AbstentionScores,
    abstention_scores,
    answers_found,
    coverage,
    distinct_answers,
    evidence_correct,
    first_hit_rank,
    hit_at_k,
    is_hit,
    mrr_at_k,
    ndcg_at_k,
    normalize_for_match,
    percentile,
    recall_at_k,
)


# --- normalization and matching ------------------------------------------------

def test_normalize_folds_curly_quotes():
    assert normalize_for_match("\u201cHello\u201d \u2018world\u2019 \u201equote\u201f \u201aa\u201b") == (
        "\"hello\" 'world' \"quote\" 'a'"
    )


def test_normalize_nfkc_ligature_fullwidth_and_nbsp():
    assert normalize_for_match("\ufb01sh") == "fish"
    assert normalize_for_match("\uff21\uff22\uff23") == "abc"
    assert normalize_for_match("a\u00a0b") == "a b"


def test_normalize_collapses_whitespace_and_casefolds():
    assert normalize_for_match("  The\t\n  Big \u2003 Straße  ") == "the big strasse"
    assert normalize_for_match("") == ""


def test_distinct_answers_dedupes_after_normalization_and_drops_empty():
    assert distinct_answers(["Denver  Broncos", "denver broncos", " ", "Broncos"]) == (
        "denver broncos",
        "broncos",
    )


def test_is_hit_requires_answer_text():
    assert is_hit("The Denver\nBroncos won.", ["a.txt"], ["denver broncos"], None)
    assert not is_hit("The Panthers lost.", ["a.txt"], ["Denver Broncos"], None)


def test_is_hit_checks_sources_only_when_given():
    text = "It cost \u201cten dollars\u201d."
    assert is_hit(text, ["a.txt"], ['"ten dollars"'], ["a.txt", "b.txt"])
    assert not is_hit(text, ["c.txt"], ['"ten dollars"'], ["a.txt"])
    assert is_hit(text, ["c.txt"], ['"ten dollars"'], [])


def test_is_hit_ignores_empty_answers():
    assert not is_hit("anything", ["a.txt"], ["", "  "], None)


def test_evidence_correct():
    assert evidence_correct("Signed in\u00a01776 by delegates", ["1776"])
    assert not evidence_correct("Signed in 1777", ["1776", "July 4"])
    assert not evidence_correct("Signed in 1776", [])


# --- ranks ---------------------------------------------------------------------

def test_first_hit_rank():
    assert first_hit_rank([False, False, True, True]) == 3
    assert first_hit_rank([True]) == 1
    assert first_hit_rank([False, False]) is None
    assert first_hit_rank([]) is None


def test_hit_at_k_and_mrr_hand_example():
    ranks = [1, 3, None, 2]
    assert hit_at_k(ranks, 1) == pytest.approx(0.25)
    assert hit_at_k(ranks, 2) == pytest.approx(0.5)
    assert hit_at_k(ranks, 3) == pytest.approx(0.75)
    assert mrr_at_k(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    # Rank 3 falls outside k=2 and contributes nothing.
    assert mrr_at_k(ranks, k=2) == pytest.approx((1 + 1 / 2) / 4)


def test_rank_metrics_empty_and_bad_k():
    assert hit_at_k([], 5) == 0.0
    assert mrr_at_k([]) == 0.0
    with pytest.raises(ValueError):
        hit_at_k([1], 0)


# --- coverage ----------------------------------------------------------------------

def test_answers_found_counts_distinct_answers_in_top_k():
    passages = [
        ("Paris is the capital.", ["fr.txt"]),
        ("PARIS again, and Lyon.", ["fr.txt"]),
        ("Marseille is in the south.", ["other.txt"]),
        ("Marseille port.", ["fr.txt"]),
    ]
    answers = ["Paris", "paris", "Lyon", "Marseille"]
    assert answers_found(passages, answers, ["fr.txt"], k=1) == 1
    assert answers_found(passages, answers, ["fr.txt"], k=2) == 2
    # Passage 3 has Marseille but from a non-gold source.
    assert answers_found(passages, answers, ["fr.txt"], k=3) == 2
    assert answers_found(passages, answers, ["fr.txt"], k=4) == 3
    assert answers_found(passages, answers, None, k=3) == 3


def test_coverage_mean_of_fractions():
    assert coverage([(1, 2), (3, 3), (0, 4)]) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert coverage([]) == 0.0
    with pytest.raises(ValueError):
        coverage([(3, 2)])
    with pytest.raises(ValueError):
        coverage([(0, 0)])


# --- abstention --------------------------------------------------------------------

def test_abstention_small_confusion():
    scores = abstention_scores(
        [True, True, False, False, True, False],
        [True, False, True, False, True, False],
    )
    assert (scores.tp, scores.fp, scores.fn) == (2, 1, 1)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)


def test_abstention_asymmetric_f1():
    scores = abstention_scores([True, True, True, False], [True, False, False, False])
    assert (scores.tp, scores.fp, scores.fn) == (1, 2, 0)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == 1.0
    assert scores.f1 == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))


def test_abstention_zero_denominator_conventions():
    assert abstention_scores([False, False], [False, False]) == AbstentionScores(1.0, 1.0, 1.0, 0, 0, 0)
    # Never abstains but should have: nothing right.
    assert abstention_scores([False, False], [True, False]) == AbstentionScores(0.0, 0.0, 0.0, 0, 0, 1)
    # Abstains when nothing needed it.
    assert abstention_scores([True, False], [False, False]) == AbstentionScores(0.0, 0.0, 0.0, 0, 1, 0)
    assert abstention_scores([], []) == AbstentionScores(1.0, 1.0, 1.0, 0, 0, 0)


def test_abstention_length_mismatch():
    with pytest.raises(ValueError):
        abstention_scores([True], [True, False])


# --- percentile --------------------------------------------------------------------

def test_percentile_known_values():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_percentile_matches_numpy():
    np = pytest.importorskip("numpy")
    values = [0.3, 12.0, 5.5, 5.5, 1.25, 9.0, 2.0]
    for p in (0, 10, 25, 33.3, 50, 75, 95, 99, 100):
        assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)))


# --- BEIR nDCG / recall --------------------------------------------------------------

QRELS = {"d1": 3, "d2": 2, "d3": 1, "d4": 0}
IDCG3 = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)


def test_ndcg_perfect_ranking_is_one():
    assert ndcg_at_k(["d1", "d2", "d3"], QRELS, k=3) == pytest.approx(1.0)
    assert ndcg_at_k(["d1", "d2", "d3", "d9"], QRELS, k=10) == pytest.approx(1.0)


def test_ndcg_hand_computed_graded():
    # d2 (2) at rank 1, d5 unjudged at 2, d1 (3) at 3.
    expected = (2 / math.log2(2) + 3 / math.log2(4)) / IDCG3
    assert ndcg_at_k(["d2", "d5", "d1", "d3"], QRELS, k=3) == pytest.approx(expected)
    assert expected == pytest.approx(3.5 / 4.761859507142915)


def test_ndcg_dedupes_keeping_first_occurrence():
    # Without dedupe, d1 would earn gain three times and exceed the ideal.
    assert ndcg_at_k(["d1", "d1", "d1"], QRELS, k=3) == pytest.approx(3 / IDCG3)
    # Duplicate d2 collapses, so d1 moves up to rank 3 within k.
    with_dup = ndcg_at_k(["d2", "d5", "d2", "d1"], QRELS, k=3)
    assert with_dup == pytest.approx((2 / math.log2(2) + 3 / math.log2(4)) / IDCG3)


def test_ndcg_zero_grade_docs_give_no_gain():
    assert ndcg_at_k(["d4", "d1"], QRELS, k=2) == pytest.approx(
        (3 / math.log2(3)) / (3 / math.log2(2) + 2 / math.log2(3))
    )


def test_ndcg_no_relevant_docs_is_zero():
    assert ndcg_at_k(["d1", "d2"], {"d1": 0, "d2": 0}, k=10) == 0.0
    assert ndcg_at_k(["d1"], {}, k=10) == 0.0


def test_recall_at_k_with_duplicates():
    ranking = ["d2", "d2", "d5", "d1", "d4"]
    assert recall_at_k(ranking, QRELS, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, QRELS, k=3) == pytest.approx(2 / 3)
    assert recall_at_k(ranking + ["d3"], QRELS, k=100) == pytest.approx(1.0)
    assert recall_at_k(ranking, {"d4": 0}, k=100) == 0.0


def test_span_scores_follow_squad_normalization():
    from eval.metrics import span_scores

    assert span_scores("The 119,000 prisoners", ["119,000 prisoners"]) == (1.0, 1.0)
    em, f1 = span_scores("119,000 people", ["119,000"])
    assert em == 0.0 and f1 == pytest.approx(2 / 3)
    assert span_scores("", ["77,000"]) == (0.0, 0.0)
    assert span_scores("Denver Broncos", ["Broncos", "Denver Broncos"])[0] == 1.0
    with pytest.raises(ValueError):
        span_scores("x", [])


def test_roc_auc_counts_ties_as_half():
    from eval.metrics import roc_auc

    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert roc_auc([1, 1, 1, 1], [True, False, True, False]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        roc_auc([1, 2], [True, True])


def test_sources_say_correct_needs_two_expected_sources_each_with_its_value():
    from eval.metrics import sources_say_correct

    expected = (("a.txt", ("119,000",)), ("b.txt", ("77,000",)), ("c.txt", ("2 percent",)))
    assert sources_say_correct([("a.txt", "119,000"), ("b.txt", "over 77,000")], expected)
    assert not sources_say_correct([("a.txt", "119,000")], expected)  # one source is not a comparison
    assert not sources_say_correct([("a.txt", "119,000"), ("b.txt", "1.22 percent")], expected)  # b's line is wrong
    assert not sources_say_correct([("a.txt", "119,000"), ("b.txt", "77,000"), ("d.txt", "5")], expected)  # d not expected
    assert sources_say_correct([], ())
    assert not sources_say_correct([("a.txt", "x"), ("b.txt", "y")], ())


def test_a_span_with_another_figure_never_answers():
    from eval.metrics import line_answers, span_answers

    assert not span_answers("$314 million", ["$70 million"])  # token F1 0.5, but another figure
    assert span_answers("around $70 million", ["$70 million"])
    assert span_answers("119,000 people, or 1.9%", ["1.9%"])
    assert not span_answers("0.19%", ["1.9%"])
    assert span_answers("over 92", ["92 people"]) and span_answers("46 times", ["46"])
    assert span_answers("Treaty of Rome 1957", ["the Treaty of Rome 1957 and the Maastricht Treaty 1992"])  # a part
    assert span_answers("Article 101", ["Article 101(1)"]) and not span_answers("article 34", ["article 30"])
    assert span_answers("Warsaw Uprising", ["the Warsaw Uprising"])
    assert not line_answers("pism.txt", "252", ["119,000", "77,000"], [("pism.txt", ["119,000"])])
