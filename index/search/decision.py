"""Stage 5, decision: do the sources answer? The learned model of index/search/answerability.py over what the
earlier stages found; without the second stage, the calibrated cosine floor (`abstain_below`)."""

from __future__ import annotations

import numpy as np

from index.search.answerability import AnswerabilityModel, Signals, expected_type, has_type, missing_rarest, rare_term_coverage, unknown_share
from index.config import Settings
from index.storage.lexical import tokenize
from index.search.records import MULTILINGUAL_ROUTE, Decision, Ranking, Reading


def answer_signals(question: str, ranking: Ranking, reading: Reading) -> Signals:
    """What the decision reads: the cross-encoder's verdict on the head and on the top passage's
    sentences, what the top passage holds, and the reader's no-answer evidence."""
    c, reranked, head = ranking.candidates, ranking.reranked, ranking.head
    top = ranking.order[0]
    logits = np.sort(reranked.logits)[::-1]
    passage = c.passage(top)
    position = int(np.flatnonzero(head == top)[0]) if top in head else 0
    first, last = reranked.windows[position]
    read = passage.text[passage.sentences[first].start : passage.sentences[last].end] if passage.sentences else passage.text
    sentence_logits = reading.sentence_logits
    best = int(np.argmax(sentence_logits)) if len(sentence_logits) else -1
    sentence = passage.text[passage.sentences[best].start : passage.sentences[best].end] if best >= 0 and passage.sentences else read
    terms = tokenize([question])[0]
    idf_of = getattr(c.index.lexical, "idf", None)  # Milvus full-text search does not expose frequencies
    idf = idf_of(terms) if idf_of else dict.fromkeys(terms, 1.0)
    unknown_idf = idf_of(["\u2400"])["\u2400"] if idf_of else 1.0  # what a term no passage holds weighs
    passage_terms = set(tokenize([passage.text])[0])
    kind = expected_type(question)
    spans = reading.spans
    return Signals(
        ce_top=float(logits[0]),
        ce_margin=float(logits[0] - logits[1]) if len(logits) > 1 else 0.0,
        best_sentence=float(c.best_sentence.max()),
        lexical_confidence=c.lexical_confidence,
        rare_coverage=rare_term_coverage(terms, passage_terms, idf),
        type_asked=float(kind is not None),
        type_missing=float(kind is not None and not has_type(read, kind, question)),
        window_coverage=rare_term_coverage(terms, set(tokenize([read])[0]), idf),
        unknown_terms=unknown_share(terms, idf, unknown_idf) if idf_of else 0.0,
        missing_top_idf=missing_rarest(terms, passage_terms, idf, unknown_idf),
        ce_sentence_top=float(sentence_logits[best]) if best >= 0 else float(logits[0]),
        sentence_type_missing=float(kind is not None and not has_type(sentence, kind, question)),
        sentence_coverage=rare_term_coverage(terms, set(tokenize([sentence])[0]), idf),
        reader_margin=spans[0].margin if spans else 0.0,
        reader_has=spans[0].has_answer if spans else 0.0,
        reader_best_margin=max(s.margin for s in spans) if spans else 0.0,
    )


def decide(question: str, ranking: Ranking, reading: Reading, settings: Settings, model: AnswerabilityModel) -> Decision:
    """The stage. The learned decision needs the second stage's verdict (and the reader's, when the model
    was fitted with it) from the cross-encoder it was fitted on; otherwise the cosine floor decides."""
    c = ranking.candidates
    if c.route == MULTILINGUAL_ROUTE:
        return Decision(multilingual_abstains(ranking, reading, settings))
    floor = (float(c.best_sentence.max()) if len(c.best_sentence) else 0.0) < settings.abstain_below
    if ranking.reranked is None or not ranking.chosen:
        return Decision(floor)
    signals = answer_signals(question, ranking, reading)
    if model.reranker != settings.reranker or (model.reads and not reading.spans):
        return Decision(floor, None, signals)
    probability = model.probability(signals)
    return Decision(probability < model.threshold, probability, signals)


def multilingual_abstains(ranking: Ranking, reading: Reading, settings: Settings) -> bool:
    """The multilingual route's decision: abstain when no passage comes within `multilingual_abstain_below` of the
    question by the multilingual cosine, or when the (multilingual) reader read the first passages and finds no
    answer in any of them (with a gate fitted on that reader: no span it is sure enough of, `answers_above`). The
    English decision's signals come from English models, so they do not apply."""
    c = ranking.candidates
    if not ranking.chosen or float(c.dense[ranking.chosen[0]]) < settings.multilingual_abstain_below:
        return True
    if not reading.spans:
        return False
    sure = [p for p in reading.confidence if p is not None]
    if sure and reading.gate is not None and reading.gate.answers_above is not None:
        # The gate fitted on this reader: its calibrated P(span right), thresholded on held-out articles.
        return max(sure) < reading.gate.answers_above
    return max(span.margin for span in reading.spans) < settings.answer_margin
