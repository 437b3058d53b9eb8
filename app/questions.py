"""What a question must be before it is searched: one rule for the web app, its API and the CLI."""

from __future__ import annotations

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
        return None, f"The number of passages must be a whole number from 1 to {MAX_K}, not {k!r}."
    if not 1 <= value <= MAX_K:
        return None, f"The number of passages must be from 1 to {MAX_K}; {value} was asked for."
    return value, None
