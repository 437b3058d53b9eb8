"""Stage 7, what each source says: when the first passages of two or more sources answer with different
words (119,000 vs 77,000 prisoners), one line per source with its own span, verbatim; nothing merged."""

from __future__ import annotations

import re
import unicodedata

from index.search.records import Hit, SourceSays

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _value(text: str) -> str:
    """What two spans must share to say the same thing: case, punctuation, articles and spacing aside."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " if ch not in ",." else "" for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def sources_say(hits: tuple[Hit, ...]) -> tuple[SourceSays, ...]:
    """Each source's first answering span among `hits` (in rank order), when at least two sources answer
    and not all with the same value; else () (the sources agree, or only one answers)."""
    lines: dict[str, SourceSays] = {}
    for rank, hit in enumerate(hits, start=1):
        if hit.answer is None:
            continue
        for citation in hit.citations:
            lines.setdefault(citation.occurrence.file, SourceSays(rank, hit.answer.text, citation))
    if len(lines) < 2 or len({_value(line.text) for line in lines.values()}) < 2:
        return ()
    return tuple(lines.values())
