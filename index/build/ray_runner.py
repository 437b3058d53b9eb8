"""The build's read and embed stages on a Ray cluster (`verbatim build --ray [ADDRESS]`).

Everything else is index/build/pipeline.py's own stages, unchanged: this module is only a `BuildRunner`, and
it calls the same read stage (index/build/stages.py) as the local build.

- read: the driver reads each file's bytes (so nodes need no copy of the sources folder) and skips
  files unchanged since the live version; cleaning and cutting (and OCR of scanned pages) run as Ray
  tasks, a few files each;
- embed: Ray Data `map_batches` over an actor pool, one model load per actor; the passages go in
  longest first, so each batch holds texts of similar length as in the local build. An actor whose
  process dies is restarted and its batch retried (`max_restarts`, `max_task_retries`); every row is
  checked to come back exactly once.

Ray is imported only here, and only when a build asks for it (`pip install -e '.[ray]'`).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.build.stages import SourceFile, SourceOutcome, cut_source, open_source
from index.config import MULTILINGUAL_MODEL, Settings
from index.models.embed import load_embedder
from index.models.model_files import resolve_model
from index.build.ocr_progress import PageMeter, ocr_cache_dir
from index.build.progress import ProgressLines, Report
from index.storage.store import IndexError_
from ingest.ocr import OcrSettings, ocr_settings
from ingest.passages import TokenCounter

LOCAL = "local"  # start a Ray on this machine for the build
BLOCK_ROWS = 128  # passages per embedding task: small enough that the last tasks do not leave workers idle long
READ_TASKS_PER_CPU = 4  # file groups per CPU, so a slow file does not hold up the read stage
# Pages one read task recognizes at once: the read stage already runs several tasks per CPU, so one
# more page in flight only keeps a core busy while another task's tesseract starts.
OCR_THREADS_PER_TASK = 2
RESTARTS = 3  # times a dead embedding actor is restarted, and a batch retried, before the build fails


class RayBuildError(IndexError_):
    """The cluster could not be used or a stage failed there; the live index is untouched."""


def _ray():
    try:
        import ray
    except ImportError as exc:  # the optional extra is not installed
        raise RayBuildError(
            "--ray needs Ray, which is not installed: pip install 'verbatim[ray]' "
            "(in a checkout: pip install -e '.[ray]'), on every node of the cluster"
        ) from exc
    return ray


# ---------------------------------------------------------------- read stage: tasks


@lru_cache(maxsize=2)
def _token_counter(model: str) -> TokenCounter:
    """The model's word-piece counter, loaded once per worker process.

    The tokenizer alone (no weights, no transformers) when the model is a plain local folder, counting
    as the local build does; otherwise the full model's own counter.
    """
    from index.models.onnx_export import exportable_spec

    path = Path(resolve_model(model))
    if path.is_dir() and exportable_spec(path) is not None:
        from index.models.onnx_runtime import parsed_tokenizer

        tokenizer = parsed_tokenizer(str(path / "tokenizer.json"))
        return lambda texts: [len(e.ids) for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)] if texts else []
    from index.models.embed import get_embedder

    return get_embedder(model).count_tokens


def _cut_files(
    sources: list[SourceFile], sources_dir: Path, model: str, max_tokens: int, overlap: int, ocr_cache: Path | None = None
) -> list[SourceOutcome]:
    """Clean and cut a group of files on a worker. Scanned pages are recognized here, with the
    driver's OCR cache when this node can reach it (one machine, a shared disk), else without one;
    each page is reported as a line, which Ray forwards to the driver's log."""
    count_tokens = _token_counter(model)
    outcomes = []
    for source in sources:
        ocr = OcrSettings(cache_dir=ocr_cache, progress=PageMeter(source.file, bars=False), workers=OCR_THREADS_PER_TASK)
        with ocr_settings(ocr):
            outcomes.append(cut_source(source, sources_dir, count_tokens, max_tokens, overlap))
    return outcomes


# ---------------------------------------------------------------- embed stage: actors


class EmbedBatches:
    """A Ray Data actor: loads the model once, then embeds batches of passages as the local build does."""

    def __init__(self, model: str, batch_size: int, threads: int, runtime: str = "onnx") -> None:
        import ray

        # This node's ONNX export when it has one (`verbatim models fetch` on the node), else torch; GPUs use torch.
        self.embedder = load_embedder(model, runtime, threads=threads, device="cuda" if ray.get_gpu_ids() else "cpu")
        self.batch_size, self.threads = batch_size, threads

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        spans = [[tuple(s) for s in json.loads(str(row))] for row in batch["spans"]]
        vectors, sentences = self.embedder.encode_passages(texts, spans, batch_size=self.batch_size, threads=self.threads)
        return {
            "row": np.asarray(batch["row"], dtype=np.int64),
            "vector": vectors,
            "sentences": np.array([s.astype(np.float32).tobytes() for s in sentences], dtype=object),
        }


def _dimension(model: str, runtime: str) -> int:
    return load_embedder(model, runtime, threads=1).dimension


# ---------------------------------------------------------------- the runner


class RayRunner:
    """Runs the build's read and embed stages on a Ray cluster (index/build/pipeline.py's `BuildRunner`).

    `address`: "local" starts a Ray on this machine for the build (stopped after it); anything else
    ("auto", "host:6379", "ray://host:10001") joins that cluster. When this process is already
    connected to Ray (ray.init was called, as the tests do), that connection is used as it is.
    `workers`: embedding actors (0: one per CPU, or per GPU with `gpus_per_worker`).
    """

    def __init__(
        self,
        address: str = LOCAL,
        workers: int = 0,
        gpus_per_worker: float = 0.0,
        actor: type = EmbedBatches,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        self.address, self.workers, self.gpus_per_worker = address, workers, gpus_per_worker
        self.actor, self.block_rows = actor, block_rows
        self.embed_seconds = 0.0
        self._started_here = False
        self._dimension: int | None = None

    # -- connection

    def connect(self) -> None:
        """Join (or start) the cluster, once per runner."""
        ray = _ray()
        if ray.is_initialized():
            return
        options: dict = {"logging_level": logging.WARNING, "log_to_driver": True}
        if self.address == LOCAL:
            # A Ray for this build only: no dashboard, and on the loopback interface, not the machine's address.
            options.update(include_dashboard=False, _node_ip_address="127.0.0.1")
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise RayBuildError(f"cannot reach the Ray cluster at {self.address!r} ({exc}); start it with `ray start --head`") from exc
        self._started_here = True

    def close(self) -> None:
        """Disconnect, if this runner connected (a local Ray started for the build stops with it)."""
        if self._started_here:
            _ray().shutdown()
            self._started_here = False

    def cluster_cpus(self) -> int:
        return max(1, int(_ray().cluster_resources().get("CPU", 1)))

    def largest_node_cpus(self) -> int:
        return max([int(n["Resources"].get("CPU", 0)) for n in _ray().nodes() if n.get("Alive")] or [1])

    def worker_count(self) -> int:
        if self.workers > 0:
            return self.workers
        if self.gpus_per_worker > 0:
            gpus = _ray().cluster_resources().get("GPU", 0)
            return max(1, int(gpus / self.gpus_per_worker))
        return self.cluster_cpus()

    # -- stages

    def read(
        self, paths: list[Path], settings: Settings, known: dict[str, str], progress: bool, lines: bool = False,
        report: Report | None = None,
    ) -> list[SourceOutcome]:
        self.connect()
        ray = _ray()
        outcomes: list[SourceOutcome | None] = [None] * len(paths)
        todo: list[tuple[int, SourceFile]] = []
        for i, path in enumerate(paths):
            opened = open_source(path, settings.sources_dir, known.get(path.relative_to(settings.sources_dir).as_posix()))
            if isinstance(opened, SourceOutcome):
                outcomes[i] = opened
            else:
                todo.append((i, opened))
        if todo:
            groups = min(len(todo), READ_TASKS_PER_CPU * self.cluster_cpus())
            cut = ray.remote(_cut_files).options(max_retries=RESTARTS)
            chunks = [todo[g::groups] for g in range(groups)]
            refs = [
                cut.remote([source for _, source in chunk], settings.sources_dir, settings.model,
                           settings.max_passage_tokens, settings.passage_overlap, ocr_cache_dir(settings))
                for chunk in chunks
            ]
            try:
                results = ray.get(refs)
            except Exception as exc:  # noqa: BLE001 - Ray wraps worker failures in its own types
                raise RayBuildError(f"reading sources on Ray failed: {exc}") from exc
            for chunk, chunk_outcomes in zip(chunks, results, strict=True):
                for (i, _), outcome in zip(chunk, chunk_outcomes, strict=True):
                    outcomes[i] = outcome
        done = f"read {len(paths):,} sources ({len(todo):,} new or changed) on Ray"
        if report is not None:
            report(done, len(paths), len(paths), "files")
        elif progress or lines:
            print(done, file=sys.stderr, flush=True)
        return outcomes  # type: ignore[return-value]

    def embed(
        self, texts: list[str], sentences: list[list[tuple[int, int]]], settings: Settings, progress: bool, lines: bool = False,
        report: Report | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        self.connect()
        ray = _ray()
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        started = time.perf_counter()
        # Longest first, as the local build embeds: each block (one actor call) holds texts of similar length.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        rows = [{"row": i, "text": texts[i], "spans": json.dumps(sentences[i])} for i in order]
        workers = min(self.worker_count(), max(1, math.ceil(len(rows) / self.block_rows)))
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / self.block_rows)))
        # CPU actors share the cluster's cores (an actor lives on one node, so never more than a node has).
        threads = 1 if self.gpus_per_worker else max(1, min(self.cluster_cpus() // workers, self.largest_node_cpus()))
        with warnings.catch_warnings():
            # Ray 2.60 warns that max_restarts/max_task_retries will become named parameters in 2.64 (pinned below it).
            warnings.simplefilter("ignore", DeprecationWarning)
            embedded = dataset.map_batches(
                self.actor,
                fn_constructor_kwargs={
                    "model": settings.model, "batch_size": settings.embed_batch_size, "threads": threads,
                    "runtime": settings.embed_runtime,
                },
                batch_size=self.block_rows,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=threads if not self.gpus_per_worker else 1,
                num_gpus=self.gpus_per_worker or None,
                # A dead actor is restarted and its batch retried a few times, then the build fails (Ray Data's
                # default, -1, would retry forever).
                max_restarts=RESTARTS,
                max_task_retries=RESTARTS,
            )
        vectors: np.ndarray | None = None
        sentence_vectors: list[np.ndarray | None] = [None] * len(texts)
        # A distributed build always reports progress lines, on a terminal too: it can run for hours.
        print(f"embedding {len(texts):,} passages on {workers} Ray worker(s)", file=sys.stderr, flush=True)
        try:
            with ProgressLines("embedding on Ray", len(texts), "passages", interval=5.0, report=report) as meter:
                for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                    if vectors is None:
                        vectors = np.zeros((len(texts), batch["vector"].shape[1]), dtype=np.float32)
                    for row, vector, blob in zip(batch["row"], batch["vector"], batch["sentences"], strict=True):
                        row = int(row)
                        if sentence_vectors[row] is not None:
                            raise RayBuildError(f"passage {row} came back twice from the Ray workers")
                        vectors[row] = vector
                        sentence_vectors[row] = np.frombuffer(blob, dtype=np.float32).reshape(-1, vectors.shape[1])
                    meter.advance(len(batch["row"]))
        except RayBuildError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray Data raises its own wrappers of worker failures
            raise RayBuildError(f"embedding on Ray failed: {exc}") from exc
        missing = sum(s is None for s in sentence_vectors)
        if missing:
            raise RayBuildError(f"{missing} passages did not come back from the Ray workers")
        self._dimension = int(vectors.shape[1])
        self.embed_seconds = time.perf_counter() - started
        return vectors, sentence_vectors  # type: ignore[return-value]

    def embed_multilingual(
        self, texts: list[str], settings: Settings, progress: bool, lines: bool = False, report: Report | None = None
    ) -> np.ndarray:
        """The multilingual part's passage vectors, embedded on Ray actors of the multilingual encoder."""
        dimension, seconds = self._dimension, self.embed_seconds  # of the index's own model: kept
        vectors, _ = self.embed(texts, [[] for _ in texts], settings.with_overrides(model=MULTILINGUAL_MODEL, embed_runtime="onnx"), progress, lines, report)
        self._dimension, self.embed_seconds = dimension, seconds + self.embed_seconds
        return vectors

    def dimension(self, settings: Settings) -> int:
        if self._dimension is None:
            self.connect()
            self._dimension = int(_ray().get(_ray().remote(_dimension).remote(settings.model, settings.embed_runtime)))
        return self._dimension
