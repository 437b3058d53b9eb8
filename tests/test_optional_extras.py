"""The runtime install (`make serve`) has neither Milvus nor Ray: nothing imports them until a user asks
for `--store milvus` or `--ray`, and then one line names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs in a fresh interpreter where pymilvus, milvus_lite and ray cannot be found, as after `make setup`.
PROBE = textwrap.dedent(
    """
    import importlib.util, sys
    MISSING = ("pymilvus", "milvus_lite", "ray")

    class Missing:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in MISSING:
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Missing())
    original = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in MISSING else original(name, *a)

    import app.cli, app.web, index.build.pipeline, index.search, index.storage.vector_store, index.build.ray_runner
    assert not [m for m in sys.modules if m.split(".")[0] in MISSING], "imported at import time"
    from index.config import ConfigError
    from index.build.ray_runner import RayBuildError, _ray
    from index.storage.vector_store import milvus_client

    for uri in ("/tmp/never-made.db", "http://127.0.0.1:1"):
        try:
            milvus_client(uri)
        except ConfigError as exc:
            print("milvus:", exc)
    try:
        _ray()
    except RayBuildError as exc:
        print("ray:", exc)
    """
)


def test_milvus_and_ray_are_imported_only_when_asked_for_and_name_their_extra():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert "milvus-lite" in lines[0] or "pymilvus" in lines[0]
    assert all("pip install 'verbatim[milvus]'" in line for line in lines[:2])
    assert "pymilvus" in lines[1]  # a server URI needs pymilvus only
    assert "pip install 'verbatim[ray]'" in lines[2]
