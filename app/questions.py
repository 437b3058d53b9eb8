"""What a question must be before it is searched: one rule for the web app, its API and the CLI."""

from __future__ import annotations

from ingest.language import ENGLISH, is_supported, question_language
from ingest.records import printable

MAX_QUESTION_CHARS = 1000
MAX_K = 50  # passages one request may ask for


def clean_question(question: str | None) -> str:
    """The question with control and format characters (NUL, ESC, bidi overrides) turned into spaces.

    They carry no meaning for search, and a bidi override would make the echoed question
    display differently from what was searched.
    """
    return printable(question) if isinstance(question, str) else ""


def validate_question(question: object) -> str | None:
    """The reason a question cannot be searched, or None when it can."""
    if question is not None and not isinstance(question, str):
        return f"The question must be text, not {type(question).__name__}."
    text = clean_question(question)
    if not text:
        return "Please type a question."
    if len(text) > MAX_QUESTION_CHARS:
        return f"That question is {len(text):,} characters long; please keep it under {MAX_QUESTION_CHARS:,}."
    if not any(ch.isalnum() for ch in text):
        return "Please ask a question with words in it."
    return None


def validate_k(k: object) -> tuple[int | None, str | None]:
    """(k as an int, None) when it is a whole number from 1 to MAX_K, else (None, the reason)."""
    value = k
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())  # API clients send form values as text
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"The number of passages must be a whole number from 1 to {MAX_K}{_not(shown(k))}."
    if not 1 <= value <= MAX_K:
        asked = shown(value)
        return None, f"The number of passages must be from 1 to {MAX_K}" + (f"; {asked} was asked for." if asked else ".")
    return value, None


SHOWN_CHARS = 24  # an echoed value longer than this is left out of a message (k=1e300 has 301 digits)


def shown(value: object) -> str:
    """`value` as a message may echo it (repr for text): "" when it is too long to be worth repeating."""
    text = repr(value) if not isinstance(value, int) or isinstance(value, bool) else str(value)
    return text if len(text) <= SHOWN_CHARS else ""


def _not(echo: str) -> str:
    return f", not {echo}" if echo else ""


def unknown_sources(files: list[str], known: object, listed_in: str) -> str | None:
    """The reply when `files` names a source the index does not hold (`known`: the indexed names), None when
    it holds them all; `listed_in` says where the user finds the list. One wording for the web and the CLI."""
    unknown = [f for f in files if f not in known]  # type: ignore[operator]
    if not unknown:
        return None
    names = ", ".join(shown(f) or repr(f[:SHOWN_CHARS] + "…") for f in unknown[:5]) + (" …" if len(unknown) > 5 else "")
    return f"No indexed source named {names}; {listed_in}."


# ---------------------------------------------------------------- the question's language
# ingest/language.py tells it. An index with a multilingual part (index/storage/multilingual.py) answers questions
# in the Latin-script languages its encoder reads; a question in another script, or in another language than English
# on an index without that part, gets a note saying so.
# Model names that say they read many languages; any other model is taken to read English only.
_MULTILINGUAL = ("multilingual", "labse", "bge-m3", "xlm", "-m3", "me5", "distiluse")


def language_note(question: str, model: str, multilingual: bool = False) -> str | None:
    """A note for a question in a language the index cannot search, None otherwise. `multilingual`: the index
    has multilingual vectors (questions in the languages of ingest/language.py's SUPPORTED are searched)."""
    language = question_language(question)
    if language == ENGLISH:
        return None
    if multilingual and is_supported(language):
        return None
    if not multilingual and any(tag in model.lower() for tag in _MULTILINGUAL):
        return None
    if multilingual:
        return (
            f"This question looks like it is in {language}, which this index cannot read, so passages that answer it "
            "may not be found: please ask in English or Spanish."
        )
    return (
        f"This question looks like it is in {language}; the index's model reads English, so passages that answer it "
        "may not be found. Questions in other languages are not supported by this index (built with --no-multilingual): "
        "please ask in English, or rebuild it with `verbatim build --full`."
    )
