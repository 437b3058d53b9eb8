"""The light question encoder gives exactly the sentence-transformers vectors, or is not used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from index.config import Settings
from index.embed import resolve_model
from index.query_encoder import QueryEncoder, get_query_encoder, plain_mean_pooling_model

QUESTIONS = [
    "How many people are in prison in El Salvador?",
    "CECOT",
    "¿Cuántas personas están presas? 萨尔瓦多有多少囚犯？ 🙂",
    "What did the U.S. State Department say about the $7.77 billion budget and the 1.9% figure?",
    " ".join(["a very long question about prisons"] * 120),  # longer than the model reads: truncated alike
]


def test_same_vectors_as_sentence_transformers(embedder):
    encoder = get_query_encoder(Settings().model)
    assert isinstance(encoder, QueryEncoder)
    light, full = encoder.encode(QUESTIONS), embedder.encode(QUESTIONS)
    assert light.shape == full.shape == (len(QUESTIONS), embedder.dimension)
    assert np.min(np.sum(light * full, axis=1)) > 0.99999
    assert np.max(np.abs(light - full)) < 1e-5


def test_other_pipelines_fall_back_to_sentence_transformers(tmp_path):
    source = Path(resolve_model(Settings().model))
    assert plain_mean_pooling_model(source) == 256
    for change in ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, {"pooling_mode_max_tokens": True}):
        copy = tmp_path / "model"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.safetensors"))
        config = json.loads((copy / "1_Pooling" / "config.json").read_text())
        (copy / "1_Pooling" / "config.json").write_text(json.dumps({**config, **change}))
        assert plain_mean_pooling_model(copy) is None
    modules = json.loads((source / "modules.json").read_text())
    (copy / "modules.json").write_text(json.dumps(modules[:2]))  # no Normalize step
    assert plain_mean_pooling_model(copy) is None
    assert plain_mean_pooling_model(tmp_path / "missing") is None
