"""Answers as the user sees them: JSON records, terminal text, Markdown quotes, escaped HTML for the web app.

Every word shown as evidence is quoted from a source; the only other words are labels. An answer that
abstains shows its closest passages without evidence marks, set apart as not answering.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from index.search import Answer, Citation, Hit, SourceSays
from ingest.ocr import OCR_NOTE
from ingest.records import SourceMeta

NO_ANSWER = "The sources do not answer this."
# Characters Markdown or LaTeX renderers would act on; as entities they can only show as themselves.
_INERT = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'*_[]()`#~|\\$!{}:"})


def escape(text: str) -> str:
    """Source text made inert for HTML and for the chat's Markdown renderer."""
    return text.translate(_INERT)


def _payload(text: str) -> str:
    """Text for a hidden element the page's script copies: inert, and one line of HTML (a raw blank
    line would end the HTML block in the chat's Markdown renderer)."""
    return escape(text).replace("\n", "&#10;")


def safe_url(url: str) -> str:
    """`url` when it is an http(s) address a link may point to, else "" (shown as text only)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def _who(meta: SourceMeta) -> str:
    who = ", ".join(meta.authors) or meta.publisher
    if meta.authors and meta.publisher:
        who = f"{who} ({meta.publisher})"
    return who


def who_and_when(meta: SourceMeta) -> str:
    """'authors (publisher) — date', unknown parts left out."""
    return " — ".join(part for part in (_who(meta), meta.date) if part)


def _ocr_note(c: Citation) -> str:
    """', text recognized by OCR' for a passage read by OCR, unless the title says so already."""
    return f", {OCR_NOTE}" if c.ocr and OCR_NOTE not in c.meta.title else ""


def page_label(c: Citation) -> str | None:
    """Where the passage stands beyond its paragraph: 'p. 3', 'slide 3', 'sheet "Ports"', 'slide 3
    (hidden)' (SourceMeta.page_label); None for unpaged text."""
    return c.meta.page_label(c.occurrence.page) if c.occurrence.page is not None else None


def citation_label(c: Citation) -> str:
    """'Title — authors/publisher, date · file, p. n, ¶ n, chars a–b' with unknown parts left out."""
    meta, o = c.meta, c.occurrence
    head = " — ".join(part for part in (meta.title or meta.file, _who(meta), meta.date) if part)
    page = f"{page_label(c)}, " if o.page is not None else ""
    return f"{head} · {o.file}, {page}¶ {o.paragraph}, chars {o.start}–{o.end}{_ocr_note(c)}"


# Backslash-escaped wherever they stand: the characters CommonMark and GFM act on within a line (raw HTML
# and autolinks, entities, code spans, emphasis, links and images, table cells, strikethrough, viewers' math).
# A backslash before ASCII punctuation always shows the character itself, so the rendered words are unchanged.
_MD_INLINE = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>&|~$"})
# Line starts that open a block: a heading, list item, setext underline or thematic break, ordered list item.
_MD_BLOCK_START = re.compile(r"^(?:([#=+-])|(\d{1,9})([.)]))")


def _unblock(line: str) -> str:
    """`line` with a block marker at its start escaped."""
    return _MD_BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", line)


def md_literal(text: str) -> str:
    """Text that a CommonMark/GFM viewer shows as exactly these words: no tag, attribute, entity, link, code,
    emphasis, table or heading of its own. Used for every quoted source passage and for metadata.
    Lines after the first lose their indent (it may open a code block; a viewer drops a continuation
    line's indent anyway); the first keeps it (it follows an opening quote mark)."""
    first, *rest = text.translate(_MD_INLINE).split("\n")
    return "\n".join([_unblock(first), *(_unblock(line.lstrip(" \t")) for line in rest)])


_md = md_literal  # metadata (titles, publishers, the question) follows the same rule as quoted text


def _names(authors: tuple[str, ...]) -> str:
    return " and ".join(authors) if len(authors) <= 2 else f"{', '.join(authors[:-1])} and {authors[-1]}"


def citation_markdown(c: Citation) -> str:
    """'Authors, *Title*, Publisher, date, ¶ n (p. n), URL' (the file name when there is no http(s) URL:
    a pasted javascript: address would become a live link in the reader's own document)."""
    meta, o = c.meta, c.occurrence
    where = f"¶ {o.paragraph}" + (f" ({_md(page_label(c) or '')})" if o.page is not None else "")
    title = f"*{_md(meta.title or meta.file)}*"
    parts = [_md(_names(meta.authors)), title, _md(meta.publisher), _md(meta.date), where, safe_url(meta.url) or _md(o.file)]
    return ", ".join(part for part in parts if part) + _ocr_note(c)


def quote_markdown(text: str, citation: Citation) -> str:
    """`> "text" — citation`: the source's words exactly as given, then the citation. The text is made
    literal (md_literal): a viewer shows the source's own markup as the characters it is, never runs it."""
    return "> " + f'"{md_literal(text)}" — {citation_markdown(citation)}'.replace("\n", "\n> ")


def segments(hit: Hit, abstained: bool) -> list[tuple[str, bool, bool]]:
    """The passage text cut where marks open or close: (piece, in the evidence, in the answer span).
    Nothing is marked when the answer abstained."""
    text = hit.passage.text
    evidence = () if abstained else tuple((s.start, s.end) for s in hit.evidence)
    answer = () if abstained or hit.answer is None else ((hit.answer.start, hit.answer.end),)
    cuts = sorted({0, len(text), *(p for r in evidence + answer for p in r)})
    inside = lambda a, ranges: any(x <= a < y for x, y in ranges)  # noqa: E731
    return [(text[a:b], inside(a, evidence), inside(a, answer)) for a, b in zip(cuts, cuts[1:]) if b > a]


def _says_label(line: SourceSays) -> str:
    meta = line.citation.meta
    return " — ".join(part for part in (meta.title or line.citation.occurrence.file, meta.date or "date unknown") if part)


def evidence_range(hit: Hit) -> tuple[int, int] | None:
    """[start, end) relative to the passage covering its evidence sentence(s), None when there is none."""
    if not hit.evidence:
        return None
    return min(s.start for s in hit.evidence), max(s.end for s in hit.evidence)


def hit_quotes(hit: Hit, abstained: bool) -> tuple[str, str | None]:
    """Markdown quotes of a hit with its first citation: the whole passage, and the answering
    sentence(s) alone (None when the answer abstained or the evidence is the whole passage)."""
    citation = hit.citations[0]
    passage = quote_markdown(hit.passage.text, citation)
    span = None if abstained else evidence_range(hit)
    if span is None or span == (0, len(hit.passage.text)):
        return passage, None
    return passage, quote_markdown(hit.passage.text[span[0] : span[1]], citation)


def answer_to_markdown(answer: Answer) -> str:
    """The question and every quoted passage with its citation, as Markdown (`ask --markdown`, export)."""
    lines = [f"## {_md(answer.question)}", ""]
    if answer.abstained or not answer.hits:
        closest = " Closest passages, which do not answer it:" if answer.hits else ""
        lines += [f"*{NO_ANSWER}*{closest}", ""]
    if answer.sources_say:
        lines += ["**What each source says:**", ""]
        lines += [f'- "{md_literal(line.text)}" — {citation_markdown(line.citation)} [{line.rank}]' for line in answer.sources_say]
        lines.append("")
    for rank, hit in enumerate(answer.hits, start=1):
        span = None if answer.abstained else evidence_range(hit)
        if span is not None and span != (0, len(hit.passage.text)):
            lines += [f'**{rank}.** Highlighted: "{md_literal(hit.passage.text[span[0] : span[1]])}"', ""]
            if hit.answer is not None:
                lines += [f'Answer: "{md_literal(hit.answer.text)}"', ""]
        else:
            lines += [f"**{rank}.**" + (" (does not answer)" if answer.abstained else ""), ""]
        lines.append(quote_markdown(hit.passage.text, hit.citations[0]))
        if len(hit.citations) > 1:  # the same text stands in other sources too
            lines += [">", *(f"> Also in: {citation_markdown(c)}" for c in hit.citations[1:])]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def problem_to_markdown(question: str, problem: str) -> str:
    """A question that got a message instead of an answer, for the exported conversation."""
    return f"## {_md(question)}\n\n{_md(problem)}\n"


def source_link(citation: Citation, hit: Hit | None = None, abstained: bool = False) -> str:
    """Relative URL of the source view at a citation; the passage id lets the view find the passage again
    after a rebuild moved it, `ev` (relative to the passage) marks the answering sentence(s)."""
    o = citation.occurrence
    query: dict[str, str | int] = {"file": o.file, "start": o.start, "end": o.end}
    if hit is not None:
        query["pid"] = hit.passage.id
        span = None if abstained else evidence_range(hit)
        if span is not None:
            query["ev"] = f"{span[0]}-{span[1]}"
    return "source?" + urlencode(query)


def question_link(question: str, k: int | None = None, mode: str | None = None, files: list[str] | None = None) -> str:
    """Relative URL that asks `question` (with these settings) when the app opens it."""
    query: list[tuple[str, str]] = [("q", question)]
    if k:
        query.append(("k", str(k)))
    if mode:
        query.append(("mode", mode))
    query += [("source", f) for f in files or ()]
    return "./?" + urlencode(query)


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
        "id": first.meta.id,  # the document's id when it was added through the Python API
        "metadata": first.meta.metadata,  # the fields filters read (year, tags...)
        "score": round(hit.score, 6),
        "dense_score": round(hit.dense_score, 6),
        "lexical_score": round(hit.lexical_score, 6),
        "evidence": hit.evidence_text,
        "evidence_spans": [[s.start, s.end] for s in hit.evidence],
        # The reader's answer span, offsets relative to `text` (text[start:end] == answer text); null when
        # this passage does not answer or the answer abstained.
        "answer": None
        if hit.answer is None
        else {"text": hit.answer.text, "start": hit.answer.start, "end": hit.answer.end, "score": round(hit.answer.margin, 4)},
        "start": first.occurrence.start,
        "end": first.occurrence.end,
        "paragraph": first.occurrence.paragraph,
        "page": first.occurrence.page,
        "page_label": page_label(first),  # 'p. 3', 'slide 3', 'sheet "Ports"': how citations name the page
        "heading": first.occurrence.heading,
        "ocr": first.ocr,  # the text was recognized by OCR: the quote may differ from the page  # the section the passage stands under ("" before any heading)
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
                "page_label": page_label(c),
            }
            for c in hit.citations
        ],
    }


def says_to_dict(line: SourceSays) -> dict:
    o = line.citation.occurrence
    return {
        "rank": line.rank,
        "text": line.text,
        "source": o.file,
        "title": line.citation.meta.title,
        "date": line.citation.meta.date,
        "link": source_link(line.citation),
    }


def answer_to_dicts(answer: Answer) -> list[dict]:
    """`ask --json`: the result list; each record says whether the answer abstained, and the records whose
    answers differ from another source's carry `source_says` (what their source says, for the opening lines)."""
    said: dict[int, list[dict]] = {}
    for line in answer.sources_say:
        said.setdefault(line.rank, []).append(says_to_dict(line))
    return [
        {**hit_to_dict(hit), "answers": not answer.abstained, "source_says": said.get(rank, [])}
        for rank, hit in enumerate(answer.hits, start=1)
    ]


def answer_to_text(answer: Answer) -> str:
    """Plain text for the terminal; evidence marked with »…«, the answer inside it with ⟦…⟧."""
    lines = []
    if answer.abstained:
        lines.append(NO_ANSWER + " Closest passages (they do not answer it):")
    if answer.sources_say:
        lines.append("What each source says:")
        lines += [f'  "{line.text}" — {_says_label(line)} ({line.citation.occurrence.file}) [{line.rank}]' for line in answer.sources_say]
        lines.append("")
    for rank, hit in enumerate(answer.hits, start=1):
        marked, was = [], (False, False)
        for piece, evidence, span in segments(hit, answer.abstained) + [("", False, False)]:
            # Close, then open: the answer's ⟦…⟧ nests inside the evidence's »…«.
            if was[1] and not span:
                marked.append("⟧")
            if was[0] and not evidence:
                marked.append("«")
            if evidence and not was[0]:
                marked.append("»")
            if span and not was[1]:
                marked.append("⟦")
            marked.append(piece)
            was = (evidence, span)
        lines.append(f"[{rank}] score {hit.score:.3f}" + (" (does not answer)" if answer.abstained else ""))
        lines.extend(f"    {citation_label(c)}" for c in hit.citations)
        lines.append("    " + "".join(marked))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _marked_html(hit: Hit, abstained: bool = False) -> str:
    """The passage, escaped, evidence in <mark> and the answer span in <strong class="vb-answer"> within it."""
    parts = []
    for piece, evidence, span in segments(hit, abstained):
        html = escape(piece)
        if span:
            html = f'<strong class="vb-answer">{html}</strong>'
        parts.append(f"<mark>{html}</mark>" if evidence else html)
    return "".join(parts)


def says_to_html(lines: tuple[SourceSays, ...]) -> str:
    """The opening lines when sources answer differently: each source's span, title and date, and a link to
    read it in context. Every piece of source text escaped."""
    items = "".join(
        f'<li><strong class="vb-answer">{escape(line.text)}</strong> — {escape(_says_label(line))} '
        f'<a class="vb-open" href="{escape(source_link(line.citation))}" target="_blank" rel="noopener">read in context</a> '
        f"[{line.rank}]</li>"
        for line in lines
    )
    return f'<div class="vb-says"><p><strong>What each source says:</strong></p><ul>{items}</ul></div>'


def hit_to_html(rank: int, hit: Hit, abstained: bool = False) -> str:
    """One result: the quote (evidence marked unless the answer abstained), each citation a link to
    the source view, and copy buttons whose Markdown payloads sit hidden beside them."""
    cites = "".join(
        f'<li><a class="vb-open" href="{escape(source_link(c, hit, abstained))}" target="_blank" rel="noopener">'
        f"{escape(citation_label(c))}</a></li>"
        for c in hit.citations
    )
    passage_quote, sentence_quote = hit_quotes(hit, abstained)
    buttons = (
        f'<a class="vb-open vb-read" href="{escape(source_link(hit.citations[0], hit, abstained))}" target="_blank" rel="noopener">'
        "Read in context</a>"
        '<button type="button" class="vb-copy vb-copy-passage">Copy quote</button>'
    )
    payloads = f'<span class="vb-pay vb-pay-passage">{_payload(passage_quote)}</span>'
    if sentence_quote is not None:
        buttons += '<button type="button" class="vb-copy vb-copy-sentence">Copy sentence</button>'
        payloads += f'<span class="vb-pay vb-pay-sentence">{_payload(sentence_quote)}</span>'
    label = ' <span class="vb-label">closest passage — does not answer</span>' if abstained else ""
    return (
        f'<div class="vb-hit{" vb-closest" if abstained else ""}"><div class="vb-head">[{rank}] relevance {hit.score:.3f}{label}</div>'
        f'<blockquote class="vb-quote">{_marked_html(hit, abstained)}</blockquote>'
        f'<ul class="vb-cite">{cites}</ul><div class="vb-actions">{buttons}</div>{payloads}</div>'
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


def answer_to_html(answer: Answer, by_source: bool = False, link: str = "") -> str:
    """The answer as HTML in which every piece of source text is escaped (inert).

    `by_source` groups the passages under each source with its date, so sources that give
    different figures are read side by side. `link` (a question_link) is offered as the answer's
    address; the answer's Markdown rides along hidden for the conversation export.
    """
    parts = []
    if answer.abstained:
        parts.append(f'<p class="vb-abstain"><strong>{NO_ANSWER}</strong> Closest passages, which do not answer it:</p>')
    if answer.sources_say:
        parts.append(says_to_html(answer.sources_say))
    if not answer.hits:
        parts.append(f"<p>{NO_ANSWER}</p>")
    elif by_source:
        for file, ranked in group_by_source(answer.hits):
            parts.append(f'<h4 class="vb-source">{escape(_source_heading(ranked[0][1], file))}</h4>')
            parts.extend(hit_to_html(rank, hit, answer.abstained) for rank, hit in ranked)
    else:
        parts.extend(hit_to_html(rank, hit, answer.abstained) for rank, hit in enumerate(answer.hits, start=1))
    if link:
        parts.append(f'<p class="vb-tools"><a class="vb-permalink" href="{escape(link)}" target="_blank" rel="noopener">Link to this answer</a></p>')
    parts.append(f'<div class="vb-md">{_payload(answer_to_markdown(answer))}</div>')
    return "\n".join(parts)


def problem_to_html(question: str, problem: str) -> str:
    """A message instead of an answer (a validation problem or an index fault), exportable too."""
    return f'<p>{escape(problem)}</p>\n<div class="vb-md">{_payload(problem_to_markdown(question, problem))}</div>'
