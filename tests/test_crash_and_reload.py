"""A build killed with SIGKILL at any moment leaves the previous index usable; a running searcher
follows a rebuild and never answers from a half-switched index."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from index.config import Settings
from index.build.pipeline import build_index
from index.search import Searcher
from index.storage.store import current_version_path, load_version, open_version

# Loads the model once, then for each line on stdin forks a child that rebuilds from scratch, printing
# when its build starts and ends, and reports when the child is gone (finished or killed). Each build
# is a real process killed by a real SIGKILL; only the model load is shared, through fork. The model is
# loaded but never run before a fork, so no thread pool is copied into a child half-alive.
BUILD_ZYGOTE = """
import os, sys, time
from index.config import Settings
from index.build.pipeline import build_index
from index.models.embed import get_embedder
settings = Settings()
embedder = get_embedder(settings.model)
for _ in sys.stdin:
    child = os.fork()
    if child == 0:
        print("start", time.monotonic(), os.getpid(), flush=True)
        build_index(settings, embedder=embedder, full=True)
        print("done", time.monotonic(), os.getpid(), flush=True)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    print("gone", status, flush=True)
"""


class BuildZygote:
    """A process holding the loaded model that forks one full build per `start()`."""

    def __init__(self, settings: Settings) -> None:
        env = dict(os.environ, VERBATIM_SOURCES_DIR=str(settings.sources_dir), VERBATIM_INDEX_DIR=str(settings.index_dir))
        self.process = subprocess.Popen(
            [sys.executable, "-c", BUILD_ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def _next(self, kind: str) -> list[str]:
        """The fields after `kind` of the zygote's next line."""
        line = self.process.stdout.readline().split()
        assert line and line[0] == kind, (kind, line)
        return line[1:]

    def start(self) -> tuple[float, int]:
        """Fork a build; (its start time, its pid)."""
        self.process.stdin.write("build\n")
        self.process.stdin.flush()
        stamp, pid = self._next("start")
        return float(stamp), int(pid)

    def wait_done(self) -> float:
        finished = float(self._next("done")[0])
        self._next("gone")
        return finished

    def kill(self, pid: int) -> int:
        """SIGKILL the build; the wait status the parent saw."""
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # finished and reaped just before
            pass
        line = self.process.stdout.readline().split()
        if line and line[0] == "done":  # it finished just before the signal
            line = self.process.stdout.readline().split()
        assert line and line[0] == "gone", line
        return int(line[1])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_the_previous_index_usable(tmp_path, indexed_copy, embedder):
    settings, sources_copy = indexed_copy, indexed_copy.sources_dir
    (sources_copy / "extra.md").write_text("# Extra\n\nA new report on harbour traffic counted 212 boats in 2024.\n")

    zygote = BuildZygote(settings)
    try:
        # Measure how long one full build takes in a child, then kill children at spread-out moments of it.
        started, _ = zygote.start()
        duration = zygote.wait_done() - started
        for fraction in (0.05, 0.3, 0.55, 0.8, 0.97):
            before = current_version_path(settings.index_dir)
            started, pid = zygote.start()
            time.sleep(max(0.0, started + fraction * duration - time.monotonic()))
            status = zygote.kill(pid)
            # Killed by the signal, or (at 0.97 on a fast run) already finished: both are fine states.
            assert (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL) or os.WEXITSTATUS(status) == 0
            after = current_version_path(settings.index_dir)
            assert after is not None and after.is_dir()
            assert after == before or after.name > before.name  # the old version, or a finished newer one
            index = load_version(settings.index_dir)  # complete and consistent, whichever it is
            assert index.manifest.passage_count == len(index.passages) > 50
            answer = Searcher(settings, embedder).search("How many prisoners does El Salvador hold?", k=3)
            assert any("119,000" in h.passage.text for h in answer.hits)
    finally:
        zygote.close()
    # Nothing was lost: a normal build afterwards finishes and sees every source.
    report = build_index(settings, embedder=embedder)
    assert report.sources == 5 and not report.skipped


def test_searcher_follows_a_rebuild_under_concurrent_questions(tmp_path, indexed_copy, embedder):
    settings, sources_copy = indexed_copy, indexed_copy.sources_dir
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
