"""Stage 6, highlight: the answering sentence(s) of each shown passage and, inside them, the words that
answer (the reader's span, when it lies in that sentence), as Hits with their citations."""

from __future__ import annotations

from index.config import Settings
from index.search.evidence import rerank_evidence, select_evidence
from index.models.reader import AnswerSpan
from index.search.records import Citation, Decision, Hit, Ranking, Reading
from index.search.span_check import shown
from index.storage.store import IndexVersion
from ingest.ocr import ocr_pages
from ingest.records import Occurrence, Passage, Span


def inside(evidence: tuple[Span, ...], span: AnswerSpan) -> bool:
    """Whether the answer span lies within one evidence sentence (where it is marked)."""
    return any(s.start <= span.start and span.end <= s.end for s in evidence)


def citation(index: IndexVersion, occurrence: Occurrence) -> Citation:
    """Where a passage stands, and whether that page's text was recognized by OCR (from the note the
    build put in the document's own title, which an edited title in sources.toml does not remove)."""
    record = index.sources[occurrence.file]
    pages = ocr_pages(record.own_meta.title, occurrence.page or 1)
    return Citation(record.meta, occurrence, pages is not None and (occurrence.page or 1) in pages)


def sentence_of(passage: Passage, span: AnswerSpan) -> tuple[int, int]:
    """[start, end) of the passage sentence that holds the span's start (the whole passage without sentences)."""
    for x in passage.sentences:
        if x.start <= span.start < x.end:
            return x.start, max(x.end, min(span.end, len(passage.text)))
    return 0, len(passage.text)


def highlight(question: str, ranking: Ranking, reading: Reading, decision: Decision, settings: Settings) -> tuple[Hit, ...]:
    """The stage: one Hit per shown passage, with evidence and (when the sources answer) the answer span.

    A span is shown only where span_check says it answers (confident, of the type asked, about the thing
    asked); its sentence is then the one highlighted. A passage the reader read and found no such span in
    shows no highlight when the reader finds no answer in it, unless it is the first (the sentence the search
    found best)."""
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
        threshold = reading.gate.threshold if reading.gate is not None else 0.5
        confidence = reading.confidence or (None,) * len(reading.spans)
        for n, (span, sure) in enumerate(zip(reading.spans, confidence)):
            sentence = sentence_of(passages[n], span)
            if shown(question, passages[n].text, sentence, span, sure, threshold, s.answer_margin):
                spans[n] = span
                if not inside(evidence[n], span):
                    evidence[n] = (Span(*sentence),)
            elif n > 0 and span.margin < s.answer_margin:
                # The reader finds no answer in it: no sentence is marked as "the sentence that answers". (One
                # it reads an answer in, not confidently enough to mark the words, keeps its sentence.)
                evidence[n] = ()
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
