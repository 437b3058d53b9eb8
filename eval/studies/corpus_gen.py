"""Large test corpora from real text: SQuAD paragraphs cut into sentences and recombined.

No random strings: every sentence is a real Wikipedia sentence; only their grouping is new, so a
corpus of any size has realistic vocabulary, sentence lengths and token counts.
"""

from __future__ import annotations

import random
from pathlib import Path

from eval.datasets import load_squad
from ingest.sentences import split_sentences


def squad_sentences(squad_path: Path) -> list[str]:
    documents, _ = load_squad(squad_path)
    sentences = []
    for doc in documents:
        for paragraph in doc.text.split("\n\n"):
            sentences.extend(paragraph[s.start : s.end] for s in split_sentences(paragraph))
    return sentences


def recombined_documents(
    squad_path: Path, paragraphs: int, per_document: int = 100, sentences_per_paragraph: int = 3, seed: int = 0
) -> list[tuple[str, str]]:
    """(file name, text) documents holding `paragraphs` paragraphs of recombined real sentences."""
    rng = random.Random(seed)
    pool = squad_sentences(squad_path)
    documents = []
    for start in range(0, paragraphs, per_document):
        count = min(per_document, paragraphs - start)
        body = "\n\n".join(" ".join(rng.sample(pool, sentences_per_paragraph)) for _ in range(count))
        documents.append((f"recombined-{start // per_document:05d}.txt", body + "\n"))
    return documents


def write_documents(documents: list[tuple[str, str]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in documents:
        (folder / name).write_text(text, encoding="utf-8")
