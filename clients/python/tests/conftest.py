"""Where the repository and the PyTorch reference of the paper's code are, for the tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "clients" / "python"))


@pytest.fixture(scope="session")
def reference():
    """tools/reference/cnsn_reference.py: the paper's algorithm in PyTorch, held to the golden cases."""
    sys.path.insert(0, str(REPO / "tools" / "reference"))
    import cnsn_reference

    return cnsn_reference


PYTHON = sys.executable
CLIENT = REPO / "clients" / "python"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def redis_url(tmp_path):
    """A redis-server of the test's own on a free port (a trainer's long-lived Redis)."""
    import subprocess
    import time

    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        assert time.monotonic() < deadline, "redis-server did not answer"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def client_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(CLIENT)
    env.update(extra)
    return env


def run_python_cli(*args: str, timeout: float = 180):
    """`python3 -m cnsn ARGS` as a user types it; returns the finished process."""
    import subprocess

    return subprocess.run([PYTHON, "-m", "cnsn", *args], capture_output=True, text=True, env=client_env(), timeout=timeout, cwd=REPO)


def run_ts_cli(*args: str, timeout: float = 180):
    """`npm run cnsn -- ARGS` (without npm's own lines)."""
    import subprocess

    loader = (REPO / "node_modules" / "tsx" / "dist" / "loader.mjs").as_uri()
    return subprocess.run(
        ["node", "--import", loader, str(REPO / "apps" / "cli" / "src" / "main.ts"), *args],
        capture_output=True,
        text=True,
        env=client_env(),
        timeout=timeout,
        cwd=REPO,
    )


def last_json(stdout: str) -> dict:
    import json

    return json.loads(stdout.strip().splitlines()[-1])
