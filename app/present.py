"""Answers as the user sees them: JSON records, terminal text, and escaped HTML for the web app.

Every word shown as evidence is quoted from a source; the only other words are labels.
"""

from __future__ import annotations


from index.search import Answer, Citation, Hit

NO_ANSWER = "The sources do not answer this."
# Characters Markdown or LaTeX renderers would act on; as entities they can only show as themselves.
_INERT = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'*_[]()`#~|\\$!{}:"})


def escape(text: str) -> str:
    """Source text made inert for HTML and for the chat's Markdown renderer."""
    return text.translate(_INERT)


def citation_label(c: Citation) -> str:
    """'Title — authors/publisher, date · file, ¶ n, chars a–b' with unknown parts left out."""
    meta, o = c.meta, c.occurrence
    who = ", ".join(meta.authors) or meta.publisher
    if meta.authors and meta.publisher:
        who = f"{who} ({meta.publisher})"
    head = " — ".join(part for part in (meta.title or meta.file, who, meta.date) if part)
    page = f"p. {o.page}, " if o.page is not None else ""
    return f"{head} · {o.file}, {page}¶ {o.paragraph}, chars {o.start}–{o.end}"


def hit_to_dict(hit: Hit) -> dict:
    first = hit.citations[0]
    return {
        "text": hit.passage.text,
        "source": first.occurrence.file,
        "title": first.meta.title,
        "authors": list(first.meta.authors),
        "publisher": first.meta.publisher,
        "date": first.meta.date,
        "url": first.meta.url,
        "score": round(hit.score, 6),
        "dense_score": round(hit.dense_score, 6),
        "lexical_score": round(hit.lexical_score, 6),
        "evidence": hit.evidence_text,
        "evidence_spans": [[s.start, s.end] for s in hit.evidence],
        "start": first.occurrence.start,
        "end": first.occurrence.end,
        "paragraph": first.occurrence.paragraph,
        "page": first.occurrence.page,
        "heading": first.occurrence.heading,  # the section the passage stands under ("" before any heading)
        "passage_id": hit.passage.id,
        "sources": [
            {
                "source": c.occurrence.file,
                "title": c.meta.title,
                "date": c.meta.date,
                "start": c.occurrence.start,
                "end": c.occurrence.end,
                "paragraph": c.occurrence.paragraph,
                "page": c.occurrence.page,
            }
            for c in hit.citations
        ],
    }


def answer_to_dicts(answer: Answer) -> list[dict]:
    """`ask --json`: the result list; each record says whether the answer abstained."""
    return [{**hit_to_dict(hit), "answers": not answer.abstained} for hit in answer.hits]


def answer_to_text(answer: Answer) -> str:
    """Plain text for the terminal; evidence marked with »…«."""
    lines = []
    if answer.abstained:
        lines.append(NO_ANSWER + " Closest passages (they do not answer it):")
    for rank, hit in enumerate(answer.hits, start=1):
        text, marked, cursor = hit.passage.text, [], 0
        for span in hit.evidence:
            marked += [text[cursor : span.start], "»", text[span.start : span.end], "«"]
            cursor = span.end
        marked.append(text[cursor:])
        lines.append(f"[{rank}] score {hit.score:.3f}")
        lines.extend(f"    {citation_label(c)}" for c in hit.citations)
        lines.append("    " + "".join(marked))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _marked_html(hit: Hit) -> str:
    text, parts, cursor = hit.passage.text, [], 0
    for span in hit.evidence:
        parts += [escape(text[cursor : span.start]), "<mark>", escape(text[span.start : span.end]), "</mark>"]
        cursor = span.end
    parts.append(escape(text[cursor:]))
    return "".join(parts)


def hit_to_html(rank: int, hit: Hit) -> str:
    cites = "".join(f"<li>{escape(citation_label(c))}</li>" for c in hit.citations)
    return (
        f'<div class="vb-hit"><div class="vb-head">[{rank}] relevance {hit.score:.3f}</div>'
        f'<blockquote class="vb-quote">{_marked_html(hit)}</blockquote>'
        f'<ul class="vb-cite">{cites}</ul></div>'
    )


def group_by_source(hits: tuple[Hit, ...]) -> list[tuple[str, list[tuple[int, Hit]]]]:
    """(source file, [(rank, hit)]) with sources in order of their best hit; a passage found in
    several sources is listed under each, so every source's own account is complete."""
    groups: dict[str, list[tuple[int, Hit]]] = {}
    for rank, hit in enumerate(hits, start=1):
        for citation in hit.citations:
            groups.setdefault(citation.occurrence.file, []).append((rank, hit))
    return list(groups.items())


def _source_heading(hit: Hit, file: str) -> str:
    meta = next(c.meta for c in hit.citations if c.occurrence.file == file)
    who = ", ".join(meta.authors) or meta.publisher
    parts = [meta.title or file, who, meta.date or "date unknown"]
    return " — ".join(p for p in parts if p)


def answer_to_html(answer: Answer, by_source: bool = False) -> str:
    """The answer as HTML in which every piece of source text is escaped (inert).

    `by_source` groups the passages under each source with its date, so sources that give
    different figures are read side by side.
    """
    parts = []
    if answer.abstained:
        parts.append(f'<p class="vb-abstain"><strong>{NO_ANSWER}</strong> Closest passages, which do not answer it:</p>')
    if not answer.hits:
        parts.append(f"<p>{NO_ANSWER}</p>")
    elif by_source:
        for file, ranked in group_by_source(answer.hits):
            parts.append(f'<h4 class="vb-source">{escape(_source_heading(ranked[0][1], file))}</h4>')
            parts.extend(hit_to_html(rank, hit) for rank, hit in ranked)
    else:
        parts.extend(hit_to_html(rank, hit) for rank, hit in enumerate(answer.hits, start=1))
    return "\n".join(parts)
