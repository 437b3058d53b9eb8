"""The Ray build (`verbatim build --ray`) on a local Ray cluster started by this module: the same index
as a local build, incremental semantics, a worker killed mid-build, a failed build, and Ray staying optional."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from index.build.pipeline import build_index
from index.config import Settings
from index.storage.store import current_version_path, load_version, open_version
from tests.conftest import free_port

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

from index.build.ray_runner import EmbedBatches, RayBuildError, RayRunner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HARBOUR = "# Harbour Survey\n\nThe harbour survey of 2024 counted 212 fishing boats in the port of Acajutla.\n"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local Ray cluster (2 CPUs) for the whole module, started by `ray start --head` in a process of
    its own, as a real cluster is; the builds below join it.

    Started from this test process instead, Ray forks its daemons from a process whose other threads (a
    Milvus client's gRPC, model thread pools) may hold a lock at the fork: in one CI run the raylet never
    came up ("The current node timed out during startup")."""
    port = free_port()
    log = tmp_path_factory.mktemp("ray") / "ray-start.log"
    environment = pytest.MonkeyPatch()
    # A loopback cluster for this module only: no auth token to share between the head and this driver.
    environment.setenv("RAY_AUTH_MODE", "disabled")
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
               "--include-dashboard=false", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    with log.open("w") as out:
        # No draining on SIGTERM (it waits up to 30 s for work to move off a node): nothing runs at teardown.
        env = dict(os.environ, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ray.init(address=f"127.0.0.1:{port}", logging_level="WARNING", _node_ip_address="127.0.0.1")
                break
            except Exception:  # noqa: BLE001 - not up yet; the log says why if it never comes up
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        # This module's actor classes travel by value: Ray workers cannot import a pytest test module.
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        yield
    finally:
        ray.shutdown()
        os.killpg(head.pid, signal.SIGTERM)  # the head, and the GCS, raylet and workers it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        environment.undo()  # RAY_AUTH_MODE as it was before the module


class DyingOnceEmbedBatches(EmbedBatches):
    """Kills its own process on its first batch, once per build (a marker file records the pid)."""

    marker = ""

    def __call__(self, batch):
        path = Path(self.marker)
        if not path.exists():
            path.write_text(str(os.getpid()))
            os._exit(1)
        return super().__call__(batch)


class FailingEmbedBatches(EmbedBatches):
    """Fails every batch (a bug, not a dead process: Ray does not retry it)."""

    def __call__(self, batch):
        raise ValueError("embedding failed on purpose")


def _same_index(version, reference) -> None:
    """Identical passages, ids, offsets, sources and manifest (but the build time); vectors within 1e-5."""
    assert [p.to_dict() for p in version.passages] == [p.to_dict() for p in reference.passages]
    assert {f: s.to_dict() for f, s in version.sources.items()} == {f: s.to_dict() for f, s in reference.sources.items()}
    mine, theirs = version.manifest.to_dict(), reference.manifest.to_dict()
    # A build without the multilingual part (these tests' default, tests/conftest.py) against the bundled index,
    # which has one: the rest must agree.
    skipped = ("multilingual",) if version.multilingual is None else ()
    for key in ("built_at", "files", *skipped):
        mine.pop(key), theirs.pop(key)
    assert mine == theirs
    exact = ("passages.jsonl", "documents.jsonl", "sentence_rows.npy")  # (the multilingual files differ by fp16 rounding)
    assert {f: version.manifest.files[f] for f in exact} == {f: reference.manifest.files[f] for f in exact}
    assert np.abs(version.vectors - reference.vectors).max() <= 1e-5
    assert np.abs(version.sentence_matrix.astype(np.float32) - reference.sentence_matrix.astype(np.float32)).max() <= 1e-3
    if version.multilingual is not None:  # the multilingual part, embedded on Ray too (fp16)
        assert version.multilingual.languages == reference.multilingual.languages
        assert np.abs(version.multilingual.vectors() - reference.multilingual.vectors()).max() <= 1e-3


def test_cli_ray_build_equals_the_local_build_and_prints_progress(ray_cluster, bundled_settings, tmp_path, capsys):
    index_dir = tmp_path / "index"
    code = cli_main(
        ["build", "--ray", "--multilingual", "--sources-dir", str(bundled_settings.sources_dir), "--index-dir", str(index_dir)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    reference = load_version(bundled_settings.index_dir)
    n = len(reference.passages)
    assert f"({n} embedded, 0 reused)" in out
    assert f"embedding on Ray: {n:,}/{n:,} passages (100.0%) in " in err and "/s" in err
    _same_index(load_version(index_dir), reference)
    assert ray.is_initialized()  # the module's cluster was joined, not replaced or stopped


def test_killed_worker_is_retried_then_incremental_build_embeds_only_new_text(
    ray_cluster, bundled_settings, tmp_path, sources_copy, embedder
):
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    marker = tmp_path / "killed.pid"
    DyingOnceEmbedBatches.marker = str(marker)
    # Several batches, so the build goes on around the one whose worker died.
    dying = RayRunner(workers=2, actor=DyingOnceEmbedBatches, block_rows=16)
    report = build_index(settings, full=True, runner=dying)
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # that worker process really died
    reference = load_version(bundled_settings.index_dir)
    assert report.embedded == len(reference.passages)
    _same_index(load_version(settings.index_dir), reference)  # no passage lost or doubled

    # Incremental: one source added, one removed; only the new passages are embedded.
    (sources_copy / "harbour.md").write_text(HARBOUR)
    pism = next(p for p in sources_copy.iterdir() if p.name.startswith("pism"))
    pism.unlink()
    report = build_index(settings, runner=RayRunner(workers=1))
    version = load_version(settings.index_dir)
    harbour = [p for p in version.passages if "harbour.md" in p.files]
    assert harbour and report.embedded == len(harbour) and report.reused == len(version.passages) - len(harbour)
    assert all(pism.name not in p.files for p in version.passages) and pism.name not in version.sources
    # The local reference: the bundled index brought up to date by the local incremental build (which
    # equals a full build: tests/test_library.py).
    local = settings.with_overrides(index_dir=tmp_path / "local")
    shutil.copytree(bundled_settings.index_dir, local.index_dir)
    build_index(local, embedder=embedder)
    _same_index(version, load_version(local.index_dir))


def test_failed_ray_build_leaves_the_previous_index_live(ray_cluster, bundled_settings, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(bundled_settings.index_dir, index_dir)
    before = current_version_path(index_dir)
    settings = bundled_settings.with_overrides(index_dir=index_dir)
    with pytest.raises(RayBuildError, match="embedding on Ray failed"):
        build_index(settings, full=True, runner=RayRunner(workers=1, actor=FailingEmbedBatches))
    assert current_version_path(index_dir) == before
    assert not list(index_dir.glob(".tmp-*"))
    assert len(open_version(before).passages) == len(load_version(bundled_settings.index_dir).passages)


def test_ray_is_imported_only_by_a_ray_build():
    code = "import sys, app.cli, index.build.pipeline, index.search, app.web; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=300).returncode == 0
