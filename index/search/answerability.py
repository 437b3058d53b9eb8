"""Do the sources answer the question? A small learned decision over signals of the reranked search.

Relevance is not answerability: a passage about CECOT is relevant to "How many prisoners died in
CECOT?" without answering it. So besides the cross-encoder's score, the decision looks at what an
answer needs: the question's rare terms in the passage read, and a number / date / name when the
question asks "how many", "when" or "who", and the trained reader's no-answer evidence (index/models/reader.py).
The weights are a logistic regression fitted by `python -m eval.studies.decide_study ship` (on signals the
search itself computed) and shipped as index/search/answerability.json (no pickle).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "answerability.json"

# English wording, and the Spanish the multilingual route answers (answers are quoted from the sources, so a
# Spanish question's figure or date is checked in the sources' own words).
_NUMBER_Q = re.compile(
    r"^\s*(how (many|much|long|far|old|big|large|tall|high|often)|what (percentage|percent|share|proportion|"
    r"fraction|number|amount|portion|rate|size|population)|by how much|at what (rate|age|cost|price))\b|"
    r"^\s*¿?\s*(cu[aá]nt[oa]s?|qu[eé] (porcentaje|cantidad|n[uú]mero|proporci[oó]n|tasa|poblaci[oó]n)|a cu[aá]nto)\b",
    re.IGNORECASE,
)
_DATE_Q = re.compile(
    r"^\s*(when|since when|until when|(in|on|during|by)? ?(what|which) (year|date|month|day|decade|century|period|time))\b|"
    r"^\s*¿?\s*(cu[aá]ndo|desde cu[aá]ndo|hasta cu[aá]ndo|(en|durante|desde)? ?qu[eé] (a[nñ]o|fecha|mes|d[ií]a|d[eé]cada|siglo))\b",
    re.IGNORECASE,
)
_PERSON_Q = re.compile(r"^\s*(who|whom|whose)\b|^\s*¿?\s*((a|de|con|para) )?qui[eé]n(es)?\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|half|third|quarter|dozen|twice|double|several)\b",
    re.IGNORECASE,
)
MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}})\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b({MONTHS}|century|decade|spring|summer|autumn|fall|winter)\b",
    re.IGNORECASE,
)
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")


def expected_type(question: str) -> str | None:
    """"number", "date" or "person" when the question's wording asks for one, else None."""
    if _NUMBER_Q.search(question):
        return "number"
    if _DATE_Q.search(question):
        return "date"
    if _PERSON_Q.search(question):
        return "person"
    return None


def has_type(text: str, kind: str | None, question: str) -> bool:
    """Whether `text` holds something of the kind the question asks for (True when it asks for none)."""
    if kind == "number":
        return bool(_NUMBER.search(text))
    if kind == "date":
        return bool(_DATE.search(text))
    if kind == "person":
        asked = {w.lower() for w in re.findall(r"[\w'’-]+", question)}
        return any(m.group(0).lower() not in asked for m in _CAPITALIZED.finditer(text))
    return True


_COUNT_FOCUS_Q = re.compile(r"^\s*(?:how many|what number of)\s+([\w'’-]+)", re.IGNORECASE)
_COUNT = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens|hundreds|thousands|millions|several)"
_SCALE = r"(?:\s+(?:hundred|thousand|million|billion|trillion))?"


def count_focus(question: str) -> str | None:
    """What a "how many X" question counts (X, singular), else None."""
    m = _COUNT_FOCUS_Q.search(question)
    if not m:
        return None
    word = m.group(1).lower()
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def counts(text: str, focus: str) -> bool:
    """Whether `text` puts a number right before `focus` ("77,000 people", "two million voters"): the
    sentence that answers "how many people" usually does, one that merely mentions both rarely does."""
    return bool(re.search(rf"\b{_COUNT}{_SCALE}(?:\s+more)?\s+{re.escape(focus)}\w*\b", text, re.IGNORECASE))


def unknown_share(question_terms: list[str], idf: dict[str, float], unknown_idf: float) -> float:
    """IDF-weighted share of the question's terms that no passage holds (their IDF is the highest there is)."""
    terms = list(dict.fromkeys(question_terms))
    total = sum(idf[t] for t in terms)
    return sum(idf[t] for t in terms if idf[t] >= unknown_idf - 1e-9) / total if total > 0 else 0.0


def missing_rarest(question_terms: list[str], text_terms: set[str], idf: dict[str, float], unknown_idf: float) -> float:
    """The highest IDF among question terms `text_terms` lacks, over the highest IDF there is (0: none lacking)."""
    lacking = [idf[t] for t in question_terms if t not in text_terms]
    return max(lacking) / unknown_idf if lacking and unknown_idf > 0 else 0.0


def rare_term_coverage(question_terms: list[str], text_terms: set[str], idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms that the text contains (terms absent from the index weigh most)."""
    terms = list(dict.fromkeys(question_terms))
    if not terms:
        return 1.0
    weights = np.array([idf[t] for t in terms])
    found = np.array([t in text_terms for t in terms], dtype=np.float64)
    return float((weights * found).sum() / weights.sum()) if weights.sum() > 0 else 1.0


@dataclass(frozen=True)
class Signals:
    """What the decision reads, for one question after reranking."""

    ce_top: float  # the cross-encoder's best logit over the reranked head
    ce_margin: float  # best logit minus the second best
    best_sentence: float  # highest cosine of any candidate sentence to the question
    lexical_confidence: float  # best BM25 score / the most the question's terms could score
    rare_coverage: float  # IDF-weighted share of question terms in the top passage
    type_asked: float  # 1 when the question asks for a number, date or name
    type_missing: float  # 1 when it asks for one and the text the model read holds none
    window_coverage: float  # IDF-weighted share of question terms in the window the model read
    unknown_terms: float  # IDF-weighted share of question terms that no passage of the index holds
    missing_top_idf: float  # the rarest question term the top passage lacks: its IDF / the index's highest
    ce_sentence_top: float  # the cross-encoder's best logit over the top passage's sentences, read one by one
    sentence_type_missing: float  # 1 when the question asks for a number, date or name and that sentence holds none
    sentence_coverage: float  # IDF-weighted share of question terms in that sentence
    # The trained reader (index/models/reader.py) on the shown passages; 0 when it did not read.
    reader_margin: float = 0.0  # the first passage's best span score minus its no-answer score
    reader_has: float = 0.0  # the first passage's has-answer logit
    reader_best_margin: float = 0.0  # the highest span-minus-no-answer margin over the passages read

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 5) for k, v in asdict(self).items()}


FEATURES = tuple(Signals.__dataclass_fields__)
READER_FEATURES = ("reader_margin", "reader_has", "reader_best_margin")


@dataclass(frozen=True)
class AnswerabilityModel:
    """Logistic regression over standardized Signals; answers when P(answerable) >= threshold."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    reranker: str  # the cross-encoder whose logits the weights were fitted on
    fitted: dict  # provenance: script, data, date

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> AnswerabilityModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        model = cls(
            features=tuple(data["features"]),
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            weights=tuple(data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            reranker=str(data["reranker"]),
            fitted=dict(data.get("fitted", {})),
        )
        unknown = set(model.features) - set(FEATURES)
        if unknown or not (len(model.features) == len(model.mean) == len(model.scale) == len(model.weights)):
            raise ValueError(f"{path}: not an answerability model for these signals ({sorted(unknown)})")
        return model

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"features": list(self.features)}, indent=2)

    def probability_values(self, values) -> float:
        """P(answerable) for the feature values in `self.features` order."""
        z = (np.asarray(values, dtype=np.float64) - np.array(self.mean)) / np.array(self.scale)
        logit = float(z @ np.array(self.weights) + self.bias)
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))

    def answers_values(self, values) -> bool:
        return self.probability_values(values) >= self.threshold

    @property
    def reads(self) -> bool:
        """Whether the decision needs the reader's signals."""
        return any(f in READER_FEATURES for f in self.features)

    def probability(self, signals: Signals) -> float:
        return self.probability_values([getattr(signals, f) for f in self.features])

    def answers(self, signals: Signals) -> bool:
        return self.probability(signals) >= self.threshold


@lru_cache(maxsize=1)
def shipped_model() -> AnswerabilityModel:
    """The model in index/search/answerability.json, loaded once per process."""
    return AnswerabilityModel.load(MODEL_PATH)
