"""Sentence boundaries with NLTK Punkt, fully offline.

Punkt's trained English model is a download, which these machines cannot make, so the parameters
are built here: abbreviations that end without ending a sentence, and the words that, capitalized
after an abbreviation, do start a new one ("... in the U.S. The ..."). Punkt itself already keeps
decimals ("1.9%", "$7.77") and closing quotes ("… now.”") right.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
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


def _import_punkt():
    """nltk's Punkt module without running nltk's package __init__.

    `import nltk.tokenize.punkt` first runs nltk/__init__.py, which imports every part of nltk
    (scipy.stats, sklearn: 1.3-2 s, more than the rest of a small build). Punkt itself needs a handful
    of nltk modules (0.1 s). So while it is imported, the two parent packages are module objects
    whose __init__ has not run; they are then dropped, and a later `import nltk` runs the real one
    (which reuses the Punkt module already loaded).
    """
    with _IMPORT_LOCK:
        stubs = []
        for name in ("nltk", "nltk.tokenize"):
            if name not in sys.modules:
                sys.modules[name] = importlib.util.module_from_spec(importlib.util.find_spec(name))
                stubs.append(name)
        try:
            from nltk.tokenize import punkt
        finally:
            for name in stubs:
                sys.modules.pop(name, None)
        return punkt


_IMPORT_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer() -> PunktSentenceTokenizer:
    # Imported on first use (see _import_punkt), never at start-up of the web app or `verbatim ask`.
    punkt = _import_punkt()
    PunktParameters, PunktSentenceTokenizer = punkt.PunktParameters, punkt.PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    params.sent_starters = set(SENTENCE_STARTERS)
    return PunktSentenceTokenizer(params)


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of `text`, shifted by `offset`; whitespace between sentences is excluded."""
    return [Span(offset + start, offset + end) for start, end in _tokenizer().span_tokenize(text)]
