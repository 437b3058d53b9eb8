"""A build killed with SIGKILL at any moment leaves the previous index usable; a running searcher
follows a rebuild and never answers from a half-switched index."""

import os
import signal
import subprocess
import sys
import threading
import time

from index.config import Settings
from index.build import build_index
from index.search import Searcher
from index.store import current_version_path, load_version, open_version

# Loads the model, then rebuilds from scratch in a loop, printing when each build starts and ends.
BUILD_LOOP = """
import sys, time
from index.config import Settings
from index.build import build_index
from index.embed import get_embedder
settings = Settings()
embedder = get_embedder(settings.model)
while True:
    print("start", time.monotonic(), flush=True)
    build_index(settings, embedder=embedder, full=True)
    print("done", time.monotonic(), flush=True)
"""


def _spawn(settings: Settings) -> subprocess.Popen:
    env = dict(os.environ, VERBATIM_SOURCES_DIR=str(settings.sources_dir), VERBATIM_INDEX_DIR=str(settings.index_dir))
    return subprocess.Popen([sys.executable, "-c", BUILD_LOOP], stdout=subprocess.PIPE, text=True, env=env)


def _next_event(process: subprocess.Popen) -> tuple[str, float]:
    kind, stamp = process.stdout.readline().split()
    return kind, float(stamp)


def test_sigkill_at_any_moment_leaves_the_previous_index_usable(tmp_path, sources_copy, embedder):
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder)
    (sources_copy / "extra.md").write_text("# Extra\n\nA new report on harbour traffic counted 212 boats in 2024.\n")

    # Measure how long one full build takes in the child, then kill it at spread-out moments of it.
    process = _spawn(settings)
    try:
        _, started = _next_event(process)
        _, finished = _next_event(process)
    finally:
        process.kill()
        process.wait()
    duration = finished - started
    for fraction in (0.05, 0.3, 0.55, 0.8, 0.97):
        before = current_version_path(settings.index_dir)
        process = _spawn(settings)
        try:
            _, started = _next_event(process)
            time.sleep(max(0.0, started + fraction * duration - time.monotonic()))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        after = current_version_path(settings.index_dir)
        assert after is not None and after.is_dir()
        assert after == before or after.name > before.name  # the old version, or a finished newer one
        index = load_version(settings.index_dir)  # complete and consistent, whichever it is
        assert index.manifest.passage_count == len(index.passages) > 50
        answer = Searcher(settings, embedder).search("How many prisoners does El Salvador hold?", k=3)
        assert any("119,000" in h.passage.text for h in answer.hits)
    # Nothing was lost: a normal build afterwards finishes and sees every source.
    report = build_index(settings, embedder=embedder)
    assert report.sources == 5 and not report.skipped


def test_searcher_follows_a_rebuild_under_concurrent_questions(tmp_path, sources_copy, embedder):
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder)
    searcher = Searcher(settings, embedder)
    first = searcher.index().path.name
    errors: list[BaseException] = []
    answers = []
    stop = threading.Event()

    def ask():
        questions = ["How many prisoners does El Salvador hold?", "How many boats were counted in the harbour?"]
        i = 0
        while not stop.is_set():
            try:
                answer = searcher.search(questions[i % 2], k=5)
                index = load_version_cached(answer.version)
                ids = {p.id for p in index.passages}
                assert all(h.passage.id in ids for h in answer.hits)
                answers.append(answer.version)
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)
            i += 1

    cache = {}

    def load_version_cached(name):
        if name not in cache:
            cache[name] = open_version(settings.index_dir / name)
        return cache[name]

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while first not in answers and time.monotonic() < deadline and not errors:
            time.sleep(0.1)
        (sources_copy / "harbour.md").write_text("# Harbour\n\nThe harbour survey counted 212 fishing boats in 2024.\n")
        second = build_index(settings, embedder=embedder).version.name
        deadline = time.monotonic() + 30
        while second not in answers and time.monotonic() < deadline and not errors:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert set(answers) <= {first, second} and second in answers and first in answers
    assert "212 fishing boats" in searcher.search("How many boats were counted in the harbour?", k=1).hits[0].passage.text
