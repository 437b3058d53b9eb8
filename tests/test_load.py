"""Load: 20 concurrent API clients (at least 5 questions each; VERBATIM_LOAD_QUESTIONS) while another
process rebuilds the index and switches versions mid-way. Zero errors; every answer comes whole from
one index version, and both versions answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from gradio_client import Client

from eval.datasets import load_gold
from index.storage.store import current_version_path
from tests.conftest import ROOT, cli_env, running_server

CLIENTS = 20
# Each client asks at least this many questions, and keeps asking until the rebuild has switched the
# live version, so both versions answer whatever the machine's speed. `make test` keeps it small; the
# README's load figures come from VERBATIM_LOAD_QUESTIONS=50 (1,000 requests at least).
QUESTIONS_EACH = int(os.environ.get("VERBATIM_LOAD_QUESTIONS", "5"))
SWITCH_AFTER = CLIENTS * QUESTIONS_EACH // 4  # answers completed before the rebuild starts
NEW_SOURCE = """# Harbour Survey 2024

The harbour survey of 2024 counted 212 fishing boats and 17 cargo vessels in the port of Acajutla.
"""


@pytest.mark.slow
def test_concurrent_clients_during_a_rebuild(tmp_path, indexed_copy, artifacts_dir):
    settings = indexed_copy
    first_version = current_version_path(settings.index_dir).name
    questions = [q.question for q in load_gold(ROOT / "eval" / "gold" / "bundled.jsonl")][:50]
    new_file = tmp_path / "harbour-survey.md"
    new_file.write_text(NEW_SOURCE)

    answers: list[tuple[float, dict]] = []
    errors: list[str] = []
    lock = threading.Lock()
    rebuild: dict = {}

    def client_run(offset: int, url: str) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none is fatal to the others
            with lock:
                errors.append(f"connect: {exc!r}")
            return
        i = after_switch = 0
        while i < QUESTIONS_EACH or after_switch < 2:  # two more once the new version is live
            after_switch += "answers_before_switch_done" in rebuild
            question = questions[(offset + i) % len(questions)]
            i += 1
            started = time.perf_counter()
            try:
                reply = client.predict(question, 5, "hybrid", api_name="/ask")
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"{question!r}: {exc!r}")
                continue
            elapsed = time.perf_counter() - started
            with lock:
                if "error" in reply:
                    errors.append(f"{question!r}: {reply['error']}")
                answers.append((elapsed, reply))

    def rebuild_when_busy() -> None:
        while True:
            with lock:
                if len(answers) >= SWITCH_AFTER or errors:
                    break
            time.sleep(0.05)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "add", str(new_file)],
            env=cli_env(settings), capture_output=True, text=True, timeout=300,
        )
        rebuild.update(returncode=result.returncode, stderr=result.stderr, seconds=time.perf_counter() - started)
        with lock:
            rebuild["answers_before_switch_done"] = len(answers)

    wall_started = time.perf_counter()
    with running_server(settings, tmp_path / "serve.log") as url:
        threads = [threading.Thread(target=client_run, args=(n * 7, url)) for n in range(CLIENTS)]
        threads.append(threading.Thread(target=rebuild_when_busy))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=540)
        assert not any(t.is_alive() for t in threads), "load test did not finish in time"
        wall = time.perf_counter() - wall_started

    assert rebuild.get("returncode") == 0, rebuild
    assert errors == [], errors[:5]
    assert len(answers) >= CLIENTS * QUESTIONS_EACH

    # Every answer is consistent with the one version it names: each passage exists there, with that text.
    versions: dict[str, dict[int, str]] = {}
    for name in {reply["version"] for _, reply in answers}:
        path = settings.index_dir / name
        assert path.is_dir(), f"answer names version {name}, which is not on disk"
        with (path / "passages.jsonl").open() as fh:
            versions[name] = {(p := json.loads(line))["id"]: p["text"] for line in fh}
    for _, reply in answers:
        passages = versions[reply["version"]]
        for result in reply["results"]:
            assert passages.get(result["passage_id"]) == result["text"]
    second_version = current_version_path(settings.index_dir).name
    assert second_version != first_version
    assert set(versions) == {first_version, second_version}, "the switch did not happen while clients were asking"
    counts = {name: sum(reply["version"] == name for _, reply in answers) for name in versions}

    latencies = np.array([elapsed for elapsed, _ in answers]) * 1000
    figures = {
        "clients": CLIENTS,
        "questions_per_client_at_least": QUESTIONS_EACH,
        "requests": len(answers),
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "max_ms": round(float(latencies.max()), 1),
        "throughput_per_s": round(len(answers) / wall, 1),
        "wall_s": round(wall, 1),
        "answers_per_version": counts,
        "rebuild_seconds": round(rebuild["seconds"], 1),
    }
    (artifacts_dir / "load.json").write_text(json.dumps(figures, indent=2))
    print("\nload:", json.dumps(figures))
