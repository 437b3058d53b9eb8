"""Sentence boundaries with NLTK Punkt, fully offline.

Punkt's trained English model is a download, which these machines cannot make, so the parameters
are built here: abbreviations that end without ending a sentence, and the words that, capitalized
after an abbreviation, do start a new one ("... in the U.S. The ..."). Punkt itself already keeps
decimals ("1.9%", "$7.77") and closing quotes ("… now.”") right.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ingest.records import Span

if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktSentenceTokenizer

ABBREVIATIONS = """
u.s u.k u.n e.u u.s.a d.c a.m p.m e.g i.e cf etc vs al approx est fig no nos vol pp p
mr mrs ms dr prof sr jr st mt ft gen col lt maj capt cmdr sgt adm gov sen rep rev hon pres atty supt insp
jan feb mar apr jun jul aug sep sept oct nov dec
mon tue tues wed thu thur thurs fri sat sun
inc corp co ltd llc bros dept univ assn intl natl govt admin ave blvd rd
""".split()

SENTENCE_STARTERS = """
the a an he she it they we i you this that these those there here his her their its our my
but and yet so in on at as after before when while since although though however meanwhile
despite during if for from with by to of one two some many most all each both such
""".split()


@lru_cache(maxsize=1)
def _tokenizer() -> PunktSentenceTokenizer:
    # Imported on first use: importing any part of nltk imports all of it (scipy.stats, sklearn;
    # about a second), which the web app and `verbatim ask` would otherwise pay at start-up.
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    params.sent_starters = set(SENTENCE_STARTERS)
    return PunktSentenceTokenizer(params)


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of `text`, shifted by `offset`; whitespace between sentences is excluded."""
    return [Span(offset + start, offset + end) for start, end in _tokenizer().span_tokenize(text)]
