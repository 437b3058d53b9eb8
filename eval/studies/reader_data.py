"""The reader's training and held-out examples: SQuAD part 1 and SQuADShifts, plus the unanswerable
examples built from them.

Sources (../shared/benchmarks; licences in its README):
- SQuAD 2.0 part 1 and SQuAD v1.1 part 1 (CC BY-SA 4.0), split by article (HELD_OUT_V1, HELD_OUT_V2);
- SQuADShifts (CC BY 4.0): new Wikipedia articles, Reddit comments, Amazon reviews, split by text
  (`shifts_held_out`: a Wikipedia article, a product's reviews, a Reddit comment).

Unanswerable examples, four kinds:
- `squad2`: SQuAD 2.0's human-written unanswerable questions, read against their own paragraph;
- `other`: a question paired with the paragraph of its own text that shares most of its words and lacks
  every gold answer (the near-topic passage a retriever returns);
- `perturbed`: the question's key entity, number, year or month swapped for another of the same kind from
  the same text that its own paragraph never mentions ("How many prisoners does Honduras hold?" asked of an
  El Salvador paragraph), as SQuAD 2.0's crowdworkers did by hand.
- `contrary`: the question turned against its own paragraph, as most of SQuAD 2.0's were: a word the
  paragraph uses swapped for its opposite ("smallest" for "largest"), or a passive verb negated.
A fifth, `mined`, comes from a trained reader: other paragraphs it reads an answer in although they hold no
gold answer (its confident mistakes; eval/studies/mine_negatives.py), added with `Mix.mined`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from eval.datasets import BENCHMARKS, shifts_held_out, translated_pairs

SQUAD1 = BENCHMARKS / "squad-v1.1-dev-part1.json"
SQUAD2 = BENCHMARKS / "squad-v2.0-dev-part1.json"
SHIFTS = BENCHMARKS / "squadshifts"
SHIFTS_SETS = ("new_wiki", "reddit", "amazon_reviews")  # eval.datasets.shifts_held_out says which texts are held out
XQUAD_EN = BENCHMARKS / "xquad-es" / "xquad.en.shared.json"
XQUAD_ES = BENCHMARKS / "xquad-es" / "xquad.es.shared.json"
SQUAD_ES = BENCHMARKS / "squad-es" / "squad-es-v2.0-dev.shared.json"
SPANISH_SETS = ("xquad_es", "squad_es")
# Held out by article: never trained on; the figures of the model card and of `verbatim eval`.
HELD_OUT_V2 = ("Packet_switching", "Yuan_dynasty", "Warsaw")
HELD_OUT_V1 = ("Warsaw", "Packet_switching", "Black_Death", "Geology", "Newcastle_upon_Tyne")
# Never trained on either, but fitted on: the span gate and the decision are calibrated on the reader's
# readings of these two SQuAD 2.0 articles (answerable and human-written unanswerable questions), which a
# reader that had trained on them would read over-confidently.
CALIBRATION_V2 = ("Steam_engine", "European_Union_law")

KINDS = ("answer", "squad2", "other", "perturbed", "contrary", "mined")


@dataclass(frozen=True)
class Example:
    """A question read against one paragraph; `answer_start` None when the paragraph does not answer."""

    qid: str
    article: str
    question: str
    context: str
    answer_start: int | None
    answer_text: str
    answers: tuple[str, ...]  # every gold answer text (for EM/F1)
    kind: str = "answer"  # one of KINDS
    source: str = "squad"  # squad | new_wiki | reddit | amazon_reviews
    swapped: tuple[str, str] = ("", "")  # for `perturbed` and `contrary`: (what the question said, what it says now)


@dataclass(frozen=True)
class Question:
    """A gold question of a text, with every paragraph of that text (for the negatives)."""

    qid: str
    article: str
    question: str
    paragraph: int
    paragraphs: tuple[str, ...]
    answer_start: int | None
    answer_text: str
    answers: tuple[str, ...]
    source: str


def _questions(path: Path, source: str, keep) -> list[Question]:
    out: list[Question] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        paragraphs = tuple(p["context"] for p in article["paragraphs"])
        for n, paragraph in enumerate(article["paragraphs"]):
            if not keep(article["title"], n):
                continue
            if source == "reddit":  # each comment is a text of its own: no other paragraph is "of its text"
                title, text, at = f"{article['title']}#{n}", (paragraph["context"],), 0
            else:
                title, text, at = article["title"], paragraphs, n
            for qa in paragraph["qas"]:
                answers = tuple(a["text"] for a in qa.get("answers", []))
                first = qa["answers"][0] if answers and not qa.get("is_impossible") else None
                out.append(
                    Question(
                        qa["id"], title, qa["question"], at, text,
                        first["answer_start"] if first else None, first["text"] if first else "",
                        answers if first else (), source,
                    )
                )
    return out


def squad_questions(path: Path, held: tuple[str, ...], held_out: bool) -> list[Question]:
    """The questions of the articles in `held` (held_out) or of the others."""
    return _questions(path, "squad", lambda title, _n: (title in held) == held_out)


def shifts_questions(held_out: bool, sets: tuple[str, ...] = SHIFTS_SETS) -> list[Question]:
    """SQuADShifts questions of the held-out texts (held_out) or of the training texts."""
    out: list[Question] = []
    for name in sets:
        out += _questions(SHIFTS / f"{name}.json", name, lambda title, n, name=name: shifts_held_out(name, title, n) == held_out)
    return out


def as_example(q: Question) -> Example:
    """The question read against its own paragraph."""
    kind = "answer" if q.answer_start is not None else "squad2"
    return Example(q.qid, q.article, q.question, q.paragraphs[q.paragraph], q.answer_start, q.answer_text, q.answers, kind, q.source)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def other_paragraphs(q: Question) -> list[int]:
    """The other paragraphs of q's text that hold no gold answer, those sharing most of its words first."""
    asked = _words(q.question)
    options = [
        (len(asked & _words(text)), m)
        for m, text in enumerate(q.paragraphs)
        if m != q.paragraph and not any(a.lower() in text.lower() for a in q.answers)
    ]
    return [m for _, m in sorted(options, reverse=True)]


def other_paragraph(q: Question) -> Example | None:
    """The question with the paragraph of its text that shares most of its words and holds no gold answer."""
    options = other_paragraphs(q)
    if not options:
        return None
    m = options[0]
    return Example(q.qid + "-other", q.article, q.question, q.paragraphs[m], None, "", (), "other", q.source)


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_CONNECT = {"of", "the", "de", "la", "del", "von", "van", "and", "for", "&"}
_QUESTION_WORDS = {"What", "Who", "Whom", "Whose", "When", "Where", "Which", "Why", "How", "In", "On", "At", "By", "For",
                   "The", "A", "An", "Is", "Are", "Was", "Were", "Did", "Do", "Does", "To", "From", "After", "Before",
                   "During", "According", "As", "If", "Of", "With", "Besides", "Other", "Along", "Can", "Could", "Has",
                   "Have", "Had", "Would", "Should", "Name", "I", "It", "Its", "This", "That", "These", "Those"}
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w.,])\d+(?:\.\d+)?(?![\w,])")
_EXCEPT = re.compile(r"\b(besides|other than|except|apart from|aside from|excluding)\s+(the\s+)?$", re.IGNORECASE)
_TOKEN = re.compile(r"[\w'’&-]+")


def _kind_of(value: str) -> str:
    if value in MONTHS:
        return "month"
    if re.fullmatch(r"1\d{3}|20\d{2}", value):
        return "year"
    if value[0].isdigit():
        return "number"
    if " " not in value and re.search(r"(an|ans|ese|ish|ic)$", value):
        return "demonym"  # "European", "Africans": swapped only for another such word, never a place
    return f"entity{min(3, len(value.split()))}"


def anchors(text: str, first_word_too: bool = False) -> list[tuple[int, int, str]]:
    """Names, numbers, years and months in `text`: (start, end, kind). A name is a run of capitalized words
    (joined by "of", "the", "de"...); a one-word run that opens a sentence counts only with
    `first_word_too`, and never when it is a common opening word ("What", "The", "In")."""
    found = [(m.start(), m.end(), _kind_of(m.group())) for m in _NUMBER.finditer(text)]
    tokens = list(_TOKEN.finditer(text))
    i = 0
    while i < len(tokens):
        word = tokens[i].group()
        if not word[0].isupper() or word in _QUESTION_WORDS:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens):
            k = j + 1
            while k < len(tokens) and tokens[k].group().lower() in _CONNECT:
                k += 1
            joined = all(not text[tokens[n].end() : tokens[n + 1].start()].strip() for n in range(j, min(k, len(tokens) - 1)))
            if joined and k < len(tokens) and tokens[k].group()[0].isupper() and tokens[k].group() not in _QUESTION_WORDS and k - j <= 3:
                j = k
            else:
                break
        start, end = tokens[i].start(), tokens[j].end()
        if text[end - 2 : end] in ("'s", "’s"):  # "Brazil's": the name is "Brazil"
            end -= 2
        before = text[:start].rstrip()
        opens = not before or before[-1] in ".?!\"“:"
        if i != j or first_word_too or not opens:
            found.append((start, end, _kind_of(text[start:end])))
        i = j + 1
    return sorted(found)


def text_pool(paragraphs: tuple[str, ...]) -> dict[str, list[str]]:
    """Every name, number, year and month the text mentions, by kind (in order of first mention)."""
    pool: dict[str, dict[str, None]] = {}
    lowercase = {w for p in paragraphs for w in re.findall(r"\b[a-z][\w'-]*", p)}
    for paragraph in paragraphs:
        for start, end, kind in anchors(paragraph):
            value = paragraph[start:end]
            if " " not in value and value.lower() in lowercase:
                continue  # a common word that opens a sentence or a heading ("Other", "Due"), not a name
            pool.setdefault(kind, {})[value] = None
    for month in MONTHS:
        if any(month in p for p in paragraphs):
            pool.setdefault("month", {})[month] = None
    return {kind: list(values) for kind, values in pool.items()}


@lru_cache(maxsize=None)
def _pattern(value: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)


def _mentions(text: str, value: str) -> bool:
    return _pattern(value).search(text) is not None


def perturb(q: Question, rng: random.Random, pool: dict[str, list[str]] | None = None) -> Example | None:
    """The question with one of its names, numbers, years or months (one its own paragraph mentions) swapped
    for another of the same kind from the same text that the paragraph never mentions; None when there is
    no such pair."""
    paragraph = q.paragraphs[q.paragraph]
    pool = pool if pool is not None else text_pool(q.paragraphs)
    grounded = [
        (s, e, k) for s, e, k in anchors(q.question, first_word_too=True)
        if _mentions(paragraph, q.question[s:e]) and (" " in q.question[s:e] or q.question[s:e] in paragraph)
        # "besides the Atlantic Coast": a swapped exclusion leaves the question answered (hand check, #6)
        and not _EXCEPT.search(q.question[:s])
    ]
    rng.shuffle(grounded)
    # Names first: a changed name is the change a reader misses most (a figure of another country).
    grounded.sort(key=lambda a: not a[2].startswith("entity"))
    for start, end, kind in grounded:
        old = q.question[start:end]
        options = [
            v for v in pool.get(kind, [])
            if not _mentions(paragraph, v) and not _mentions(q.question, v) and v.lower() not in old.lower() and old.lower() not in v.lower()
            and not any(_mentions(v, a) or _mentions(a, v) for a in q.answers)
        ]
        if options:
            new = rng.choice(options)
            text = q.question[:start] + new + q.question[end:]
            if _mentions(text, old):
                continue  # the name is asked twice: one left in place still grounds the question (hand check, #1)
            return Example(q.qid + "-swap", q.article, text, paragraph, None, "", (), "perturbed", q.source, (old, new))
    return None


# Words whose opposite asks for something else (SQuAD 2.0's crowdworkers' antonyms: "discourage" for
# "encourage", "smallest" for "largest"). Each pair is used both ways.
_OPPOSITES = (
    ("largest", "smallest"), ("biggest", "smallest"), ("first", "last"), ("most", "least"), ("highest", "lowest"),
    ("earliest", "latest"), ("oldest", "newest"), ("longest", "shortest"), ("maximum", "minimum"),
    ("increase", "decrease"), ("increased", "decreased"), ("increases", "decreases"), ("north", "south"),
    ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("major", "minor"), ("won", "lost"),
    ("win", "lose"), ("accept", "reject"), ("accepted", "rejected"), ("encourage", "discourage"),
    ("encouraged", "discouraged"), ("began", "ended"), ("begin", "end"), ("start", "end"), ("started", "ended"),
    ("rise", "fall"), ("rose", "fell"), ("best", "worst"), ("upper", "lower"), ("higher", "lower"),
    ("ancient", "modern"), ("public", "private"), ("domestic", "foreign"), ("internal", "external"),
    ("import", "export"), ("imports", "exports"), ("imported", "exported"), ("buy", "sell"), ("bought", "sold"),
    ("strongest", "weakest"), ("richest", "poorest"), ("hottest", "coldest"), ("wettest", "driest"),
    ("opened", "closed"), ("support", "oppose"), ("supported", "opposed"), ("legal", "illegal"),
    ("male", "female"), ("men", "women"), ("above", "below"), ("inside", "outside"), ("success", "failure"),
    ("successful", "unsuccessful"), ("allowed", "banned"), ("positive", "negative"), ("gained", "lost"),
    ("added", "removed"), ("born", "died"), ("birth", "death"), ("advantage", "disadvantage"),
    ("advantages", "disadvantages"), ("benefit", "drawback"), ("benefits", "drawbacks"), ("cheapest", "most expensive"),
    ("common", "rare"), ("popular", "unpopular"), ("larger", "smaller"), ("longer", "shorter"), ("older", "younger"),
)
_OPPOSITE = {a: b for a, b in _OPPOSITES} | {b: a for a, b in _OPPOSITES}
# "What was advanced?" → "What was not advanced?": a passive question negated.
_PASSIVE = re.compile(r"\b(is|are|was|were|been)\s+([a-z]+(?:ed|en|wn|lt|ught))\b")
_NEGATED = re.compile(r"\b(not|never|no|n't|without|neither|nor)\b", re.IGNORECASE)


def _stem_mentioned(text: str, word: str) -> bool:
    """`text` mentions `word` or a form of it ("ended", "ending" for "end"; any word of a two-word opposite)."""
    stem = word.split()[-1]
    stem = stem[:-1] if stem.endswith("e") and len(stem) > 3 else stem
    return re.search(rf"\b{re.escape(stem)}\w*", text, re.IGNORECASE) is not None


def contrary(q: Question, rng: random.Random) -> Example | None:
    """The question turned against its own paragraph, as SQuAD 2.0's crowdworkers did by hand: one of its
    words the paragraph uses swapped for its opposite that the paragraph never uses ("smallest" for
    "largest", "ended" for "began"), or a passive verb negated ("was not advanced"), when the paragraph
    negates nothing near it; None when the question offers neither."""
    paragraph = q.paragraphs[q.paragraph]
    if _NEGATED.search(q.question):
        return None
    options: list[tuple[int, int, str]] = []
    for m in re.finditer(r"[A-Za-z]+(?!['’])", q.question):  # never "won't"'s "won"
        word = m.group().lower()
        opposite = _OPPOSITE.get(word)
        if opposite and _mentions(paragraph, word) and not _stem_mentioned(paragraph, opposite) and not _mentions(q.question, opposite):
            options.append((m.start(), m.end(), opposite if m.group().islower() else opposite.capitalize()))
    for m in _PASSIVE.finditer(q.question):
        verb = m.group(2)
        if _mentions(paragraph, verb) and not re.search(rf"\b(not|never|n't|no longer)\s+(\w+\s+)?{re.escape(verb)}\b", paragraph, re.IGNORECASE):
            # "has been used" → "has not been used", not "has been not used"
            have = re.search(r"\b(has|have|had)\s+$", q.question[: m.start(1)]) if m.group(1) == "been" else None
            at = have.end(1) if have else m.end(1)
            options.append((at, at, " not"))
    if not options:
        return None
    start, end, new = rng.choice(options)
    text = q.question[:start] + new + q.question[end:]
    return Example(q.qid + "-contrary", q.article, text, paragraph, None, "", (), "contrary", q.source, (q.question[start:end], new.strip()))


@dataclass(frozen=True)
class Mix:
    """What goes into a training set: which sources, which kinds of unanswerable examples, and how many."""

    shifts: bool = True  # add SQuADShifts to the SQuAD training articles
    other: bool = True  # the question with another paragraph of its text
    perturbed: bool = True  # the question with a swapped name, number or date
    negative_share: float = 0.33  # built negatives (other + perturbed) as a share of all examples (squad2 aside)
    reserve_calibration: bool = True  # leave CALIBRATION_V2 out (the shipped reader does; the study's runs did not)
    spanish: int = 0  # add the Spanish training questions (spanish_training_examples), each this many times
    mined: str = ""  # a mine_negatives JSONL file: add its negatives (the reader's confident mistakes)
    mined_sources: tuple[str, ...] = ()  # only the mined rows of these sources (hand checks: SQuAD's 0.90 right, new_wiki's 0.64)
    mined_repeat: int = 1  # each mined negative this many times (a few hundred beside 40,000 would barely be seen)
    contrary: int = 0  # the question turned against its paragraph (an opposite word, or negated): each this many times

    def describe(self) -> str:
        built = [name for name, on in (("other paragraph", self.other), ("perturbed", self.perturbed), ("contrary", self.contrary > 0)) if on]
        spanish = f"; Spanish questions x{self.spanish}" if self.spanish else ""
        sources = f" of {', '.join(self.mined_sources)}" if self.mined_sources else ""
        times = f" x{self.mined_repeat}" if self.mined_repeat > 1 else ""
        mined = f"; mined negatives{sources}{times} (a reader's confident mistakes)" if self.mined else ""
        contrary = f" (contrary x{self.contrary})" if self.contrary > 1 else ""
        return f"SQuAD{' + SQuADShifts' if self.shifts else ''}; built negatives: {', '.join(built) or 'none'} at {self.negative_share:.0%}{contrary}{spanish}{mined}"


def training_questions(reserve_calibration: bool = True, shifts: bool = True) -> list[Question]:
    """Every training question: SQuAD 2.0 part 1's training articles, v1.1 part 1's other training articles, and
    (with `shifts`) SQuADShifts's training texts; never a held-out article, nor (reserved) a calibration one.
    A new list each call (of frozen questions): the files are parsed once a process."""
    return list(_training_questions(reserve_calibration, shifts))


@lru_cache(maxsize=4)
def _training_questions(reserve_calibration: bool, shifts: bool) -> tuple[Question, ...]:
    reserved = CALIBRATION_V2 if reserve_calibration else ()
    v2 = squad_questions(SQUAD2, HELD_OUT_V2 + reserved, False)
    v2_articles = {q.article for q in v2} | set(reserved)
    # SQuAD 2.0 articles of part 1 are also v1.1 articles, with the same answerable questions: keep them once.
    v1 = [q for q in squad_questions(SQUAD1, HELD_OUT_V1 + HELD_OUT_V2, False) if q.article not in v2_articles]
    return tuple(v2 + v1 + (shifts_questions(False) if shifts else []))


def training_examples(mix: Mix, seed: int = 0, sample: int | None = None) -> list[Example]:
    """The training set of `mix`: every answerable training question once, SQuAD 2.0's unanswerable ones,
    and built negatives so that they make `negative_share` of the whole (half of each kind when both are on).
    `sample` draws that many questions first (a learning-curve point or a smoke run); the negatives are
    built from the drawn questions only."""
    rng = random.Random(seed)
    questions = training_questions(mix.reserve_calibration, mix.shifts)
    if sample:
        questions = rng.sample(questions, min(sample, len(questions)))
    examples = [as_example(q) for q in questions]
    answerable = [q for q in questions if q.answer_start is not None]
    kinds = [k for k, on in (("other", mix.other), ("perturbed", mix.perturbed), ("contrary", mix.contrary > 0)) if on]
    if not kinds or mix.negative_share <= 0:
        return examples
    wanted = int(round(mix.negative_share * len(examples) / (1 - mix.negative_share)))
    pools: dict[tuple[str, str], dict[str, list[str]]] = {}
    built: dict[str, list[Example]] = {k: [] for k in kinds}
    order = answerable[:]
    rng.shuffle(order)
    for q in order:
        # A review answers a generic question ("What brand is it?") about any product: no "other" negative.
        if "other" in kinds and len(built["other"]) < wanted and q.source != "amazon_reviews":
            if (e := other_paragraph(q)) is not None:
                built["other"].append(e)
        if "perturbed" in kinds and len(built["perturbed"]) < wanted:
            key = (q.source, q.article)
            if key not in pools:
                pools[key] = text_pool(q.paragraphs)
            if (e := perturb(q, rng, pools[key])) is not None:
                built["perturbed"].append(e)
        if "contrary" in kinds and len(built["contrary"]) < wanted:
            if (e := contrary(q, rng)) is not None:
                built["contrary"].append(e)
    # An equal part of each kind that is on (one's shortfall filled by the others).
    share = [wanted // len(kinds) + (1 if i < wanted % len(kinds) else 0) for i in range(len(kinds))]
    taken: list[Example] = []
    for kind, n in zip(kinds, share):
        taken += built[kind][:n]
    spare = [e for kind in kinds for e in built[kind][share[kinds.index(kind)] :]]
    taken += spare[: max(0, wanted - len(taken))]
    # Rare (one question in ten offers an opposite word or a passive verb): repeated to be seen at all.
    taken += [e for e in taken if e.kind == "contrary"] * (mix.contrary - 1)
    # Repeated: a few hundred Spanish questions beside 40,000 English ones would barely be seen.
    spanish = spanish_training_examples() * mix.spanish if mix.spanish and not sample else []
    mined = mined_negatives(Path(mix.mined), mix.mined_sources) * mix.mined_repeat if mix.mined and not sample else []
    return examples + taken + spanish + mined


def mined_negatives(path: Path, sources: tuple[str, ...] = ()) -> list[Example]:
    """The negatives of a mine_negatives file (its first line describes the run; one negative per line after),
    only those of `sources` when given."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    rows = [r for line in lines if line.strip() and (r := json.loads(line)).get("kept") and (not sources or r["source"] in sources)]
    return [Example(r["qid"] + "-mined", r["article"], r["question"], r["context"], None, "", (), "mined", r["source"]) for r in rows]


def held_out_examples(source: str) -> list[Example]:
    """Closed-task held-out examples: `v1` (SQuAD v1.1 held-out articles, answerable), `v2` (SQuAD 2.0
    held-out articles, both kinds), or a SQuADShifts set's held-out texts (answerable)."""
    if source == "v1":
        return [as_example(q) for q in squad_questions(SQUAD1, HELD_OUT_V1, True) if q.answer_start is not None]
    if source == "v2":
        return [as_example(q) for q in squad_questions(SQUAD2, HELD_OUT_V2, True)]
    return [as_example(q) for q in shifts_questions(True, (source,))]


def spanish_held_out_examples(source: str) -> list[Example]:
    """Spanish questions read against the English paragraph of the same question id (cross-lingual, closed
    task), on held-out articles only: `xquad_es` (XQuAD's professional translations; answerable) or
    `squad_es` (SQuAD-es, machine-translated SQuAD 2.0 questions; both kinds)."""
    held = (*HELD_OUT_V1, *HELD_OUT_V2) if source == "xquad_es" else HELD_OUT_V2
    return _spanish_examples(source, lambda title: title in held)


def spanish_training_examples() -> list[Example]:
    """The Spanish questions of the articles neither held out nor kept for calibration, with their English
    paragraphs: XQuAD-es's (answerable) and SQuAD-es's (both kinds; SQuAD-es's unanswerable questions are the
    only Spanish ones there are). Their English questions are training questions already."""
    kept = (*HELD_OUT_V1, *HELD_OUT_V2, *CALIBRATION_V2)
    return [e for source in SPANISH_SETS for e in _spanish_examples(source, lambda title: title not in kept)]


def _spanish_examples(source: str, keep) -> list[Example]:
    if source == "xquad_es":
        asked = {
            qa["id"]: qa["question"]
            for article in json.loads(XQUAD_ES.read_text(encoding="utf-8"))["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        }
        english = _questions(XQUAD_EN, "squad", lambda title, _n: keep(title))
        return [replace(as_example(q), question=asked[q.qid]) for q in english if q.qid in asked]
    # SQuAD-es's ids are not the original's: each question is paired with the one it translates.
    by_id = {q.qid: q for q in _questions(SQUAD2, "squad", lambda title, _n: keep(title))}
    return [
        replace(as_example(by_id[gold["id"]]), qid=qa["id"], question=qa["question"])
        for qa, _, _, gold in translated_pairs(SQUAD2, SQUAD_ES)
        if gold["id"] in by_id
    ]


def counts(examples: list[Example]) -> dict[str, int]:
    """How many examples of each kind."""
    out = dict.fromkeys(KINDS, 0)
    for e in examples:
        out[e.kind] += 1
    return out
