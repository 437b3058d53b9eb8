"""Exposure: loopback by default, a password to expose, nothing read from disk is unpickled or evaluated."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from gradio_client import Client

from app.access import AccessError, check_exposure, is_loopback, parse_auth
from tests.conftest import ROOT, cli_env, running_server

PACKAGES = ("ingest", "index", "app", "eval")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on `port`, read from the kernel's socket tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_auth_and_host_rules(monkeypatch):
    monkeypatch.delenv("VERBATIM_AUTH", raising=False)
    assert parse_auth(None) is None
    assert parse_auth("ana:s3cret:with:colons") == ("ana", "s3cret:with:colons")
    monkeypatch.setenv("VERBATIM_AUTH", "env:pw")
    assert parse_auth(None) == ("env", "pw")
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(AccessError, match="user:password"):
            parse_auth(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    assert check_exposure("127.0.0.1", None, False) is None
    with pytest.raises(AccessError, match="--auth"):
        check_exposure("0.0.0.0", None, False)
    assert "no password" in check_exposure("0.0.0.0", None, True)
    assert "password required" in check_exposure("0.0.0.0", ("a", "b"), False)


def test_serve_refuses_to_expose_without_a_password(bundled_settings):
    env = {k: v for k, v in cli_env(bundled_settings).items() if k != "VERBATIM_AUTH"}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--no-build", "--host", "0.0.0.0", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a password" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def password_server(bundled_settings, tmp_path_factory):
    with running_server(bundled_settings, tmp_path_factory.mktemp("auth") / "serve.log", "--auth", "analyst:correct horse") as url:
        yield url


@pytest.mark.slow
def test_password_protected_server_on_loopback(password_server):
    url = password_server
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    # Bound to 127.0.0.1 only (0100007F in the kernel's table), not to every interface.
    assert _listening_addresses(port) == {"0100007F"}
    with pytest.raises(Exception):
        Client(url, verbose=False).predict("CECOT", 3, "hybrid", api_name="/ask")
    with pytest.raises(Exception):
        Client(url, auth=("analyst", "wrong"), verbose=False)
    reply = Client(url, auth=("analyst", "correct horse"), verbose=False).predict(
        "How many people are in prison in El Salvador?", 3, "hybrid", api_name="/ask"
    )
    assert any("119,000" in r["text"] for r in reply["results"])


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")
def test_the_source_view_needs_the_same_login(password_server, bundled_settings):
    """The /source page is a page of the Gradio app: its config and its data need the login the chat needs."""
    from playwright.sync_api import sync_playwright

    from index.storage.store import load_version

    index = load_version(bundled_settings.index_dir)
    occurrence = index.passages[0].occurrences[0]
    text = index.sources[occurrence.file].text[occurrence.start : occurrence.end]
    link = f"{password_server}source?" + urlencode({"file": occurrence.file, "start": occurrence.start, "end": occurrence.end})
    for path in ("config?page=source", "gradio_api/info"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(password_server + path, timeout=10)
        assert refused.value.code == 401
    with urllib.request.urlopen(link, timeout=10) as response:  # the page shell only: no source text in it
        assert text[:40] not in response.read().decode("utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page()
        page.goto(link)
        page.locator("input[type=password]").wait_for(timeout=30000)
        assert page.locator("#vb-source-view").count() == 0 and text[:40] not in page.content()
        page.locator("input[type=text]").fill("analyst")
        page.locator("input[type=password]").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.wait_for_timeout(1500)
        assert page.locator("#vb-focus").count() == 0 and text[:40] not in page.content()
        page.locator("input[type=text]").fill("analyst")
        page.locator("input[type=password]").fill("correct horse")
        page.get_by_role("button", name="Login").click()
        page.locator("#vb-focus").wait_for(timeout=60000)  # back at the same link, now signed in
        assert "".join(m.text_content() for m in page.locator("mark.vb-focus").all()) == text
        browser.close()


def _python_files() -> list[Path]:
    return [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]


def test_nothing_read_from_disk_is_unpickled_or_evaluated():
    """No pickle-family module, no eval/exec, no allow_pickle=True, no torch.load anywhere in the packages."""
    unsafe_modules = {"pickle", "cPickle", "dill", "shelve", "marshal", "joblib", "cloudpickle"}
    problems = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                problems += [where for a in node.names if a.name.split(".")[0] in unsafe_modules]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in unsafe_modules:
                problems.append(where)
            elif isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                # Builtins called by name (a method such as torch's Module.eval() is not the builtin).
                if isinstance(node.func, ast.Name) and name in {"eval", "exec", "compile", "__import__"}:
                    problems.append(where)
                if isinstance(node.func, ast.Attribute) and name == "load" and getattr(node.func.value, "id", "") == "torch":
                    problems.append(where)
                for kw in node.keywords:
                    if kw.arg in {"allow_pickle", "trust_remote_code"} and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        problems.append(f"{where} {kw.arg}")
    assert problems == []
    assert len(_python_files()) > 20  # the scan saw the code base
