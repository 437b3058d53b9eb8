"""Translate-test without a translation model: is a Spanish question read better by the English reader once
its words are put into English one by one?

    python -m eval.studies.word_translation_study [--sample N]

No translation model ships in the registries reachable here (argostranslate's wheels carry none; their
models come from the project's own index at run time), so the only English the machine can make of a
Spanish question is word by word:
- the function and question words from a hand-written table (¿cuántos → how many, en → in, fue → was);
- names (capitalized words after the first) and figures as they are;
- every other word: the English word nearest it by the multilingual encoder that ships here
  (multilingual-e5-small-en-es), among the words of the English training texts (SQuAD v1.1 part 1's
  training articles and SQuADShifts new_wiki's training articles, 3 uses or more).

Closed task on the held-out articles (the English paragraph given), four ways of reading:
the multilingual reader on the Spanish question (shipped), the English reader on the Spanish question as it
is, on its word-by-word English, and on the original English question (the bound a perfect translation
would reach). Printed: XQuAD-es span EM / F1 and SQuAD-es's F1 and no-answer AUC (has-answer / margin).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import replace

import numpy as np

from eval.datasets import translated_pairs
from eval.studies.reader_data import (
    HELD_OUT_V1, HELD_OUT_V2, SQUAD1, SQUAD2, SQUAD_ES, XQUAD_EN, _questions, shifts_questions, spanish_held_out_examples,
    spanish_training_examples, squad_questions,
)
from eval.studies.train_reader import closed_task_scores
from index.models.embed import get_embedder
from index.models.reader import MULTILINGUAL_READER_DIR, get_reader

E5 = "multilingual-e5-small-en-es"
_WORD = re.compile(r"[^\W\d_]+|\d[\d.,]*|[^\w\s]", re.UNICODE)
# Spanish function and question words, and the commonest verbs, in English ("" drops the word).
TABLE = {
    "qué": "what", "que": "that", "cuál": "which", "cuáles": "which", "quién": "who", "quiénes": "who",
    "cuándo": "when", "cuando": "when", "dónde": "where", "donde": "where", "adónde": "where", "cómo": "how",
    "como": "as", "cuánto": "how much", "cuánta": "how much", "cuántos": "how many", "cuántas": "how many",
    "por qué": "why", "para qué": "what for",
    "el": "the", "la": "the", "los": "the", "las": "the", "lo": "it", "un": "a", "una": "a", "unos": "some",
    "unas": "some", "de": "of", "del": "of the", "a": "to", "al": "to the", "en": "in", "con": "with",
    "por": "by", "para": "for", "sin": "without", "sobre": "about", "entre": "between", "hasta": "until",
    "desde": "since", "durante": "during", "contra": "against", "según": "according to", "hacia": "toward",
    "tras": "after", "antes": "before", "después": "after", "y": "and", "e": "and", "o": "or", "u": "or",
    "pero": "but", "si": "if", "porque": "because", "aunque": "although", "se": "", "su": "its", "sus": "their",
    "le": "him", "les": "them", "este": "this", "esta": "this", "estos": "these", "estas": "these",
    "ese": "that", "esa": "that", "esos": "those", "esas": "those", "él": "he", "ella": "she", "ellos": "they",
    "ellas": "they", "nos": "us", "mi": "my", "otro": "other", "otra": "other", "otros": "other",
    "otras": "other", "mismo": "same", "misma": "same", "cada": "each", "todo": "all", "todos": "all",
    "toda": "all", "todas": "all", "muy": "very", "más": "more", "menos": "less", "no": "not", "ni": "nor",
    "ya": "already", "también": "also", "solo": "only", "sólo": "only", "es": "is", "son": "are", "fue": "was",
    "fueron": "were", "era": "was", "eran": "were", "ser": "be", "está": "is", "están": "are", "estaba": "was",
    "estaban": "were", "ha": "has", "han": "have", "había": "had", "habían": "had", "hay": "there are",
    "hubo": "there were", "tiene": "has", "tienen": "have", "tenía": "had", "tenían": "had", "tuvo": "had",
    "puede": "can", "pueden": "can", "podía": "could", "hizo": "did", "hace": "does", "hacer": "do",
    "dijo": "said", "año": "year", "años": "years", "primer": "first", "primera": "first", "primero": "first",
}


def english_words(min_count: int = 3) -> list[str]:
    """Lower-case words of the English training texts, used at least `min_count` times."""
    trained = squad_questions(SQUAD1, HELD_OUT_V1 + HELD_OUT_V2, False) + shifts_questions(False, ("new_wiki",))
    paragraphs = {(q.source, q.article, q.paragraph): q.paragraphs[q.paragraph] for q in trained}  # each once
    counts = Counter(w.lower() for text in paragraphs.values() for w in re.findall(r"[A-Za-z]+", text))
    return sorted(w for w, n in counts.items() if n >= min_count and len(w) > 1)


class WordTranslator:
    """Spanish → English word by word: the table, names and figures as they are, else the nearest English word."""

    def __init__(self, vocabulary: list[str], spanish: list[str] = (), k: int = 10) -> None:
        """`spanish`: Spanish words for CSLS (cross-domain similarity local scaling): an English word near many
        Spanish words ("information", "creation") is a hub, and its similarity is discounted by its mean
        similarity to its k nearest Spanish words. Empty: the plain nearest word."""
        self.encoder = get_embedder(E5)
        self.vocabulary = vocabulary
        self.vectors = self.encoder.encode(vocabulary, batch_size=64)
        self.hubness = np.zeros(len(vocabulary), dtype=np.float32)
        if spanish:
            pool = self.encoder.encode(list(spanish), batch_size=64)
            sims = self.vectors @ pool.T
            self.hubness = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
        self._cache: dict[str, str] = {}

    def word(self, word: str) -> str:
        if word not in self._cache:
            v = self.encoder.encode([word])[0]
            self._cache[word] = self.vocabulary[int(np.argmax(2 * (self.vectors @ v) - self.hubness))]
        return self._cache[word]

    def __call__(self, question: str) -> str:
        tokens = _WORD.findall(question.replace("¿", "").replace("¡", ""))
        out: list[str] = []
        i = 0
        while i < len(tokens):
            token, low = tokens[i], tokens[i].lower()
            pair = f"{low} {tokens[i + 1].lower()}" if i + 1 < len(tokens) else ""
            if pair in TABLE:  # "por qué" -> "why"
                out.append(TABLE[pair])
                i += 2
                continue
            if not token[0].isalpha() or (token[0].isupper() and i > 0):
                out.append(token)  # a figure, a sign, or a name ("El Salvador": not "the Salvador")
            elif low in TABLE:
                out.append(TABLE[low])
            else:
                out.append(self.word(low))
            i += 1
        return re.sub(r"\s+([?.,;:])", r"\1", " ".join(w for w in out if w)).strip()


def _english_originals(source: str) -> dict[str, str]:
    """The English question each Spanish held-out question translates, by the Spanish question's id."""
    if source == "xquad_es":
        return {q.qid: q.question for q in _questions(XQUAD_EN, "squad", lambda t, _n: True)}
    return {qa["id"]: gold["question"] for qa, _, _, gold in translated_pairs(SQUAD2, SQUAD_ES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.word_translation_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=None, help="the first N questions of each set")
    parser.add_argument("--show", type=int, default=12, help="print this many translations")
    parser.add_argument("--min-count", type=int, default=3, help="English words used at least this often")
    args = parser.parse_args(argv)
    vocabulary = english_words(args.min_count)
    spanish = sorted({w.lower() for e in spanish_training_examples() for w in re.findall(r"[^\W\d_]+", e.question)} - set(TABLE))
    nearest, translate = WordTranslator(vocabulary), WordTranslator(vocabulary, spanish)
    print(f"{len(vocabulary):,} English words, {len(spanish):,} Spanish words for CSLS", file=sys.stderr)
    english, multilingual = get_reader(), get_reader(MULTILINGUAL_READER_DIR)
    print("| set | reading | EM | F1 | no-answer AUC (has-answer / margin) |\n| --- | --- | --- | --- | --- |")
    for source in ("xquad_es", "squad_es"):
        examples = spanish_held_out_examples(source)[: args.sample]
        originals = _english_originals(source)
        worded = [replace(e, question=translate(e.question)) for e in examples]
        plain = [replace(e, question=nearest(e.question)) for e in examples]
        for e, w in list(zip(examples, worded))[: args.show]:
            print(f"  {e.question}  ->  {w.question}  ({originals.get(e.qid, '?')})", file=sys.stderr)
        ways = {
            "multilingual reader, Spanish question (shipped)": (multilingual, examples),
            "English reader, Spanish question": (english, examples),
            "English reader, word by word (nearest word)": (english, plain),
            "English reader, word by word (CSLS)": (english, worded),
            "English reader, the original English question": (english, [replace(e, question=originals[e.qid]) for e in examples]),
        }
        read = {}
        for name, (reader, asked) in ways.items():
            read[name] = [reader.read(e.question, [e.context])[0] for e in asked]
            _print(source, len(examples), name, closed_task_scores(read[name], examples))
        # Both views at once: each reader's has-answer and margin standardized, then averaged (the multilingual
        # reader's span kept). Do the two readings err on different questions?
        first, second = read["multilingual reader, Spanish question (shipped)"], read["English reader, word by word (CSLS)"]
        _print(source, len(examples), "both: multilingual + word by word (CSLS), scores averaged", closed_task_scores(
            [replace(a, has_answer=h, score=a.no_answer + m) for a, h, m in zip(first, _mean_z(first, second, "has_answer"), _mean_z(first, second, "margin"), strict=True)],
            examples))
    return 0


def _mean_z(first, second, field: str) -> list[float]:
    a, b = (np.array([getattr(s, field) for s in spans]) for spans in (first, second))
    return list((a - a.mean()) / a.std() + (b - b.mean()) / b.std())


def _print(source: str, n: int, name: str, f: dict[str, float]) -> None:
    auc = f"{f['has_answer_auc']:.3f} / {f['margin_auc']:.3f}" if "has_answer_auc" in f else ""
    print(f"| {source} ({n}) | {name} | {f['em']:.3f} | {f['f1']:.3f} | {auc} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
