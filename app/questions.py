"""What a question must be before it is searched: one rule for the web app, its API and the CLI."""

from __future__ import annotations

MAX_QUESTION_CHARS = 1000


def clean_question(question: str | None) -> str:
    """The question with control and format characters (NUL, ESC, bidi overrides) turned into spaces.

    They carry no meaning for search, and a bidi override would make the echoed question
    display differently from what was searched.
    """
    return " ".join("".join(ch if ch.isprintable() else " " for ch in (question or "")).split())


def validate_question(question: str | None) -> str | None:
    """The reason a question cannot be searched, or None when it can."""
    text = clean_question(question)
    if not text:
        return "Please type a question."
    if len(text) > MAX_QUESTION_CHARS:
        return f"That question is {len(text):,} characters long; please keep it under {MAX_QUESTION_CHARS:,}."
    if not any(ch.isalnum() for ch in text):
        return "Please ask a question with words in it."
    return None
