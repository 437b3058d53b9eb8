"""Which of the reader's spans may be shown: precision before recall.

A span is marked in its passage (and quoted in "what each source says") only when all three hold:
1. **Confident**: the reader's calibrated probability that the span is right (a logistic fit of its
   margin and has-answer logit, index/search/span_gate.json, fitted on SQuAD 2.0 articles the reader never
   trained on by `python -m eval.studies.span_study`) passes the threshold chosen there on held-out data.
2. **Of the type asked**: a quantity for "how many / how much", a percentage for "what percentage", a date
   for "when".
3. **About the thing asked** (for a figure or a date, which another country's or year's can pass for): the
   names in the span's own clause are the question's, not another country's or body's ("the United States
   ... has 2.1 million" for a question about El Salvador); a figure's own "of"/"in" complement, when it names
   something, decides instead ("2 percent of El Salvador's population"). A span inside a comparison ("(for comparison, in
   Poland, ... 0.19%)") never answers.
No line is better than a wrong one: a passage whose span fails shows no span.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.models.reader import AnswerSpan
from index.search.answerability import MONTHS, count_focus, expected_type, has_type

GATE_PATH = Path(__file__).resolve().parent / "span_gate.json"  # the English reader's
# The multilingual reader's (index/models/trained/reader-multilingual), fitted by eval/studies/multilingual_fit.py;
# it also holds the Spanish route's decision (`answers_above`).
MULTILINGUAL_GATE_PATH = GATE_PATH.with_name("span_gate_multilingual.json")

_PERCENT_Q = re.compile(r"^\s*(what|which) (percentage|percent)\b|^\s*¿?\s*qu[eé] (porcentaje|por ciento)\b", re.IGNORECASE)
_PERCENT = re.compile(r"%|\bper ?cent|\bpercentage\b", re.IGNORECASE)
# A question for a name: "what is the title/name of", "what is X called", "which company/organization ...".
_NAME_Q = re.compile(
    r"^\s*(?:what|which) (?:is|was|are|were) (?:the )?(?:title|name|names)\b|\bcalled\?\s*$|"
    r"^\s*(?:which|what) (?:company|organi[sz]ation|party|gang|group|newspaper|magazine|think tank|agency|country|city)\b",
    re.IGNORECASE,
)
# A span that is only a date or a figure: "September 11, 2025", "2023", "119,000", "$70 million", "1.9%".
_BARE_FIGURE = re.compile(
    rf"(?:(?:(?:{MONTHS})\s+\d{{1,2}},?\s+\d{{4}})|(?:\d{{1,2}}\s+(?:{MONTHS})\s+\d{{4}})|(?:(?:{MONTHS})\s+\d{{4}})|"
    r"(?:\d{1,2}/\d{1,2}/\d{2,4})|(?:(?:US)?[$€£]?\s?\d[\d,.]*\s*(?:%|percent|per cent|thousand|million|billion)?))",
    re.IGNORECASE,
)
_COMMON = {
    "What", "Who", "Whom", "Whose", "When", "Where", "Which", "Why", "How", "In", "On", "At", "By", "For", "The",
    "A", "An", "Is", "Are", "Was", "Were", "Did", "Do", "Does", "To", "From", "After", "Before", "During",
    "According", "As", "If", "Of", "With", "Since", "Still", "So", "But", "And", "Or", "This", "That", "These",
    "Those", "It", "Its", "Their", "They", "He", "She", "We", "I", "Two", "Three", "Under", "While", "However",
    "Also", "Another", "Other", "Some", "Many", "Most", "All", "Both", "Each", "Such", "Yet", "Then", "Thus",
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    # Words that open a sentence and are never names ("Between December 2022 and September 2023, nearly 300").
    "His", "Her", "Our", "Your", "My", "Between", "Due", "Beyond", "Instead", "Indeed", "Despite", "Although",
    "Though", "Because", "Until", "Within", "Without", "Against", "Among", "Across", "Through", "Throughout",
    "Over", "Recent", "Recently", "Frequently", "Meanwhile", "Moreover", "Furthermore", "Nevertheless",
    "Nonetheless", "Currently", "Today", "Now", "Here", "There", "Once", "Later", "Earlier", "Last", "Next",
    "First", "Second", "Finally", "Several", "Few", "Any", "No", "Not", "Only", "Even", "Just", "Almost",
    "Nearly", "About", "Around", "Above", "Below", "Into", "Upon", "Whether", "Drawing", "Following",
}
_CONNECT = {"of", "the", "de", "del", "la", "y", "and", "for"}
_WORD = re.compile(r"[\w'’-]+")
_RELATIVE = re.compile(r",\s*(?:which|who|whom|whose|where)\b[^,;]*,")
_PARENS = re.compile(r"\([^()]*\)|—[^—]*—|–[^–]*–")
_NAMING = re.compile(r"\(([A-Z][\w.&-]*(?:\s+[A-Z][\w.&-]*){0,3})\)")  # "(CECOT)", "(PCT)", "(UN Office)"
_FIGURE = re.compile(r"\d[\d,.]*\s*(%|per ?cent\b)?", re.IGNORECASE)  # a figure, and its percent sign if it has one
_CLAUSE_END = re.compile(r"[,;:()—–]|\.(?:\s|$)")
_OF_COMPLEMENT = re.compile(r"\s+(?:[a-z][\w'’-]*\s+){0,3}?(?:of|in)\s")
_COMPARISON = re.compile(r"\b(for comparison|compared (?:to|with)|in comparison|by contrast|unlike|whereas)\b", re.IGNORECASE)


def names(text: str) -> list[str]:
    """The names in `text`: runs of capitalized words ("El Salvador", "Tren de Aragua", "CECOT"), common
    sentence openers, months and weekdays aside."""
    found: list[str] = []
    run: list[str] = []
    pending: list[str] = []
    for m in _WORD.finditer(text):
        word = m.group().removesuffix("’s").removesuffix("'s")
        if word[:1].isupper() and word not in _COMMON:
            run += pending + [word]
            pending = []
        elif run and word.lower() in _CONNECT and not pending:
            pending = [word]
        else:
            if run:
                found.append(" ".join(run))
            run, pending = [], []
    if run:
        found.append(" ".join(run))
    return found


_ALIASES = {"us": "united states", "u.s.": "united states", "usa": "united states", "america": "united states",
            "american": "united states", "americans": "united states", "uk": "united kingdom", "britain": "united kingdom"}


def _words(name: str) -> list[str]:
    name = name.lower()
    return _ALIASES.get(name, name).split()


def _same(a: str, b: str) -> bool:
    """Whether two names may be one: a shared word, or words that share their first five letters ("Mexicans"
    and "Mexico", "Salvadoran" and "El Salvador"); "US" and "United States" are one."""
    x, y = _words(a), _words(b)
    return any(u == v or (len(u) >= 5 and len(v) >= 5 and u[:5] == v[:5]) for u in x for v in y if u not in _CONNECT)


def clause_before(sentence: str, start: int, end: int) -> tuple[str, bool]:
    """The words that say what the span [start, end) of `sentence` is about: the sentence up to the span's
    end, without its parentheticals and relative clauses; or, for a span inside parentheses or dashes, that
    aside alone. Second: whether the span stands in a comparison."""
    for m in _PARENS.finditer(sentence):
        if m.start() < start and end <= m.end():
            aside = sentence[m.start() + 1 : end]
            return aside, bool(_COMPARISON.search(aside))
    before = sentence[:end]
    # An aside that only names what precedes it ("the Terrorism Confinement Center (CECOT)") is another name for
    # it, and stays: the clause is about CECOT. Other asides go.
    prefix = _RELATIVE.sub(",", _PARENS.sub(lambda m: m.group() if _NAMING.fullmatch(m.group()) else " ", before[:start]))
    text = prefix + before[start:]
    return text, bool(_COMPARISON.search(prefix[-80:]))


def complement_after(sentence: str, end: int) -> str:
    """The phrase that completes a figure ending at `end`: "of El Salvador's entire population" in "2 percent of
    El Salvador's entire population—the highest ...", "people in Honduras" in "20,000 people in Honduras"; up to the
    clause's end, and only when an "of" or "in" comes within three words. "" otherwise ("to match El Salvador's
    rate" does not say whose the figure is)."""
    rest = sentence[end:]
    cut = _CLAUSE_END.search(rest)
    rest = rest[: cut.start()] if cut else rest
    return rest if _OF_COMPLEMENT.match(rest) else ""


def about_the_thing_asked(question: str, sentence: str, start: int, end: int, context: str = "") -> bool:
    """Whether the span [start, end) of `sentence` speaks of what `question` names. Never in a comparison.
    When the question names something, the clause that leads to the span may not name only something else
    ("the United States ... has 2.1 million" for El Salvador); a clause that names nothing ("This has led to
    the incarceration of over 77,000 people") may answer. (Requiring the question's names in the sentence as
    well refused 12 of 55 right spans on gold: "six articles", "one-third", "10/09/2025".) `context`, the
    sentence's passage: a sentence's capitalized first word that it writes in lower case elsewhere ("Police and
    soldiers face ...", "police" further on) is a common word, not a name."""
    clause, comparison = clause_before(sentence, start, end)
    if comparison:
        return False
    asked = names(question)
    if not asked:
        return True
    span = sentence[start:end]
    # The figure's own complement decides first: "2 percent of El Salvador's population" is about El Salvador
    # whoever the clause before names ("Bukele's government has jailed"); "20,000 people in Honduras" is not.
    own = names(complement_after(sentence, end))
    if own:
        return any(_same(a, n) for a in asked for n in own)
    leading = [n for n in names(clause) if n not in span and span not in n and not _common_opener(n, sentence, context)]
    if leading and not any(_same(a, n) for a in asked for n in leading):
        return False
    return True


def _common_opener(name: str, sentence: str, context: str) -> bool:
    """Whether `name` is only the capitalized first word of `sentence`, written in lower case in `context`."""
    first = _WORD.search(sentence)
    return (" " not in name and first is not None and first.group() == name and first.start() < 3
            and re.search(rf"(?<![\w'’-]){re.escape(name.lower())}(?![\w'’-])", context) is not None)


def _only_shares(text: str) -> bool:
    """Whether every figure in `text` is a percentage ("nearly 2 percent", "87%"; not "119,000 people, or 1.9%")."""
    figures = _FIGURE.findall(text)
    return bool(figures) and all(share for share in figures)


def asks_for_a_figure(question: str) -> bool:
    """Whether the question asks for a number, a share or a date: the answers that another country's or
    another year's figure in the same passage can pass for."""
    return bool(_PERCENT_Q.search(question)) or expected_type(question) in ("number", "date")


def of_the_type_asked(question: str, text: str) -> bool:
    """Whether a span's text is of the kind the question asks for (True when it asks for no kind).

    A question for a name, a title or a person is never answered by a bare date or figure ("What is the
    title of the article?" -> "September 11, 2025", read from the line that dates it)."""
    if _PERCENT_Q.search(question):
        return bool(_PERCENT.search(text))
    kind = expected_type(question)
    if count_focus(question) not in (None, "percent", "percentage") and _only_shares(text):
        return False  # "how many prisoners" counts: "nearly 2 percent" of a population is a share, not a count
    if kind in ("number", "date"):
        return has_type(text, kind, question)
    if (kind == "person" or _NAME_Q.search(question)) and _BARE_FIGURE.fullmatch(text.strip()):
        return False
    return True


@dataclass(frozen=True)
class SpanGate:
    """P(the span is right) = sigmoid(w · standardized features + b); shown when it passes `threshold`."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    reader: str = ""  # the sha256 of the reader model it was fitted on ("" = any)
    fitted: dict | None = None  # what it was fitted on and its held-out figures
    # For a route whose decision is the reader's alone (the multilingual route): the sources answer when some
    # span read passes this probability. None: the route's decision does not use the gate.
    answers_above: float | None = None

    def probability(self, span: AnswerSpan) -> float:
        values = {"margin": span.margin, "has_answer": span.has_answer}
        z = self.bias + sum(w * (values[f] - m) / s for f, m, s, w in zip(self.features, self.mean, self.scale, self.weights))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("features", "mean", "scale", "weights", "bias", "threshold", "reader", "answers_above", "fitted")}


def _read_gate(path: Path) -> SpanGate | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    answers_above = data.get("answers_above")
    return SpanGate(
        tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
        float(data["bias"]), float(data["threshold"]), str(data.get("reader", "")), data.get("fitted"),
        float(answers_above) if answers_above is not None else None,
    )


@lru_cache(maxsize=1)
def _shipped_gates() -> tuple[SpanGate, ...]:
    return tuple(g for g in (_read_gate(GATE_PATH), _read_gate(MULTILINGUAL_GATE_PATH)) if g is not None)


def gate_for(reader_sha256: str) -> SpanGate | None:
    """The shipped gate fitted on the reader of this sha256 (None: no gate was fitted on it)."""
    return next((g for g in _shipped_gates() if g.reader in ("", reader_sha256)), None)


def confidence(span: AnswerSpan, gate: SpanGate | None, reader_sha256: str) -> float | None:
    """The calibrated probability that `span` is right, None when no gate was fitted on this reader."""
    if gate is None or (gate.reader and gate.reader != reader_sha256):
        return None
    return gate.probability(span)


def shown(question: str, passage_text: str, sentence: tuple[int, int], span: AnswerSpan, probability: float | None,
          threshold: float, fallback_margin: float) -> bool:
    """Whether `span` (offsets in `passage_text`, inside the sentence [a, b)) may be shown: confident (its
    calibrated `probability` passes `threshold`; without a gate fitted on this reader, its margin passes
    `fallback_margin`), of the type asked and about the thing asked."""
    if span.end <= span.start:
        return False
    if probability is None:
        if span.margin < fallback_margin:
            return False
    elif probability < threshold:
        return False
    if not of_the_type_asked(question, span.text):
        return False
    return about_what_is_asked(question, passage_text, sentence, span)


def about_what_is_asked(question: str, passage_text: str, sentence: tuple[int, int], span: AnswerSpan) -> bool:
    """The third check as `shown` applies it (and the studies fit the gate with): for a question asking for a
    figure or a date, `about_the_thing_asked` on the span's sentence [a, b) of `passage_text`; else True (a name
    or a phrase: the reader's own confidence decides)."""
    if not asks_for_a_figure(question):
        return True
    a, b = sentence
    return about_the_thing_asked(question, passage_text[a:b], span.start - a, span.end - a, passage_text)
