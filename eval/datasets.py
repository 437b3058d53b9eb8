"""Loaders that turn gold files and public benchmarks into plain records."""

from __future__ import annotations

import json
import os
import re
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

# The public benchmark data (../shared/benchmarks beside the repository; never copied into it). A clone kept
# elsewhere names it with $VERBATIM_BENCHMARKS.
BENCHMARKS_ENV = "VERBATIM_BENCHMARKS"
BENCHMARKS = Path(os.environ.get(BENCHMARKS_ENV) or Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks")


@dataclass(frozen=True)
class GoldQuestion:
    """A question with its acceptable verbatim answers and the sources they come from."""

    id: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...] = ()
    # Where sources disagree: each source file with the values its own line should give ("what each source
    # says"); empty: no per-source lines are expected; None: not checked.
    says: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    @property
    def answerable(self) -> bool:
        """False for questions whose correct behaviour is to abstain."""
        return bool(self.answers)


def with_source_files(questions: list[GoldQuestion], file_of_doc: dict[str, str]) -> list[GoldQuestion]:
    """The questions with their sources renamed from document names to the files they were written to."""
    return [GoldQuestion(q.id, q.question, q.answers, tuple(file_of_doc[s] for s in q.sources), q.says) for q in questions]


@dataclass(frozen=True)
class Document:
    """A source document; ``name`` is used as its source file name."""

    name: str
    text: str


@dataclass(frozen=True)
class BeirData:
    """A BEIR dataset restricted to judged queries."""

    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


# --- shared helpers ----------------------------------------------------------

def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line, with file:line in errors."""
    # utf-8-sig tolerates a BOM left by editors on Windows.
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, record


def _string_list(value: Any, field: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where}: '{field}' must be a list of strings")
    return tuple(value)


# --- gold questions ------------------------------------------------------------

def _says(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: 'says' must be an object of source file -> list of values")
    return tuple((str(file), _string_list(values, "says", where)) for file, values in value.items())


def load_gold(path: str | Path) -> list[GoldQuestion]:
    """Load a JSON Lines gold file of {"id", "question", "answers", "sources"?, "says"?} records.

    Blank lines and unknown fields are ignored; malformed or incomplete lines
    raise ValueError naming the file and line number.
    """
    path = Path(path)
    questions: list[GoldQuestion] = []
    seen_ids: set[str] = set()
    for lineno, record in _iter_jsonl(path):
        where = f"{path}:{lineno}"
        for field in ("id", "question", "answers"):
            if field not in record:
                raise ValueError(f"{where}: missing '{field}'")
        qid, question = record["id"], record["question"]
        if not isinstance(qid, str) or not qid:
            raise ValueError(f"{where}: 'id' must be a non-empty string")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{where}: 'question' must be a non-empty string")
        # Duplicate ids would silently merge results when reports are keyed by id.
        if qid in seen_ids:
            raise ValueError(f"{where}: duplicate id {qid!r}")
        seen_ids.add(qid)
        questions.append(GoldQuestion(
            id=qid,
            question=question.strip(),
            answers=_string_list(record["answers"], "answers", where),
            sources=_string_list(record.get("sources", []), "sources", where),
            says=_says(record["says"], where) if "says" in record else None,
        ))
    return questions


# --- SQuAD -------------------------------------------------------------------

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def safe_document_name(title: str, taken: set[str]) -> str:
    """Turn a title into a unique, file-name-safe ``*.txt`` name not already in ``taken``."""
    stem = _UNSAFE_NAME_CHARS.sub("_", title.strip()) or "untitled"
    # Different titles can sanitize to the same stem ("A/B" vs "A_B").
    name, suffix = f"{stem}.txt", 2
    while name in taken:
        name, suffix = f"{stem}_{suffix}.txt", suffix + 1
    return name


SHIFTS_HELD_OUT_EVERY = 10  # SQuADShifts: one text in ten (by a hash of its name) is never trained on


def shifts_held_out(source: str, article: str, paragraph: int) -> bool:
    """Whether a SQuADShifts text is held out from the reader's training: a Wikipedia article or a product's
    reviews as a whole; a Reddit comment (every paragraph of the one Reddit "article" is a comment of its own)
    by itself."""
    name = f"{article}#{paragraph}" if source == "reddit" else article
    return zlib.crc32(f"{source}/{name}".encode()) % SHIFTS_HELD_OUT_EVERY == 0


def shifts_held_out_ids(path: str | Path) -> set[str]:
    """The ids of the questions of a SQuADShifts file (new_wiki.json, reddit.json, amazon_reviews.json under a
    `squadshifts` folder) whose text the reader never trained on; empty for any other file."""
    path = Path(path)
    if path.parent.name != "squadshifts":
        return set()
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    return {
        str(qa["id"])
        for article in data["data"]
        for n, paragraph in enumerate(article["paragraphs"])
        if shifts_held_out(path.stem, article["title"], n)
        for qa in paragraph["qas"]
    }


def load_squad(
    path: str | Path, max_articles: int | None = None
) -> tuple[list[Document], list[GoldQuestion]]:
    """Load SQuAD v1.1 JSON: one Document per article, one GoldQuestion per question.

    Article text is its paragraphs joined by blank lines; each question's
    answers are its distinct answer texts (first-seen order) and its source is
    the article's document name.
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON: {exc}") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise ValueError(f"{path}: expected an object with a 'data' list")
    if max_articles is not None:
        articles = articles[:max_articles]

    documents: list[Document] = []
    questions: list[GoldQuestion] = []
    taken: set[str] = set()
    for index, article in enumerate(articles):
        try:
            name = safe_document_name(article.get("title") or f"article_{index}", taken)
            taken.add(name)
            paragraphs = article["paragraphs"]
            documents.append(Document(
                name, "\n\n".join(p["context"].strip() for p in paragraphs)
            ))
            for paragraph in paragraphs:
                for qa in paragraph["qas"]:
                    texts = (answer["text"].strip() for answer in qa["answers"])
                    answers = tuple(dict.fromkeys(text for text in texts if text))
                    questions.append(
                        GoldQuestion(str(qa["id"]), qa["question"].strip(), answers, (name,))
                    )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: malformed article #{index}: {exc!r}") from None
    return documents, questions


def load_paired_squad(
    paragraphs: str | Path, questions: str | Path, max_articles: int | None = None, only_paired: bool = False
) -> tuple[list[Document], list[GoldQuestion]]:
    """Questions of one SQuAD file asked of another's paragraphs, paired by question id (XQuAD: a Spanish
    question, the English paragraph and English answers of the same id).

    The documents and answers are `paragraphs`' (load_squad); each question's text is the one of the same
    id in `questions`. A question id the other file lacks raises ValueError naming it; with `only_paired`
    (a translation that kept only some questions, as SQuAD-es does) such questions are left out instead, and
    ValueError is raised only when no id pairs.
    """
    documents, originals = load_squad(paragraphs, max_articles=max_articles)
    _, asked = load_squad(questions)
    text_of = {q.id: q.question for q in asked}
    missing = [q.id for q in originals if q.id not in text_of]
    if missing and (not only_paired or len(missing) == len(originals)):
        raise ValueError(f"{questions}: no question with id {missing[0]!r} ({len(missing)} of {len(originals)} missing)")
    return documents, [GoldQuestion(q.id, text_of[q.id], q.answers, q.sources, q.says) for q in originals if q.id in text_of]


# --- BEIR --------------------------------------------------------------------

def _load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    first_line = True
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            is_first, first_line = first_line, False
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 3:
                fields = line.split()
            if len(fields) != 3:
                raise ValueError(f"{path}:{lineno}: expected 3 columns (query-id, corpus-id, score)")
            query_id, doc_id, score = (field.strip() for field in fields)
            try:
                grade = int(score)
            except ValueError:
                # BEIR files usually start with a "query-id corpus-id score" header; some don't.
                if is_first:
                    continue
                raise ValueError(f"{path}:{lineno}: score {score!r} is not an integer") from None
            qrels.setdefault(query_id, {})[doc_id] = grade
    return qrels


def load_beir(directory: str | Path, max_docs: int | None = None, split: str = "test") -> BeirData:
    """Load a BEIR directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

    Only queries with qrels are kept. With ``max_docs``, keeps the first
    ``max_docs`` corpus documents plus every document named in the kept qrels,
    so a small slice remains evaluable.
    """
    directory = Path(directory)
    all_qrels = _load_qrels(directory / "qrels" / f"{split}.tsv")

    queries: dict[str, str] = {}
    queries_path = directory / "queries.jsonl"
    for lineno, record in _iter_jsonl(queries_path):
        if "_id" not in record or "text" not in record:
            raise ValueError(f"{queries_path}:{lineno}: query needs '_id' and 'text'")
        query_id = str(record["_id"])
        if query_id in all_qrels:
            queries[query_id] = str(record["text"])
    # Judgements for queries we have no text for cannot be evaluated.
    qrels = {query_id: all_qrels[query_id] for query_id in queries}
    judged_docs = {doc_id for judgements in qrels.values() for doc_id in judgements}

    documents: list[Document] = []
    seen: set[str] = set()
    corpus_path = directory / "corpus.jsonl"
    for position, (lineno, record) in enumerate(_iter_jsonl(corpus_path)):
        if "_id" not in record:
            raise ValueError(f"{corpus_path}:{lineno}: document needs '_id'")
        doc_id = str(record["_id"])
        if doc_id in seen:
            raise ValueError(f"{corpus_path}:{lineno}: duplicate _id {doc_id!r}")
        seen.add(doc_id)
        if max_docs is not None and position >= max_docs and doc_id not in judged_docs:
            continue
        title = str(record.get("title") or "").strip()
        text = str(record.get("text") or "")
        documents.append(Document(doc_id, f"{title}\n\n{text}" if title else text))
    return BeirData(documents, queries, qrels)


# --- near-topic negatives ------------------------------------------------------

@dataclass(frozen=True)
class NearTopic:
    """SQuAD with some paragraphs removed: their questions stay on topic but lose their answer.

    `present` is every article whole; `removed` the same articles without the removed paragraphs;
    `questions` are the removed paragraphs' questions (answerable from `present`, not from `removed`);
    `kept` are the other questions (answerable from both).
    """

    present: list[Document]
    removed: list[Document]
    questions: list[GoldQuestion]
    kept: list[GoldQuestion]


def near_topic(
    path: str | Path, seed: int = 0, per_article: int = 2, max_articles: int | None = None, skip_articles: int = 0
) -> NearTopic:
    """Remove `per_article` random paragraphs (Random(seed)) from each SQuAD article.

    Articles `skip_articles` .. `skip_articles + max_articles` are used (a held-out split is a range).
    """
    import random

    from eval.metrics import distinct_answers, normalize_for_match

    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    articles = data["data"][skip_articles:]
    if max_articles is not None:
        articles = articles[:max_articles]
    rng = random.Random(seed)
    present, removed, questions, kept = [], [], [], []
    taken: set[str] = set()
    for index, article in enumerate(articles):
        name = safe_document_name(article.get("title") or f"article_{index}", taken)
        taken.add(name)
        paragraphs = article["paragraphs"]
        gone = set(rng.sample(range(len(paragraphs)), min(per_article, max(0, len(paragraphs) - 1))))
        present.append(Document(name, "\n\n".join(p["context"].strip() for p in paragraphs)))
        removed.append(Document(name, "\n\n".join(p["context"].strip() for i, p in enumerate(paragraphs) if i not in gone)))
        for i, paragraph in enumerate(paragraphs):
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"].strip() for a in qa["answers"] if a["text"].strip()))
                (questions if i in gone else kept).append(GoldQuestion(str(qa["id"]), qa["question"].strip(), answers, (name,)))
    # A removed paragraph's answer may stand in another paragraph too ("Denver Broncos"): such a
    # question may still be answered, so it is no negative.
    remaining = normalize_for_match(" ".join(d.text for d in removed))
    questions = [q for q in questions if not any(a in remaining for a in distinct_answers(q.answers))]
    return NearTopic(present, removed, questions, kept)


# --- translated SQuAD (SQuAD-es) --------------------------------------------

def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _anchors(text: str) -> set[str]:
    """The words a translation keeps: numbers and capitalized names, accents and case dropped."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return {w.lower() for w in re.findall(r"\b(?:\d[\d.,]*|[A-Z][A-Za-z]{2,})\b", plain)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def monotone_alignment(left: list[Any], right: list[Any], score, floor: float = 0.05) -> list[int | None]:
    """For each item of `left`, the item of `right` it translates (or None): the order-keeping pairing
    (either side may skip items) that maximizes the summed `score(l, r)`, counting only pairs above `floor`."""
    n, m = len(left), len(right)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            s = score(left[i], right[j])
            paired = best[i + 1][j + 1] + s if s > floor else -1.0
            best[i][j] = max(paired, best[i + 1][j], best[i][j + 1])
    out: list[int | None] = [None] * n
    i = j = 0
    while i < n and j < m:
        s = score(left[i], right[j])
        if s > floor and best[i][j] == best[i + 1][j + 1] + s:
            out[i], i, j = j, i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return out


def translated_pairs(paragraphs: str | Path, questions: str | Path) -> Iterator[tuple[dict, str, int, dict]]:
    """Each question of a translated SQuAD file (SQuAD-es: each article names its original in `title_en`;
    question ids differ from the original's) with the original question it translates: (translated qa,
    original article title, original paragraph index, original qa). Articles pair by title; paragraphs, then
    questions, by an order-keeping alignment on the numbers and names a translation keeps (for questions
    also: both answerable or both not, where the answer lies in the paragraph, how alike the answers are
    spelt). A question that pairs with none is left out."""
    original = {a["title"]: a for a in json.loads(Path(paragraphs).read_text(encoding="utf-8-sig"))["data"]}
    for article in json.loads(Path(questions).read_text(encoding="utf-8-sig"))["data"]:
        english = original.get(article.get("title_en") or article.get("title"))
        if english is None:
            continue
        p_es, p_en = article["paragraphs"], english["paragraphs"]
        pairs = monotone_alignment([_anchors(p["context"]) for p in p_es], [_anchors(p["context"]) for p in p_en], _jaccard)
        for es, en in zip(p_es, pairs):
            if en is None:
                continue
            target = p_en[en]

            def where(qa: dict, context: str) -> float | None:
                if qa.get("is_impossible") or not qa.get("answers"):
                    return None
                return qa["answers"][0]["answer_start"] / max(1, len(context))

            def question_score(a: dict, b: dict, es=es, target=target) -> float:
                wa, wb = where(a, es["context"]), where(b, target["context"])
                if (wa is None) != (wb is None):
                    return 0.0
                if wa is None:
                    return 0.5 + _jaccard(_anchors(a["question"]), _anchors(b["question"]))
                # Names, numbers and cognates survive translation: the answers' letters agree in part.
                alike = SequenceMatcher(None, _plain(a["answers"][0]["text"]), _plain(b["answers"][0]["text"])).ratio()
                return 0.5 * (1.0 - abs(wa - wb)) + alike + _jaccard(_anchors(a["question"]), _anchors(b["question"]))

            for qa, k in zip(es["qas"], monotone_alignment(es["qas"], target["qas"], question_score, floor=0.45)):
                if k is not None:
                    yield qa, english["title"], en, target["qas"][k]


def load_translated_squad(paragraphs: str | Path, questions: str | Path) -> tuple[list[Document], list[GoldQuestion]]:
    """The questions of a translated SQuAD file asked of the original's paragraphs (`translated_pairs`),
    each with the original's answers (none for an unanswerable one)."""
    documents, _ = load_squad(paragraphs)
    titles = [a["title"] for a in json.loads(Path(paragraphs).read_text(encoding="utf-8-sig"))["data"]]
    name_of = {title: d.name for title, d in zip(titles, documents)}
    out = []
    for qa, title, _, gold in translated_pairs(paragraphs, questions):
        answers = () if gold.get("is_impossible") else tuple(dict.fromkeys(a["text"].strip() for a in gold["answers"]))
        out.append(GoldQuestion(str(qa["id"]), qa["question"].strip(), answers, (name_of[title],)))
    return documents, out
