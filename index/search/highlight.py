"""Stage 6, highlight: the answering sentence(s) of each shown passage and, inside them, the words that
answer (the reader's span, when it lies in that sentence), as Hits with their citations."""

from __future__ import annotations

from index.config import Settings
from index.search.evidence import rerank_evidence, select_evidence
from index.models.reader import AnswerSpan
from index.search.records import Citation, Decision, Hit, Ranking, Reading
from index.storage.store import IndexVersion
from ingest.ocr import ocr_pages
from ingest.records import Occurrence, Span


def inside(evidence: tuple[Span, ...], span: AnswerSpan) -> bool:
    """Whether the answer span lies within one evidence sentence (where it is marked)."""
    return any(s.start <= span.start and span.end <= s.end for s in evidence)


def citation(index: IndexVersion, occurrence: Occurrence) -> Citation:
    """Where a passage stands, and whether that page's text was recognized by OCR (from the note the
    build put in the document's own title, which an edited title in sources.toml does not remove)."""
    record = index.sources[occurrence.file]
    pages = ocr_pages(record.own_meta.title, occurrence.page or 1)
    return Citation(record.meta, occurrence, pages is not None and (occurrence.page or 1) in pages)


def answers(span: AnswerSpan, settings: Settings) -> bool:
    """Whether the reader takes this passage to answer: its span beats "no answer" by `answer_margin`."""
    return span.margin >= settings.answer_margin and span.end > span.start


def highlight(question: str, ranking: Ranking, reading: Reading, decision: Decision, settings: Settings) -> tuple[Hit, ...]:
    """The stage: one Hit per shown passage, with evidence and (when the sources answer) the answer span."""
    c, chosen, s = ranking.candidates, ranking.chosen, settings
    passages = ranking.passages
    evidence = select_evidence(
        c.question_vector, question, passages, [c.index.sentence_vectors(c.rows[i]) for i in chosen], s.evidence_margin
    )
    if chosen and len(reading.sentence_logits) and not decision.abstained:
        # The cross-encoder tells the answering sentence from one on the same topic better than cosine.
        evidence[0] = rerank_evidence(question, passages[0], reading.sentence_logits, reading.sentence_bi, s.evidence_bi_weight, s.evidence_rerank_margin)
    spans: list[AnswerSpan | None] = [None] * len(chosen)
    if not decision.abstained:
        # A span outside the sentence the evidence stage chose is not shown: moving the highlight to it lost
        # more right sentences than it found (gold evidence 0.875 -> 0.855, answer exact match 0.257 -> 0.263).
        for n, span in enumerate(reading.spans):
            if answers(span, s) and inside(evidence[n], span):
                spans[n] = span
    return tuple(
        Hit(
            passage,
            float(ranking.scores[i]),
            float(c.dense[i]),
            float(c.lexical[i]),
            ev,
            tuple(citation(c.index, o) for o in passage.occurrences),
            span,
        )
        for i, passage, ev, span in zip(chosen, passages, evidence, spans, strict=True)
    )
