from pathlib import Path

from ingest.sentences import split_sentences


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_abbreviations_do_not_end_sentences():
    assert sentences("The U.S. Department of State paid. Dr. Magaloni interviewed families.") == [
        "The U.S. Department of State paid.",
        "Dr. Magaloni interviewed families.",
    ]


def test_numbers_and_decimals_stay_whole():
    assert sentences("It borrowed $7.77 billion. That is 1.9% of the population. The rate fell to 1.9 per 100,000.") == [
        "It borrowed $7.77 billion.",
        "That is 1.9% of the population.",
        "The rate fell to 1.9 per 100,000.",
    ]


def test_month_abbreviation():
    assert sentences("On Jan. 5 the assembly voted. It passed.") == ["On Jan. 5 the assembly voted.", "It passed."]


def test_closing_quotes_belong_to_the_sentence():
    text = "“Our crime is to be poor,” families told her. He said, “Instead, he institutionalized terror.” Then he left."
    assert sentences(text) == [
        "“Our crime is to be poor,” families told her.",
        "He said, “Instead, he institutionalized terror.”",
        "Then he left.",
    ]
    assert sentences('She said "stop." They stopped.') == ['She said "stop."', "They stopped."]


def test_abbreviation_then_a_new_sentence():
    assert sentences("They moved to the U.S. The journey was long.") == ["They moved to the U.S.", "The journey was long."]


def test_offsets_are_shifted():
    spans = split_sentences("One. Two.", offset=10)
    assert [(s.start, s.end) for s in spans] == [(10, 14), (15, 19)]


def test_punkt_loads_without_all_of_nltk_and_nltk_still_imports_whole():
    """Splitting imports Punkt and the few modules it needs, not scipy or sklearn (1-2 s); a later
    `import nltk` is the real package, with the same Punkt class."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from ingest.sentences import split_sentences\n"
        "spans = [(s.start, s.end) for s in split_sentences('Dr. Smith went to the U.S. It cost $7.77 billion.')]\n"
        "heavy = sorted(m for m in ('scipy', 'sklearn', 'nltk.corpus') if m in sys.modules)\n"
        "import nltk\n"
        "from nltk.tokenize.punkt import PunktSentenceTokenizer\n"
        "from ingest.sentences import _tokenizer\n"
        "print(json.dumps({'spans': spans, 'heavy': heavy, 'same': isinstance(_tokenizer(), PunktSentenceTokenizer),\n"
        "                  'whole': hasattr(nltk, 'word_tokenize')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"spans": [[0, 26], [27, 49]], "heavy": [], "same": True, "whole": True}
