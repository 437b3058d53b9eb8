"""Shared fixtures: the real model and one real index of the bundled sources per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from index.config import Settings
from index.build.pipeline import build_index
from index.models.embed import get_embedder

# Builds in tests skip the multilingual part (a second, 12-layer encoder over every passage) unless they ask for it:
# the shared index of the bundled sources has it, and tests/test_multilingual.py builds the others that need it.
# VERBATIM_MULTILINGUAL=1 runs the whole suite with it.
os.environ.setdefault("VERBATIM_MULTILINGUAL", "0")

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sources"
ARTIFACTS = ROOT / "tests" / "artifacts"

# Modules by the wall time `make test` gave them (2 workers, longest first; README "Test suite").
# xdist's loadscope hands modules out in collection order, so starting with the longest lets the two
# workers end together: the short modules fill in last, instead of one worker starting a long one
# while the other has nothing left to run. Modules not listed follow, in file order.
LONGEST_FIRST = (
    "test_eval_run", "test_reader", "test_ocr", "test_hostile_app", "test_sync", "test_vector_store", "test_ray_build", "test_query_encoder", "test_bench", "test_bench_api", "test_python_api", "test_lean_index", "test_milvus_server",
    "test_crash_and_reload", "test_browser_sources", "test_load", "test_large_file", "test_web_sources",
    "test_browser_read", "test_rerank", "test_index_faults", "test_library", "test_questions", "test_sources_lifecycle",
    "test_web", "test_browser_hostile", "test_exposure", "test_store",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rpartition(".")[2], len(rank)))  # stable: file order within


@pytest.fixture(scope="session")
def embedder():
    """What a build embeds with: the model's ONNX export once `make setup` (or a build) made it."""
    return get_embedder(Settings().model)


@pytest.fixture(scope="session")
def torch_embedder():
    """The model as sentence-transformers runs it: the reference the ONNX path must reproduce."""
    return get_embedder(Settings().model, "torch")


@pytest.fixture(scope="session")
def bundled_settings(tmp_path_factory, embedder) -> Settings:
    """Settings pointing at a fresh index of the bundled sources (with its multilingual part), built once."""
    index_dir = tmp_path_factory.mktemp("index")
    settings = Settings(sources_dir=SOURCES, index_dir=index_dir, multilingual=True)
    build_index(settings, embedder=embedder, full=True)
    return settings


@pytest.fixture()
def sources_copy(tmp_path) -> Path:
    """A writable copy of the bundled sources folder."""
    target = tmp_path / "sources"
    shutil.copytree(SOURCES, target)
    return target


@pytest.fixture()
def indexed_copy(tmp_path, sources_copy, bundled_settings) -> Settings:
    """A writable copy of the bundled sources with a copy of their built index: the state a fresh build
    of the copy leaves (the index holds no paths), for tests whose subject is what happens next."""
    shutil.copytree(bundled_settings.index_dir, tmp_path / "index")
    return Settings(sources_dir=sources_copy, index_dir=tmp_path / "index", multilingual=True)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["VERBATIM_SOURCES_DIR"] = str(settings.sources_dir)
    env["VERBATIM_INDEX_DIR"] = str(settings.index_dir)
    # The index's own build setting: a command that finds the setting changed rebuilds (the shared bundled index
    # would lose its multilingual part to a CLI run under the suite's default of none).
    env["VERBATIM_MULTILINGUAL"] = "1" if settings.multilingual else "0"
    return env


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, seconds: float = 120) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {seconds}s")


@contextmanager
def running_server(settings: Settings, log_path: Path, *extra_args: str) -> Iterator[str]:
    """`verbatim serve --no-build` on a free loopback port for `settings`; yields its URL."""
    import subprocess
    import sys

    port = free_port()
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--no-build", "--port", str(port), *extra_args],
            env=cli_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def server_url(bundled_settings, tmp_path_factory):
    """The app over the bundled index."""
    with running_server(bundled_settings, tmp_path_factory.mktemp("server") / "serve.log") as url:
        yield url


@contextmanager
def served_copy_of_sources(root: Path, built: Settings) -> Iterator[tuple[str, Settings]]:
    """A writable copy of the bundled sources and of their index `built` under `root`, served; yields (url, settings)."""
    shutil.copytree(SOURCES, root / "sources")
    shutil.copytree(built.index_dir, root / "index")
    settings = Settings(sources_dir=root / "sources", index_dir=root / "index")
    with running_server(settings, root / "serve.log") as url:
        yield url, settings
