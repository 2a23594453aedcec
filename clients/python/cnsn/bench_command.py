"""`python3 -m cnsn bench pipeline`: the pipeline's throughput with batches through Python.

As `npm run cnsn -- bench pipeline` (64x512x7x7 x60 by default): the batches are made before the
clock starts and the outputs land in arrays touched before it, so the clock times the pipeline and
the client's link to it, not numpy. `--beside-ts` runs the TypeScript command on the same flags,
alternating with the Python one (`--rounds`, default 2), and compares the best of each.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from .client import Pipeline
from .errors import CnsnError, UsageError
from .gateway import Gateway, find_node, gateway_command
from .sources import BatchSource

#: The bench makes its batches before the clock up to this many bytes (the TypeScript bench too).
BENCH_EAGER_BYTES = 4 << 30
DEFAULT_SHAPE = "64,512,7,7"
DEFAULT_BATCHES = "60"


def bench_pipeline(argv: list[str]) -> dict[str, Any]:
    beside_ts, rounds, flags = _own_flags(argv)
    flags = _with_defaults(flags)
    figures: list[dict[str, Any]] = []
    ts: list[dict[str, Any]] = []
    for _ in range(rounds if beside_ts else 1):
        if beside_ts:
            ts.append(_ts_bench(flags))
        figures.append(_python_bench(flags))
    best = max(figures, key=lambda f: f["gbPerSec"])
    result = dict(best)
    result["rounds"] = [f["gbPerSec"] for f in figures]
    if ts:
        ts_best = max(ts, key=lambda f: f["gbPerSec"])
        result["tsGbPerSec"] = ts_best["gbPerSec"]
        result["tsMsPerBatch"] = ts_best["msPerBatch"]
        result["tsRounds"] = [f["gbPerSec"] for f in ts]
        result["tsDigest"] = ts_best["digest"]
        result["ratioVsTs"] = round(best["gbPerSec"] / ts_best["gbPerSec"], 3)
        print(
            f"python client {best['gbPerSec']:.3f} GB/s vs TypeScript driver {ts_best['gbPerSec']:.3f} GB/s "
            f"(best of {len(figures)}, alternating): {result['ratioVsTs']:.2f}x",
            file=sys.stderr,
        )
    print(json.dumps(result, separators=(",", ":")))
    return result


def _own_flags(argv: list[str]) -> tuple[bool, int, list[str]]:
    flags = list(argv)
    beside_ts = "--beside-ts" in flags
    flags = [f for f in flags if f != "--beside-ts"]
    rounds = 2
    if "--rounds" in flags:
        i = flags.index("--rounds")
        try:
            rounds = int(flags[i + 1])
            assert rounds >= 1
        except (IndexError, ValueError, AssertionError):
            raise UsageError("--rounds needs a positive integer") from None
        del flags[i : i + 2]
    return beside_ts, rounds, flags


def _with_defaults(flags: list[str]) -> list[str]:
    out = [f for f in flags if f != "--synthetic"]
    if "--shape" not in out:
        out += ["--shape", DEFAULT_SHAPE]
    if "--batches" not in out:
        out += ["--batches", DEFAULT_BATCHES]
    return ["--synthetic", *out]


def _python_bench(flags: list[str]) -> dict[str, Any]:
    gateway = Gateway([*flags, "--client-run", "--no-progress"])
    with Pipeline(gateway) as pipeline:
        described = gateway.info["run"]
        source = BatchSource(described["source"], eager_bytes=BENCH_EAGER_BYTES)
        outputs = _touched_outputs(source)
        run = pipeline.open_run(**described["open"])
        pipeline.warm_up(run.data_plane)
        t0 = time.perf_counter()
        return _timed(run, source, outputs, t0)


def _touched_outputs(source: BatchSource) -> list[np.ndarray] | None:
    """Arrays for every output, their pages touched now (as the TS bench's arena), when they fit."""
    if not source.count or source.kind != "synthetic":
        return None
    nbytes = int(np.prod(source.shape)) * 4 * source.count
    if nbytes > BENCH_EAGER_BYTES:
        return None
    return [np.ones(source.shape, dtype=np.float32) for _ in range(source.count)]


def _timed(run: Any, source: BatchSource, outputs: list[np.ndarray] | None, t0: float) -> dict[str, Any]:
    errors: list[BaseException] = []

    def feed() -> None:
        try:
            for k in range(source.count):
                run.enqueue(source.load(k))
            run.end()
        except BaseException as err:
            errors.append(err)
            run.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    into = (lambda seq, shape: outputs[seq]) if outputs else None
    kept: list[np.ndarray] = []
    digest = hashlib.sha256()
    hash_s = 0.0
    for b in run.results(into=into):
        if b.data is None:
            continue
        if outputs is None:
            h0 = time.perf_counter()
            digest.update(memoryview(b.data).cast("B"))
            hash_s += time.perf_counter() - h0
        else:
            kept.append(b.data)
    t_last = time.perf_counter()
    feeder.join()
    if errors:
        raise errors[0]
    for data in kept:
        digest.update(memoryview(data).cast("B"))
    seconds = max(t_last - t0 - hash_s - source.make_s, 1e-9)
    nbytes = int(np.prod(source.shape)) * 4 * source.count
    return {
        "client": "python",
        "dataPlane": run.data_plane,
        "wire": run.wire,
        "batches": source.count,
        "shape": list(source.shape),
        "gbPerSec": round(nbytes / seconds / 1e9, 4),
        "msPerBatch": round(seconds * 1000 / source.count, 3),
        "digest": "sha256:" + digest.hexdigest(),
    }


def _ts_bench(flags: list[str]) -> dict[str, Any]:
    """The TypeScript driver's `bench pipeline` on the same flags, its last JSON line."""
    command, env, _ = gateway_command(find_node())
    argv = [*command[:-1], "bench", "pipeline", *[f for f in flags if f != "--synthetic"], "--no-limit", "--no-progress"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(nothing)"]
        raise CnsnError(f"the TypeScript bench failed (status {done.returncode}): {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
