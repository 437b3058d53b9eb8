"""One Settings object: paths, model and search parameters, from defaults, env vars and flags.

It lives in index/ because the build and the search read it; app/ and eval/ import it from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_MODEL = "bundled:all-MiniLM-L6-v2"
DEFAULT_RERANKER = "ms-marco-MiniLM-L-12-v2-int8"  # a packaged cross-encoder (index/models/model_files.py)
# The multilingual encoder of every index's multilingual part (index/models/trained/multilingual-e5-small).
MULTILINGUAL_MODEL = "multilingual-e5-small-en-es"
MULTILINGUAL_CODECS = ("8bit", "fp16", "fp32")  # index/storage/multilingual.py


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default)).expanduser()


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise ConfigError(f"{name}={value!r}: use 1 or 0")
    return default


def _trash_limit(name: str) -> int:
    from ingest.trash import env_limit

    try:
        return env_limit(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


STORES = ("faiss", "milvus")  # where passage vectors are searched
LEXICAL_BACKENDS = ("bm25s", "milvus")  # where BM25 runs
EMBED_RUNTIMES = ("onnx", "torch")  # what embeds passages in a build


class ConfigError(ValueError):
    """Settings that cannot work together; the message says what to change."""


def cpu_threads() -> int:
    """Threads one process gives a model session, a build's embedder or FAISS: $VERBATIM_THREADS, else
    one per core. A property of the process, not of an index or a question.

    Lower it where processes share the cores: threads that wait for a core another process holds cost
    CPU time and gain nothing.
    """
    value = os.environ.get("VERBATIM_THREADS", "").strip()
    if not value:
        return max(1, os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"VERBATIM_THREADS={value!r}: give a number of threads, 1 or more")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Everything a build or a search depends on. Build parameters are recorded in the manifest."""

    sources_dir: Path = field(default_factory=lambda: _env_path("VERBATIM_SOURCES_DIR", "sources"))
    index_dir: Path = field(default_factory=lambda: _env_path("VERBATIM_INDEX_DIR", "var/index"))
    # Where removed sources wait to be restored; unset: the sources folder's own trash (sources/.trash),
    # so a trash belongs to one collection (a shared var/trash let one collection restore another's files).
    trash_dir: Path | None = field(default_factory=lambda: _env_path("VERBATIM_TRASH_DIR", "") if os.environ.get("VERBATIM_TRASH_DIR") else None)
    # What the trash keeps (ingest/trash.py; `verbatim restore --list` prints it): the last `trash_versions`
    # replaced versions of one file (a watched file saved 100 times leaves 3, not 100), entries for
    # `trash_max_days`, and at most `trash_max_mb`, the oldest going first. The newest entry always stays;
    # 0 turns a limit off.
    trash_versions: int = field(default_factory=lambda: _trash_limit("versions"))
    trash_max_days: int = field(default_factory=lambda: _trash_limit("max_days"))
    trash_max_mb: int = field(default_factory=lambda: _trash_limit("max_mb"))
    model: str = field(default_factory=lambda: os.environ.get("VERBATIM_MODEL", DEFAULT_MODEL))
    # Where passage vectors are searched: "faiss" (files in the index, default) or "milvus" at milvus_uri
    # (a file path runs embedded milvus-lite; http(s)://host:19530 a Milvus server or cluster).
    store: str = field(default_factory=lambda: os.environ.get("VERBATIM_STORE", "faiss"))
    milvus_uri: str = field(default_factory=lambda: os.environ.get("VERBATIM_MILVUS_URI", ""))
    # Where BM25 runs: "bm25s" (files in the index, default) or "milvus" (Milvus full-text search in the
    # same collection as the vectors; needs store "milvus").
    lexical: str = field(default_factory=lambda: os.environ.get("VERBATIM_LEXICAL", "bm25s"))
    # Build on a Ray cluster (index/build/ray_runner.py): "" builds here; "local" starts a Ray on this machine for
    # the build; "auto" or "host:6379" or "ray://host:10001" joins a running cluster.
    ray_address: str = field(default_factory=lambda: os.environ.get("VERBATIM_RAY_ADDRESS", ""))
    ray_workers: int = 0  # embedding actors; 0: one per CPU of the cluster (per GPU with ray_gpus)
    ray_gpus: float = 0.0  # GPUs per embedding actor (0: CPU actors)
    # Passage granularity (word pieces of the embedding model, which reads at most 256).
    max_passage_tokens: int = 250
    passage_overlap: int = 0
    # Passages per model call in a build: 16 built the 1,066-passage bench corpus at 55 passages/s against 43-48 at
    # 64 (onnxruntime, 2 cores; README "Performance"): a batch is padded to its longest text.
    embed_batch_size: int = 16
    # What embeds passages in a build: "onnx" runs this machine's verified ONNX export of the model when
    # there is one (same vectors, no torch; index/models/embed.py), else sentence-transformers; "torch" always
    # sentence-transformers. Not a build parameter: the vectors agree to cosine >= 0.99999.
    embed_runtime: str = field(default_factory=lambda: os.environ.get("VERBATIM_EMBED_RUNTIME", "onnx"))
    # Past this many passages the dense index is an HNSW graph instead of exact search: chosen by
    # `verbatim bench` (README "Performance"), where exact search stops being cheap and recall@10 stays >= 0.98.
    ann_threshold: int = 50_000
    # The multilingual part of each version (index/storage/multilingual.py): every passage embedded a second time by
    # MULTILINGUAL_MODEL, stored with `multilingual_codec`, so questions in other languages than English are answered
    # and English questions reach passages in other languages (docs/crosslingual.md). `--no-multilingual` skips it.
    multilingual: bool = field(default_factory=lambda: _env_flag("VERBATIM_MULTILINGUAL", True))
    # fp16, not 8-bit: the same XQuAD-es hit@1 / hit@5 (0.916 / 0.993, docs/crosslingual.md), and a rebuild that
    # decodes and re-stores unchanged passages' vectors gets the same bytes back (8-bit retrains its ranges: drift).
    multilingual_codec: str = "fp16"
    # An English question on a collection with passages in other languages: the `crosslingual_candidates` of those
    # nearest it by the multilingual encoder join the candidates, and the best of them takes the last place shown
    # when its multilingual cosine is within `crosslingual_margin` of the first shown passage's (docs/crosslingual.md).
    crosslingual_candidates: int = 10
    crosslingual_margin: float = 0.05
    # The multilingual route abstains when the best passage's multilingual cosine is below this: chosen on XQuAD-es's
    # questions asked of the bundled corpus (0.640 abstain) and 10 Spanish questions about it (all answered; the lowest
    # scores 0.801), `python -m eval.studies.multilingual_part --parts offcorpus`. Near-topic unanswerable questions
    # (SQuAD-es) need the multilingual reader: their best cosine is the answerable ones' (0.819 against 0.829).
    multilingual_abstain_below: float = 0.78
    # Search.
    k: int = 5
    mode: str = "hybrid"
    candidates: int = 100
    # Fusion chosen by `python -m eval.studies.fusion_study` (README "Quality"): a convex blend of the
    # semantic score and BM25 scaled by its best score, beating both retrievers on every benchmark.
    fusion: str = "convex"
    lexical_shift: float = 0.0
    # Passage semantic score = (1 - w) * passage cosine + w * best sentence cosine.
    sentence_weight: float = 0.5
    dense_weight: float = 0.8
    # Abstain when no sentence of any candidate is this similar (cosine) to the question.
    # Calibrated by `python -m eval.studies.calibrate` (README "Quality"), not guessed.
    abstain_below: float = 0.407
    # A source's best passage joins the results when it scores at least this fraction of the top.
    diversify_ratio: float = 0.8
    evidence_margin: float = 0.1
    # Second stage (index/models/rerank.py), chosen by `python -m eval.studies.answer_study rank` (README "Quality"):
    # the top `rerank_top` fused candidates are read by a cross-encoder, as a window of `rerank_window_chars`
    # around each one's best sentence ("window") or as that window and, for the first `rerank_passages`
    # of them, the whole passage, keeping the higher logit ("max"), and re-ordered by the CE probability
    # blended with the fused score (weight 0: the passages read whole are the costly part, and reading
    # more than the first 3 changed no ranking in the study).
    rerank: bool = field(default_factory=lambda: _env_flag("VERBATIM_RERANK", True))
    reranker: str = field(default_factory=lambda: os.environ.get("VERBATIM_RERANKER", DEFAULT_RERANKER))
    rerank_top: int = 10
    rerank_window_chars: int = 400
    rerank_fused_weight: float = 0.0
    rerank_text: str = "max"
    rerank_passages: int = 3
    # Evidence of the top hit of a reranked search (the others keep the cosine's): cross-encoder logit per
    # sentence + evidence_bi_weight x 10 x the cosine/term score; sentences within the margin are highlighted too.
    evidence_bi_weight: float = 1.0
    evidence_rerank_margin: float = 6.0
    # The trained reader (index/models/reader.py) reads the first `reader_top` shown passages: the words that answer,
    # marked inside the evidence, and its no-answer score for the decision. A passage counts as answering
    # (its span marked, a line in "what each source says") when its span beats "no answer" by `answer_margin`.
    read: bool = field(default_factory=lambda: _env_flag("VERBATIM_READ", True))
    reader_top: int = 5
    answer_margin: float = 0.0

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ConfigError(f"unknown store {self.store!r}: use {' or '.join(STORES)}")
        if self.lexical not in LEXICAL_BACKENDS:
            raise ConfigError(f"unknown lexical backend {self.lexical!r}: use {' or '.join(LEXICAL_BACKENDS)}")
        if self.embed_runtime not in EMBED_RUNTIMES:
            raise ConfigError(f"unknown embedding runtime {self.embed_runtime!r}: use {' or '.join(EMBED_RUNTIMES)}")
        if self.multilingual_codec not in MULTILINGUAL_CODECS:
            raise ConfigError(f"unknown multilingual codec {self.multilingual_codec!r}: use {' or '.join(MULTILINGUAL_CODECS)}")
        if self.lexical == "milvus" and self.store != "milvus":
            raise ConfigError("--lexical milvus needs --store milvus: BM25 then runs in the Milvus collection")
        for name in ("trash_versions", "trash_max_days", "trash_max_mb"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)!r}: give a whole number, 0 or more (0: no limit)")
        cpu_threads()  # VERBATIM_THREADS is read where sessions are made; a bad value is said here, at start

    @property
    def trash(self) -> Path:
        """The trash folder: `trash_dir`, or the sources folder's own (sources/.trash)."""
        from ingest.metadata import TRASH_FOLDER  # a name, imported late: the CLI starts without ingest/

        return Path(self.trash_dir) if self.trash_dir else Path(self.sources_dir) / TRASH_FOLDER

    @property
    def old_trash(self) -> Path | None:
        """Where the trash was before it moved into the sources folder ("trash" beside the index folder,
        shared by collections side by side); still read, for removals made then. None with `trash_dir`."""
        return None if self.trash_dir else Path(self.index_dir).parent / "trash"

    @property
    def milvus_address(self) -> str:
        """The Milvus URI; by default a milvus-lite file beside the index."""
        return self.milvus_uri or str(Path(self.index_dir) / "milvus.db")

    def with_overrides(self, **overrides) -> Settings:
        """A copy with the given fields replaced; None values are ignored (unset CLI flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def _given(cls, **values) -> Settings:
        # Built in one step so flags and environment are checked together (--store milvus with VERBATIM_LEXICAL=milvus).
        return cls(**{k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_args(cls, args) -> Settings:
        """Defaults and environment, overridden by the command-line flags that were given."""
        mode = getattr(args, "mode", None)
        return cls._given(
            sources_dir=getattr(args, "sources_dir", None),
            index_dir=getattr(args, "index_dir", None),
            trash_dir=getattr(args, "trash_dir", None),
            trash_versions=getattr(args, "trash_versions", None),
            trash_max_days=getattr(args, "trash_max_days", None),
            trash_max_mb=getattr(args, "trash_max_mb", None),
            model=getattr(args, "model", None),
            mode=mode.partition("+")[0] if mode and mode != "all" else None,  # eval's "hybrid+rerank" is hybrid
            max_passage_tokens=getattr(args, "passage_tokens", None),
            passage_overlap=getattr(args, "passage_overlap", None),
            store=getattr(args, "store", None),
            milvus_uri=getattr(args, "milvus_uri", None),
            lexical=getattr(args, "lexical", None),
            ray_address=getattr(args, "ray", None),
            ray_workers=getattr(args, "ray_workers", None),
            ray_gpus=getattr(args, "ray_gpus", None),
            rerank=getattr(args, "rerank", None),
            reranker=getattr(args, "reranker", None),
            read=getattr(args, "read", None),
            multilingual=getattr(args, "multilingual", None),
        )
