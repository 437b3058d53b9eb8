"""What a question must be before it is searched: one rule for the web app, its API and the CLI."""

from __future__ import annotations

import re
import unicodedata

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
# The index's default model reads English only: a question in another language finds passages by its
# names alone and abstains. Until other languages are supported, the reply says so. The rule is
# function words, not a statistical detector: a question is short, and its names (El Salvador, La
# Libertad, Nayib Bukele) must not make an English question look Spanish; a detector trained on
# running text misreads both (docs/security.md, "Questions in other languages").
_FUNCTION_WORDS = {
    "English": "the a an of in on at to for from by with about into over under is are was were be been being do does did "
    "what who whom whose which when where why how many much there here this that these those it its his her their they "
    "he she we you i me my our your and or but not no has have had can could will would should may might than then",
    "Spanish": "el la los las un una unos unas de del al en con por para sobre entre es son está están estaba era fue fueron "
    "ser sido qué que quién quiénes cuál cuáles cuándo dónde cómo cuánto cuántos cuánta cuántas hay y o pero no se su "
    "sus lo le les este esta estos estas ese esa esos esas muy más también cuando donde como según desde hasta ha han",
    "French": "le la les un une des du de au aux avec pour sur dans par est sont était étaient été qui que quoi quel quelle "
    "quels quelles quand où comment combien pourquoi il elle ils elles nous vous et ou mais ne pas ce cette ces son sa "
    "ses leur leurs y a ont selon",
    "German": "der die das den dem des ein eine einen einem einer und oder aber nicht ist sind war waren wurde wurden wer "
    "was wann wo wie warum wieviel viele mit von zu zum zur im auf für über es sie er wir ihr hat haben gibt laut",
    "Portuguese": "o a os as um uma uns umas de do da dos das em no na nos nas com por para sobre é são está estão era foi "
    "foram quem que qual quais quando onde como quantos quantas quanto há e ou mas não se seu sua seus suas pelo pela",
    "Italian": "il lo la i gli le un una uno di del della dei delle degli in nel nella con per su è sono era erano stato "
    "chi che cosa quale quali quando dove come quanti quante quanto perché ci e o ma non",
    "Dutch": "de het een van in op met voor over is zijn was waren wie wat welke wanneer waar hoe hoeveel waarom er en of "
    "maar niet heeft hebben",
}
_WORDS = {language: frozenset(words.split()) for language, words in _FUNCTION_WORDS.items()}
_ANY_FUNCTION_WORD = frozenset().union(*_WORDS.values())
_SCRIPTS = {"CYRILLIC": "Cyrillic script", "GREEK": "Greek", "ARABIC": "Arabic script", "HEBREW": "Hebrew",
            "CJK": "Chinese or Japanese", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "HANGUL": "Korean",
            "DEVANAGARI": "Devanagari script", "THAI": "Thai", "BENGALI": "Bengali", "TAMIL": "Tamil", "GEORGIAN": "Georgian",
            "ARMENIAN": "Armenian"}
# Model names that say they read many languages; any other model is taken to read English only.
_MULTILINGUAL = ("multilingual", "labse", "bge-m3", "xlm", "-m3", "me5", "distiluse")


# Runs of letters, a run of Latin letters apart from one of another script ("Salvador有多少" is two).
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LETTER_RUN = re.compile(f"[{_LATIN}]+|[^\\W\\d_{_LATIN}]+")
_LATIN_LETTERS = re.compile(f"[{_LATIN}]")


def _script_language(text: str) -> str | None:
    """The language (or script) of a question whose letters are mostly not Latin, else None."""
    # Names in Latin letters ("Nayib Bukele是谁？") do not make a question English.
    letters = [unicodedata.name(ch, "").split(" ")[0] for w in _common_words(text, english_only=True) for ch in w]
    other = [s for s in letters if s != "LATIN"]
    if not other or len(other) * 2 < len(letters):  # a tie goes to the other script: a CJK sign is a word
        return None
    first = max(set(other), key=other.count)
    return _SCRIPTS.get(first, "another script")


def question_language(question: str) -> str:
    """"English", or the language the question's function words (or its script) say it is in."""
    script = _script_language(question)
    if script:
        return script
    words = _common_words(question)
    best, best_count = "English", 0
    for language, own in _WORDS.items():
        if language == "English":
            continue
        # Words both languages have ("in", "a", "was") tell nothing either way.
        count, english = sum(w in own - _WORDS["English"] for w in words), sum(w in _WORDS["English"] - own for w in words)
        if language == "Spanish" and ("¿" in question or "¡" in question):
            count += 1  # Spanish marks: one function word then suffices ("¿Quién?")
        # Two words of its own, or a short question all of whose words are its ("Wie is Bukele?").
        enough = count >= 2 or (count >= 1 and len(words) >= 2 and all(w in own for w in words))
        if enough and count > english and count > best_count:
            best, best_count = language, count
    return best


def _common_words(question: str, english_only: bool = False) -> list[str]:
    """The question's words in lower case, names left out: a capitalized word in Latin letters after the first
    is taken for (part of) a name ("El Salvador", "La Libertad") unless it is an English function word. The
    first word stays when it is a function word (of English alone with `english_only`)."""
    keep = _WORDS["English"] if english_only else _ANY_FUNCTION_WORD
    words = _LETTER_RUN.findall(question)
    return [
        w.lower()
        for i, w in enumerate(words)
        if not (w[0].isupper() and _LATIN_LETTERS.match(w[0])) or w.lower() in (keep if i == 0 else _WORDS["English"])
    ]


def language_note(question: str, model: str) -> str | None:
    """A note for a question that looks like another language than `model` reads, None otherwise."""
    if any(tag in model.lower() for tag in _MULTILINGUAL):
        return None
    language = question_language(question)
    if language == "English":
        return None
    return (
        f"This question looks like it is in {language}; the index's model reads English, so passages that answer it "
        "may not be found. Questions in other languages are not supported yet: please ask in English."
    )
