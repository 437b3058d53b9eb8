"""The near-topic unanswerable gold questions: on the corpus's topic, but their key facts are in no source."""

import json
import re

from eval.datasets import load_gold
from eval.run import GOLD_DIR
from index.storage.store import load_version
from ingest.sentences import split_sentences

NEARTOPIC = GOLD_DIR / "neartopic.jsonl"


def _sentences(text: str) -> list[str]:
    return [paragraph[s.start : s.end] for paragraph in text.split("\n") for s in split_sentences(paragraph)]


def test_neartopic_questions_are_unanswerable_and_their_key_facts_are_absent(bundled_settings):
    questions = load_gold(NEARTOPIC)
    assert len(questions) >= 20 and not any(q.answerable for q in questions)
    records = [json.loads(line) for line in NEARTOPIC.read_text(encoding="utf-8").splitlines() if line.strip()]
    index = load_version(bundled_settings.index_dir)
    sentences = [s for record in index.sources.values() for s in _sentences(record.text)]
    assert len(sentences) > 200
    for record in records:
        # Each group lists what one sentence would have to say to answer the question; no sentence may say all of it.
        assert record["absent"], record["id"]
        for group in record["absent"]:
            patterns = [re.compile(p, re.IGNORECASE) for p in group]
            stating = [s for s in sentences if all(p.search(s) for p in patterns)]
            assert not stating, (record["id"], group, stating[:2])
