"""`cnsn.connect` and its runs: the API of PYTHON.md over the gateway's socket."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .batch import Batch
from .batch_check import as_float32_nchw
from .errors import CnsnError, GatewayError, UsageError, from_frame
from .frames import recv_exact_into, recv_header, send_frame, skip_payload
from .gateway import Gateway
from .placed import put_input, read_result
from .shm_link import ShmLink

#: Socket buffers asked for (the kernel may give less): fewer system calls per large batch.
_SOCKET_BUFFER = 8 << 20

#: How tensors cross between the client and its gateway.
LINKS = ("shm", "socket")

OutputBuffers = Callable[[int, tuple[int, ...]], np.ndarray]


def connect(
    redis: str | None = None,
    workers_local: int | None = None,
    *,
    backend: str | None = None,
    prefix: str | None = None,
    queue: str | None = None,
    gateway_args: list[str] | None = None,
    link: str = "shm",
) -> Pipeline:
    """Starts a gateway and returns the pipeline it drives.

    `redis=None`: a private redis-server for this pipeline (REDIS_URL is not read), with
    `workers_local` local workers (None: 2 with a private Redis, else 0).
    """
    args: list[str] = []
    if redis is not None:
        args += ["--redis", redis]
    if workers_local is not None:
        args += ["--workers-local", str(int(workers_local))]
    for flag, value in (("--backend", backend), ("--prefix", prefix), ("--queue", queue)):
        if value is not None:
            args += [flag, value]
    return Pipeline(Gateway([*args, *(gateway_args or [])], private_redis=redis is None), link)


class Pipeline:
    """A gateway and the runs opened on it; a context manager that stops everything it started."""

    def __init__(self, gateway: Gateway, link: str = "shm") -> None:
        self.gateway = gateway
        self.link = link
        self.info: dict[str, Any] = gateway.info
        self._runs: list[Run] = []
        self._closed = False

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_run(
        self,
        seed: int = 0,
        rank: int = 0,
        epoch: int = 0,
        start: int = 0,
        crossnorm: dict[str, Any] | None = None,
        selfnorm: dict[str, Any] | None = None,
        on_error: str = "fail",
        data_plane: str = "auto",
        wire: str = "float32",
        run_id: str | None = None,
        resume: bool = False,
        return_stats: bool = False,
        max_in_flight: int | None = None,
        allow_non_finite: bool = False,
        preview_every: int | None = None,
    ) -> Run:
        """Opens (or with `resume=True` continues) a run; see PYTHON.md for each option."""
        if self._closed:
            raise UsageError("open_run: this pipeline is closed; cnsn.connect() a new one")
        options: dict[str, Any] = {
            "seed": seed,
            "rank": rank,
            "epoch": epoch,
            "start": start,
            "crossnorm": crossnorm or {},
            "selfnorm": _selfnorm_spec(selfnorm),
            "on_error": on_error,
            "data_plane": data_plane,
            "wire": wire,
            "run_id": run_id,
            "resume": resume,
            "return_stats": return_stats,
            "max_in_flight": max_in_flight,
            "allow_non_finite": allow_non_finite,
        }
        if preview_every:
            options["preview_every"] = preview_every
        run = Run(self.gateway, options, self.link)
        # Closed runs are let go: a pipeline may serve thousands of runs (an epoch each).
        self._runs = [r for r in self._runs if not r.closed]
        self._runs.append(run)
        return run

    def warm_up(self, data_plane: str) -> None:
        """Tiny batches until every local worker has done one (benchmarks then time a warm pool)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.gateway.socket_path)
            send_frame(sock, {"op": "warm_up", "data_plane": data_plane})
            reply = recv_header(sock)
        finally:
            sock.close()
        if "error" in reply:
            raise from_frame(reply["error"])

    def close(self) -> None:
        """Closes every run, then stops the gateway, its local workers and its private Redis."""
        if self._closed:
            return
        self._closed = True
        for run in self._runs:
            run.close()
        self.gateway.close()


def _selfnorm_spec(selfnorm: dict[str, Any] | None) -> dict[str, Any] | None:
    if selfnorm is None:
        return None
    params = selfnorm.get("params")
    if hasattr(params, "to_params"):
        params = params.to_params()
    return {"mode": selfnorm.get("mode", "train"), "params": params}


class Run:
    """One run: feed it from one thread (`enqueue`), take its results in order in another."""

    def __init__(self, gateway: Gateway, options: dict[str, Any], link: str = "shm") -> None:
        self._gateway = gateway
        self._lock = threading.Lock()
        self._results_sock: socket.socket | None = None
        self._closed = False
        self._link = ShmLink() if link == "shm" else None
        try:
            self._feed = self._connect()
            request: dict[str, Any] = {"op": "open_run", "options": options}
            if self._link:
                request["shm"] = self._link.paths()
            reply = self._request(request)
        except BaseException:
            if self._link:
                self._link.close()
            raise
        finally:
            if self._link:
                self._link.unlink()
        self.id: str = reply["run"]
        self._token: str = reply["token"]
        self.next_seq: int = reply["next_seq"]
        self.data_plane: str = reply["data_plane"]
        self.plane_choice: str = reply["plane_choice"]
        self.wire: str = reply["wire"]
        self.max_in_flight: int = reply["max_in_flight"]
        self.resumed: dict[str, Any] | None = reply.get("resumed")
        #: On the shm plane with this host's workers: where inputs are written and results read in place.
        self.in_place: dict[str, Any] | None = reply.get("in_place")
        #: Tensor bytes the gateway moved on the data plane (inputs, results), once results() ended.
        self.plane_bytes: dict[str, int] = {"in": 0, "out": 0}

    def _connect(self) -> socket.socket:
        dead = self._gateway.died()
        if dead:
            raise dead
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            sock.setsockopt(socket.SOL_SOCKET, opt, _SOCKET_BUFFER)
        try:
            sock.connect(self._gateway.socket_path)
        except OSError as err:
            sock.close()
            raise self._gateway_error(err) from err
        return sock

    def _gateway_error(self, err: BaseException) -> CnsnError:
        """What a broken connection means: the gateway died (say how), or it closed on us."""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            dead = self._gateway.died()
            if dead:
                return dead
            time.sleep(0.05)
        return GatewayError(f"lost the connection to the gateway (pid {self._gateway.pid}): {err}")

    def _request(self, header: dict[str, Any], payload: np.ndarray | None = None) -> dict[str, Any]:
        with self._lock:
            return self._request_locked(header, payload)

    def _request_locked(self, header: dict[str, Any], payload: np.ndarray | None) -> dict[str, Any]:
        if self._closed and header.get("op") != "close":
            raise UsageError(f"run {getattr(self, 'id', '?')}: {header.get('op')} after close()")
        dead = self._gateway.died()
        if dead:
            raise dead
        try:
            if payload is not None and self._link:
                header = {**header, "shm_bytes": self._link.put(payload)}
                payload = None
            send_frame(self._feed, header, (memoryview(payload).cast("B"),) if payload is not None else ())
            reply = recv_header(self._feed)
        except (OSError, GatewayError) as err:
            raise self._gateway_error(err) from err
        if "error" in reply:
            raise from_frame(reply["error"])
        return reply

    def enqueue(self, x: Any) -> int:
        """Enqueues the next batch (float32 NCHW, C-contiguous; numpy or CPU torch); waits at the window."""
        with self._lock:
            seq = self.next_seq
        data = as_float32_nchw(x, seq)
        if self.in_place:
            put_input(self.in_place["dir"], seq, int(self.in_place["data_at"]), data)
            reply = self._request({"op": "enqueue", "shape": list(data.shape), "placed": True, "seq": seq})
        else:
            reply = self._request({"op": "enqueue", "shape": list(data.shape)}, data)
        self.next_seq = reply["seq"] + 1
        return int(reply["seq"])

    def reject(self, reason: str) -> int:
        """The next batch failed before it could be enqueued: it keeps its number, the policy applies."""
        reply = self._request({"op": "reject", "reason": reason})
        self.next_seq = reply["seq"] + 1
        return int(reply["seq"])

    def set_selfnorm(self, params: Any) -> int:
        """New SelfNorm parameters (a dict in the golden manifest's form, or a cnsn.torch.SelfNorm)."""
        if hasattr(params, "to_params"):
            params = params.to_params()
        return int(self._request({"op": "set_selfnorm", "params": params})["version"])

    def end(self) -> None:
        """No more batches: `results()` ends after the last one."""
        self._request({"op": "end"})

    def record_digest(self, digest: str) -> None:
        """Keeps the digest of the run's outputs with its finished record (`resume` then shows it)."""
        self._request({"op": "record_digest", "digest": digest})

    def results(self, into: OutputBuffers | None = None) -> Iterator[Batch]:
        """The results, strictly in enqueue order; raises BatchFailedError under on_error="fail".

        `into(seq, shape)` may give the array each batch is read into (default: a new one each).
        """
        if self._results_sock is not None:
            raise UsageError(f"run {self.id}: results() is being iterated already")
        sock = self._results_sock = self._connect()
        send_frame(sock, {"op": "results", "token": self._token})
        clock = _ConsumerClock()
        try:
            clock.ask()
            while True:
                try:
                    header = recv_header(sock)
                    if "error" in header:
                        raise from_frame(header["error"])
                    if header.get("end"):
                        self.plane_bytes = header.get("plane_bytes", self.plane_bytes)
                        return
                    batch = _read_batch(sock, header, into, self._link)
                except (OSError, GatewayError) as err:
                    if self._closed:
                        return
                    raise self._gateway_error(err) from err
                clock.got()
                yield batch
                clock.ask()
                if batch.status != "skipped":
                    # Asking for the next batch makes this one delivered (a client that dies holding
                    # it gets it again on resume); it also frees its slot and reports the consumer.
                    slot = header.get("shm", {}).get("slot")
                    ask = {"op": "consumer", "next": True, **({"slot": slot} if slot is not None else {})}
                    try:
                        send_frame(sock, {**ask, **clock.figures()})
                    except OSError:
                        pass
        finally:
            self._results_sock = None
            sock.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Closes the run (an unfinished one stays resumable by its id); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._gateway.died() is None:
                self._request({"op": "close"})
        except CnsnError:
            pass
        finally:
            self._feed.close()
            if self._link:
                self._link.close()
            if self._results_sock is not None:
                try:
                    self._results_sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_batch(
    sock: socket.socket, header: dict[str, Any], into: OutputBuffers | None, link: ShmLink | None
) -> Batch:
    seq = int(header["seq"])
    status = header["status"]
    if status == "skipped":
        return Batch(seq=seq, status="skipped", data=None, reason=header.get("reason"))
    shape = tuple(int(d) for d in header["shape"])
    data = into(seq, shape) if into else np.empty(shape, dtype=np.float32)
    if data.shape != shape or data.dtype != np.float32 or not data.flags.c_contiguous:
        skip_payload(sock, int(header.get("bytes", 0)))
        raise UsageError(f"results(into=...): batch {seq} needs a C-contiguous float32 array of shape {shape}")
    parts = [data]
    stats = None
    if header.get("stats"):
        n, c = shape[0], shape[1]
        stats = {"mean": np.empty((n, c), dtype=np.float64), "std": np.empty((n, c), dtype=np.float64)}
        parts += [stats["mean"], stats["std"]]
    if "file" in header:
        read_result(header["file"], data)
        parts = parts[1:]
    if "shm" in header and link is not None:
        link.take(int(header["shm"]["offset"]), parts)
    else:
        for p in parts:
            recv_exact_into(sock, memoryview(p).cast("B"))
    return Batch(
        seq=seq,
        status=status,
        data=data,
        plan=header.get("plan"),
        stats=stats,
        selfnorm_version=int(header.get("selfnorm_version", 0)),
        reason=header.get("reason"),
        worker=header.get("worker"),
        backend=header.get("backend"),
    )


class _ConsumerClock:
    """The consumer's wait for each batch against its hold of it (reported to the dashboard)."""

    def __init__(self) -> None:
        self.batches = 0
        self.wait = 0.0
        self.hold = 0.0
        self._asked: float | None = None
        self._held: float | None = None

    def ask(self) -> None:
        now = time.perf_counter()
        if self._held is not None:
            self.hold += now - self._held
            self._held = None
        if self._asked is None:
            self._asked = now

    def got(self) -> None:
        now = time.perf_counter()
        if self._asked is not None:
            self.wait += now - self._asked
        self._asked = None
        self._held = now
        self.batches += 1

    def figures(self) -> dict[str, float]:
        return {"batches": self.batches, "wait_ms": self.wait * 1000, "hold_ms": self.hold * 1000}
