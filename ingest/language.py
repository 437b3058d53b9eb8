"""Which language a question or a passage is in: function words for Latin-script languages, the script otherwise.

The search routes by it (index/search/pipeline.py): an English question keeps the English models; a question in
another language the multilingual encoder reads (index/models/trained/multilingual-e5-small, its vocabulary pruned
to Latin-script text) is answered from that encoder's vectors; a question in a script the pruned vocabulary cannot
read gets a hint to ask in English or Spanish. Each passage's language is recorded at build time, so an English
question can also reach a passage of a Spanish source.

The rule is function words, not a statistical detector: a question is short, and its names (El Salvador, La
Libertad, Nayib Bukele) must not make an English question look Spanish; a detector trained on running text
misreads both (docs/security.md, "Questions in other languages"). Figures: docs/crosslingual.md.
"""

from __future__ import annotations

import re
import unicodedata

ENGLISH = "English"
# Languages and their ISO 639-1 codes (what an index records per passage).
CODES = {"English": "en", "Spanish": "es", "French": "fr", "German": "de", "Portuguese": "pt", "Italian": "it", "Dutch": "nl"}
UNDETERMINED = "und"  # a passage without enough words to tell (a title, a figure, a name)
_FUNCTION_WORDS = {
    "English": "the a an of in on at to for from by with about into over under is are was were be been being do does did "
    "what who whom whose which when where why how many much there here this that these those it its his her their they "
    "he she we you i me my our your and or but not no has have had can could will would should may might than then",
    "Spanish": "el la los las un una unos unas a de del al en con por para sobre entre es son está están estaba era fue fueron "
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
# Question words only Spanish writes with an accent: a mark of Spanish as sure as "¿" (SQuAD-es drops the "¿" of
# short questions: "Qué desarrolló Paul Baran").
_SPANISH_ASKING = frozenset("qué cuál cuáles cuándo dónde cómo cuánto cuántos cuánta cuántas quién quiénes".split())
_SHARE = {w: 1 / sum(w in own for own in _WORDS.values()) for w in _ANY_FUNCTION_WORD}
# Every language above is written in Latin letters, which the multilingual encoder's pruned vocabulary cuts
# exactly as its full one does: all of them can be searched. A question in another script cannot.
SUPPORTED = frozenset(CODES)
_SCRIPTS = {"CYRILLIC": "Cyrillic script", "GREEK": "Greek", "ARABIC": "Arabic script", "HEBREW": "Hebrew",
            "CJK": "Chinese or Japanese", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "HANGUL": "Korean",
            "DEVANAGARI": "Devanagari script", "THAI": "Thai", "BENGALI": "Bengali", "TAMIL": "Tamil", "GEORGIAN": "Georgian",
            "ARMENIAN": "Armenian"}
# Runs of letters, a run of Latin letters apart from one of another script ("Salvador有多少" is two).
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LETTER_RUN = re.compile(f"[{_LATIN}]+|[^\\W\\d_{_LATIN}]+")
_LATIN_LETTERS = re.compile(f"[{_LATIN}]")
PASSAGE_MIN_WORDS = 2.0  # function words (shared ones in part) a passage needs to tell its language, else UNDETERMINED


def _script_language(text: str) -> str | None:
    """The language (or script) of a text whose letters are mostly not Latin, else None."""
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
    best, best_count = ENGLISH, 0
    for language, own in _WORDS.items():
        if language == ENGLISH:
            continue
        # Words both languages have ("in", "a", "was") tell nothing either way.
        count, english = sum(w in own - _WORDS[ENGLISH] for w in words), sum(w in _WORDS[ENGLISH] - own for w in words)
        if language == "Spanish" and ("¿" in question or "¡" in question or _SPANISH_ASKING & set(words)):
            count += 1  # Spanish marks (¿, or an accented question word): one function word then suffices ("¿Quién?")
        # Two words of its own, or a short question all of whose words are its ("Wie is Bukele?").
        enough = count >= 2 or (count >= 1 and len(words) >= 2 and all(w in own for w in words))
        if enough and count > english and count > best_count:
            best, best_count = language, count
    return best


def is_supported(language: str) -> bool:
    """Whether questions in `language` (a name question_language gives) can be searched with the multilingual encoder."""
    return language in SUPPORTED


def passage_language(text: str) -> str:
    """The ISO code of the language a passage is written in, or UNDETERMINED (too few words to tell, or a script
    this module does not name). Running text: the language whose own function words it uses most."""
    if _script_language(text):
        return UNDETERMINED
    words = [w.lower() for w in _LETTER_RUN.findall(text)]
    # A word several languages share counts for each of them in part ("de" is Spanish, French, Portuguese...).
    counts = {language: sum(_SHARE[w] for w in words if w in own) for language, own in _WORDS.items()}
    best = max(counts, key=lambda language: counts[language])
    if counts[best] < PASSAGE_MIN_WORDS:
        return UNDETERMINED
    # A tie (or a near one) keeps English: a passage of English prose with Spanish names is English.
    if best != ENGLISH and counts[best] < 1.5 * counts[ENGLISH]:
        return CODES[ENGLISH]
    return CODES[best]


def _common_words(question: str, english_only: bool = False) -> list[str]:
    """The question's words in lower case, names left out: a capitalized word in Latin letters after the first
    is taken for (part of) a name ("El Salvador", "La Libertad") unless it is an English function word. The
    first word stays when it is a function word (of English alone with `english_only`)."""
    keep = _WORDS[ENGLISH] if english_only else _ANY_FUNCTION_WORD
    words = _LETTER_RUN.findall(question)
    return [
        w.lower()
        for i, w in enumerate(words)
        if not (w[0].isupper() and _LATIN_LETTERS.match(w[0])) or w.lower() in (keep if i == 0 else _WORDS[ENGLISH])
    ]
