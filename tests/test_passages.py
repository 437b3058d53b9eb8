import pytest

from ingest.clean import clean_document, is_heading
from ingest.passages import build_passages, pack_sentences, passage_id
from ingest.readers import read_sources

from conftest import SOURCES

WOLA = "wola-podcast-grim-side-of-el-salvador-security-model.txt"
WOLA_PAGE = "wola-podcast-page-grim-side-of-el-salvador-security-model.txt"


@pytest.fixture(scope="module")
def corpus(embedder):
    documents, _ = read_sources(SOURCES)
    cleaned = {d.file: clean_document(d) for d in documents}
    passages = build_passages(cleaned.values(), embedder.count_tokens, max_tokens=128)
    return cleaned, passages


def test_offsets_round_trip_for_every_passage(corpus):
    cleaned, passages = corpus
    assert len(passages) > 50
    for passage in passages:
        for occurrence in passage.occurrences:
            assert cleaned[occurrence.file].text[occurrence.start : occurrence.end] == passage.text
        for span in passage.sentences:
            assert passage.text[span.start : span.end].strip() == passage.text[span.start : span.end]
        assert passage.sentences[0].start == 0 and passage.sentences[-1].end == len(passage.text)


def test_passages_fit_the_token_budget(corpus, embedder):
    _, passages = corpus
    sizes = embedder.count_tokens([p.text for p in passages])
    assert max(sizes) <= 128
    assert embedder.max_tokens >= 128 + 2


def test_passages_cross_paragraphs_only_after_heading_lines(corpus):
    """A passage holds sentences of one paragraph and, before them, the heading-like lines just above it."""
    cleaned, passages = corpus
    joined = 0
    for passage in passages:
        for occurrence in passage.occurrences:
            doc = cleaned[occurrence.file]
            touched = [p for p in doc.paragraphs if p.start < occurrence.end and occurrence.start < p.end]
            assert touched[0] == doc.paragraphs[occurrence.paragraph - 1]
            assert touched[0].start <= occurrence.start and occurrence.end <= touched[-1].end
            assert all(is_heading(doc.text[p.start : p.end]) for p in touched[:-1])
            joined += len(touched) > 1
    assert joined >= 4  # titles and section headings travel with the text under them


def test_every_paragraph_is_in_a_passage(corpus):
    cleaned, passages = corpus
    for doc in cleaned.values():
        covered = [(o.start, o.end) for p in passages for o in p.occurrences if o.file == doc.file]
        for paragraph in doc.paragraphs:
            assert any(start <= paragraph.start < end or paragraph.start <= start < paragraph.end for start, end in covered), (
                doc.file,
                doc.text[paragraph.start : paragraph.end],
            )


def test_passages_record_the_heading_they_stand_under(corpus):
    _, passages = corpus
    under = {o.heading for p in passages for o in p.occurrences if p.text.startswith("A key feature of the Bukele security model")}
    assert under == {"The Rise of Bukele"}
    # A title with its byline is one passage (searchable), and the text under it cites the title.
    opening = next(p for p in passages if p.text.startswith("International Echoes of El Salvador's Public Security Model"))
    assert opening.text.endswith("Barbara Midziak, Bartłomiej Znojek")
    headings = {o.heading for p in passages for o in p.occurrences if o.file == "csis-burgeoning-regional-appeal-of-mano-dura.txt"}
    assert {"The Rise of Bukele", "Lessons Learned and Recommendations", "Recommendations"} <= headings


def test_shared_text_is_stored_once_citing_both_wola_files(corpus):
    _, passages = corpus
    texts = [p.text for p in passages]
    assert len(texts) == len(set(texts))
    shared = [p for p in passages if "highest incarceration rate in the world" in p.text]
    assert len(shared) == 1
    assert set(shared[0].files) == {WOLA, WOLA_PAGE}
    assert sum(1 for p in passages if set(p.files) == {WOLA, WOLA_PAGE}) >= 5


def test_ids_are_stable_and_distinct(corpus):
    _, passages = corpus
    assert all(p.id == passage_id(p.text) for p in passages)
    assert len({p.id for p in passages}) == len(passages)
    assert all(0 <= p.id < 2**63 for p in passages)


def test_packing_is_balanced_and_bounded():
    assert pack_sentences([None] * 3, [10, 10, 10], max_tokens=100) == [(0, 3)]
    runs = pack_sentences([None] * 5, [40, 40, 40, 40, 40], max_tokens=100)
    assert runs == [(0, 2), (2, 4), (4, 5)]
    # A paragraph just over budget splits in halves, not a full passage and a scrap.
    assert pack_sentences([None] * 4, [30, 30, 30, 30], max_tokens=100) == [(0, 2), (2, 4)]
    # Overlap repeats sentences between runs.
    assert pack_sentences([None] * 4, [30, 30, 30, 30], max_tokens=100, overlap=1) == [(0, 2), (1, 3), (2, 4)]
