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
