"""The gateway process: the project's TypeScript driver, started, watched and stopped by the client.

It runs in a process group of its own (so that Ctrl-C reaches the trainer, which then closes it in
order) with its stdin on a pipe from us: when the client goes, however it goes, the gateway sees its
stdin close and stops its runs, its local workers and its private Redis. Closing also signals the
whole group, so nothing it started outlives it even when it was killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from .errors import GatewayError, UsageError

#: The checkout: `CNSN_CHECKOUT`, else the one this package sits in (clients/python/cnsn -> root).
CHECKOUT = Path(os.environ.get("CNSN_CHECKOUT") or Path(__file__).resolve().parents[3])
MIN_NODE = 20


def find_node() -> str:
    """`CNSN_NODE`, else `node` on PATH, at least version 20; else an error saying what to install."""
    node = os.environ.get("CNSN_NODE") or shutil.which("node")
    if not node:
        raise GatewayError(
            "the gateway needs Node.js >= 20 and found no `node` on PATH; install it (apt-get install nodejs) or set CNSN_NODE"
        )
    probe_env = {**os.environ, "NODE_OPTIONS": ""}  # options meant for the gateway, not for this probe
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False, env=probe_env).stdout.strip()
    major = int(out.lstrip("v").split(".")[0] or 0) if out.startswith("v") else 0
    if major < MIN_NODE:
        raise GatewayError(f"{node} is Node.js {out or 'of unknown version'}; the gateway needs >= {MIN_NODE}")
    return node


def gateway_command(node: str) -> tuple[list[str], dict[str, str], str]:
    """How to start the gateway: `CNSN_GATEWAY` (a bundled file), else this checkout through tsx."""
    env = dict(os.environ)
    bundled = os.environ.get("CNSN_GATEWAY")
    if bundled:
        if not Path(bundled).is_file():
            raise GatewayError(f"CNSN_GATEWAY={bundled} is not a file; build it with `node tools/bundle-apps.mjs`")
        return [node, bundled, "gateway"], env, f"bundle {bundled}"
    entry = CHECKOUT / "apps" / "cli" / "src" / "main.ts"
    loader = CHECKOUT / "node_modules" / "tsx" / "dist" / "loader.mjs"
    if not entry.is_file():
        raise GatewayError(
            f"no gateway: {entry} is missing (this package is not in a cnsn-pipeline checkout); set CNSN_CHECKOUT to a checkout, or CNSN_GATEWAY to a bundle (node tools/bundle-apps.mjs OUT --self-contained: OUT/app/cnsn.mjs)"
        )
    if not loader.is_file():
        raise GatewayError(f"the checkout at {CHECKOUT} has no node_modules; run `npm ci` there first")
    env["TSX_TSCONFIG_PATH"] = str(CHECKOUT / "tsconfig.json")
    return [node, "--import", loader.as_uri(), str(entry), "gateway"], env, f"checkout {CHECKOUT}"


class Gateway:
    """A started gateway: its socket, what it said when ready, its last words on stderr."""

    def __init__(self, args: list[str], private_redis: bool = False, startup_timeout: float = 120.0) -> None:
        node = find_node()
        command, env, self.source = gateway_command(node)
        if private_redis:
            env.pop("REDIS_URL", None)
        self._dir = tempfile.mkdtemp(prefix="cnsn-gateway-")
        self.socket_path = os.path.join(self._dir, "gateway.sock")
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._proc = subprocess.Popen(
            [*command, "--socket", self.socket_path, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        self._forward = threading.Thread(target=self._forward_stderr, args=(sys.stderr,), daemon=True)
        self._forward.start()
        self.info = self._wait_ready(startup_timeout)
        self.info["gateway"]["source"] = self.source
        ready = self.info["gateway"]
        print(
            f"cnsn: gateway pid {self.pid} from the {self.source} on node {ready['node']}; Redis {ready['redis']}"
            f"{' (private)' if ready['private_redis'] else ''}, {len(ready['workers'])} local workers",
            file=sys.stderr,
        )

    def _forward_stderr(self, sink: TextIO) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace")
            self._stderr_tail.append(line.rstrip("\n"))
            try:
                sink.write(line)
                sink.flush()
            except (ValueError, OSError):
                pass

    def _wait_ready(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        box: dict[str, Any] = {}

        def read() -> None:
            assert self._proc.stdout is not None
            box["line"] = self._proc.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = box.get("line", b"")
        if not line:
            self.close()
            raise self._startup_error(timeout if reader.is_alive() else None)
        return json.loads(line)

    def _startup_error(self, timed_out: float | None) -> GatewayError:
        self._forward.join(2)
        said = [l for l in self._stderr_tail if l.startswith("cnsn: error: ")]
        if said:
            message = said[-1][len("cnsn: error: ") :]
            code = self._proc.returncode
            return (UsageError if code == 2 else GatewayError)(message, exit_code=code)
        if timed_out is not None:
            return GatewayError(f"the gateway ({self.source}) was not ready within {timed_out:.0f} s")
        return GatewayError(f"the gateway ({self.source}) exited with status {self._proc.returncode}: {self.last_words()}")

    def last_words(self) -> str:
        lines = [l for l in self._stderr_tail if l.strip()]
        return " | ".join(lines[-3:]) if lines else "(it said nothing)"

    def died(self) -> GatewayError | None:
        """None while it runs; else what to raise: it exited, with its status and last words."""
        code = self._proc.poll()
        if code is None:
            return None
        return GatewayError(
            f"the gateway (pid {self.pid}) exited with status {code}: {self.last_words()}; "
            "connect again and open_run(run_id=..., resume=True) to continue the run"
        )

    def close(self, timeout: float = 30.0) -> None:
        """Stops it in order (stdin closed: runs, workers, Redis), then anything left in its group."""
        proc = self._proc
        if proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                proc.wait()
        # Workers or a Redis it started, when it could not stop them itself (it was killed): asked to
        # stop, then killed, and waited for, so that close() returns with nothing of it left.
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self._group_alive():
                break
            self._signal_group(sig)
            deadline = time.monotonic() + wait_s
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
        if proc.stdout:
            proc.stdout.close()
        self._forward.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
