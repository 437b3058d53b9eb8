"""Country and region names (CLDR's English territory names, from babel): which places a text names."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    from babel import Locale

    names = {name for code, name in Locale("en").territories.items() if not code.isdigit()}
    names |= {"U.S.", "US", "USA", "America"}  # how sources name the United States besides CLDR's name
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w.])({alternatives})(?![\w])")


_ALIASES = {"U.S.": "United States", "US": "United States", "USA": "United States", "America": "United States"}


def places(text: str) -> set[str]:
    """The countries and regions `text` names (aliases of the United States folded together)."""
    return {_ALIASES.get(m.group(1), m.group(1)) for m in _pattern().finditer(text)}


def other_places(question: str, text: str) -> int:
    """How many places `text` names that a question naming a place does not (0 if it names none):
    a sentence about another country is rarely the answer to a question about this one."""
    asked = places(question)
    return len(places(text) - asked) if asked else 0
