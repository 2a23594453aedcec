"""`python3 -m cnsn run`: the TypeScript `cnsn run`, with batches entering and leaving through Python.

The flags are the run command's own: the gateway parses and checks them (`--client-run`) and
describes the run back; this module feeds the batches, collects the results in order, writes them
and prints the same summary (the same JSON last line, the same digest).
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from typing import Any

import numpy as np

from .client import Pipeline, Run
from .errors import BatchFailedError, CnsnError, EnqueueRefusedError, RunFinishedError, UsageError
from .gateway import Gateway
from .npy_files import NpyOut
from .sources import BatchSource


class CommandError(CnsnError):
    """Ends the command with `exit_code` (1: the run failed; 2: usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_command(argv: list[str]) -> dict[str, Any]:
    """Runs the job the flags describe; returns its summary (CLI.md's JSON)."""
    gateway = Gateway([*argv, "--client-run"])
    with Pipeline(gateway) as pipeline:
        return drive(pipeline, gateway.info["run"])


def drive(pipeline: Pipeline, described: dict[str, Any], source: BatchSource | None = None) -> dict[str, Any]:
    """Opens the described run and takes it from its first undelivered batch to its end."""
    source = source or BatchSource(described["source"])
    open_options = described["open"]
    try:
        run = pipeline.open_run(**open_options)
    except RunFinishedError as err:
        if not getattr(err, "resume", False):
            raise CommandError(err.message) from err
        return finished_summary(err, source, open_options)
    start = run.next_seq
    if start > source.count:
        raise CommandError(f"run {run.id} has delivered {start} batches; this input has only {source.count}")
    announce(run, source, start, pipeline)
    tally = Tally(source, described)
    out = NpyOut(described["out"], run.id, output_names(source, open_options)) if described["out"] else None
    if out and out.removed:
        print(
            f"removed {len(out.removed)} half-written file(s) an earlier invocation of run {run.id} left: {', '.join(out.removed)}",
            file=sys.stderr,
        )
    feeder = Feeder(run, source, start, described, tally)
    feeder.start()
    collect(run, source, feeder, tally, out)
    if tally.skipped:
        print(f"skipped batches: {', '.join(source.named(s['seq']) for s in tally.skipped)}", file=sys.stderr)
    digest = "sha256:" + tally.digest.hexdigest()
    if start == 0:
        run.record_digest(digest)
    seconds = tally.seconds()
    run.close()
    return {
        "run": run.id,
        "batches": source.count,
        "delivered": tally.delivered + start,
        "failed": tally.failed,
        "seconds": round(seconds, 3),
        "gbPerSec": round(tally.input_bytes / seconds / 1e9, 4),
        "digest": digest,
        "dataPlane": run.data_plane,
        "wire": run.wire,
        "planeBytes": run.plane_bytes,
        "skipped": tally.skipped,
        "passthrough": tally.passthrough,
    }


def output_names(source: BatchSource, open_options: dict[str, Any]) -> list[str]:
    names = [source.name(k) for k in range(source.count)]
    if open_options.get("return_stats"):
        names += [stats_name(n) for n in names]
    return names


def stats_name(name: str) -> str:
    return (name[:-4] if name.endswith(".npy") else name) + ".stats.npy"


def announce(run: Run, source: BatchSource, start: int, pipeline: Pipeline) -> None:
    workers = len(pipeline.info["gateway"]["workers"])
    resuming = f" (resuming at batch {start})" if start else ""
    print(
        f"run {run.id}: {source.count} batches{resuming}, {workers} local workers, window {run.max_in_flight}\n"
        f"data plane {run.plane_choice}; wire {run.wire}",
        file=sys.stderr,
    )


class Tally:
    """What the collector counts; the clock leaves out hashing and making batches on demand."""

    def __init__(self, source: BatchSource, described: dict[str, Any]) -> None:
        self.source = source
        self.progress = bool(described.get("progress")) and sys.stderr.isatty()
        self.input_bytes = 0
        self.failed = 0
        self.delivered = 0
        self.skipped: list[dict[str, Any]] = []
        self.passthrough: list[dict[str, Any]] = []
        self.digest = hashlib.sha256()
        self.digest_s = 0.0
        self.t0 = time.perf_counter()
        self.t_last = self.t0

    def seconds(self) -> float:
        return max(self.t_last - self.t0 - self.digest_s - self.source.make_s, 1e-9)

    def note(self, seq: int, reason: str) -> dict[str, Any]:
        file = self.source.file(seq)
        return {"seq": seq, **({"file": file} if file else {}), "reason": reason}

    def hash(self, data: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.digest.update(memoryview(data).cast("B"))
        self.digest_s += time.perf_counter() - t0


class Feeder(threading.Thread):
    """Feeds batches `start`.. in order, then ends the run; a failure is kept for the collector."""

    def __init__(self, run: Run, source: BatchSource, start: int, described: dict[str, Any], tally: Tally) -> None:
        super().__init__(name="cnsn-feeder", daemon=True)
        self.run_ = run
        self.source = source
        self.start_at = start
        self.on_error = described["open"].get("on_error", "fail")
        self.update_every = described.get("selfnorm_update_every")
        self.selfnorm = described["open"].get("selfnorm")
        self.tally = tally
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.feed()
        except BaseException as err:  # handed to the collector, which ends the run with it
            self.error = err
            self.run_.close()

    def feed(self) -> None:
        run, source = self.run_, self.source
        for seq in range(self.start_at, source.count):
            try:
                batch = source.load(seq)
            except UsageError as err:
                if self.on_error == "fail":
                    raise CommandError(f"batch {seq}: {err.message}") from err
                run.reject(err.message)
                continue
            if self.update_every and self.selfnorm and seq > self.start_at and seq % self.update_every == 0:
                run.set_selfnorm(nudged(self.selfnorm["params"], seq))
            try:
                run.enqueue(batch)
                self.tally.input_bytes += batch.nbytes
            except EnqueueRefusedError as err:
                if self.on_error == "fail":
                    raise CommandError(f"{source.named(seq)} refused at enqueue: {err.reason}") from err
                run.reject(err.message)
        run.end()


def collect(run: Run, source: BatchSource, feeder: Feeder, tally: Tally, out: NpyOut | None) -> None:
    """Takes every result in order: digest, files, progress; the first failure ends the command."""
    try:
        for b in run.results():
            if b.status == "skipped":
                tally.failed += 1
                tally.skipped.append(tally.note(b.seq, b.reason or ""))
                print(f"\nskipped {source.named(b.seq)}: {b.reason}", file=sys.stderr)
            else:
                if b.status == "passthrough":
                    tally.failed += 1
                    tally.passthrough.append(tally.note(b.seq, b.reason or ""))
                    print(f"\n{source.named(b.seq)} delivered unaugmented (passthrough): {b.reason}", file=sys.stderr)
                assert b.data is not None
                tally.hash(b.data)
                if out:
                    out.write(source.name(b.seq), b.data)
                    if b.stats:
                        out.write(stats_name(source.name(b.seq)), np.stack([b.stats["mean"], b.stats["std"]]))
                tally.delivered += 1
            tally.t_last = time.perf_counter()
            if tally.progress:
                rate = tally.input_bytes / tally.seconds() / 1e9
                print(f"\r {tally.delivered + len(tally.skipped)}/{source.count} batches | {rate:.2f} GB/s", end="", file=sys.stderr)
        feeder.join()
    except BatchFailedError as err:
        feeder.join(5)
        if feeder.error:
            raise feeder.error from err
        raise CommandError(f"run {err.run}: {source.named(err.seq)} failed: {err.reason}") from err
    except CnsnError:
        feeder.join(5)
        if feeder.error:
            raise feeder.error from None
        raise
    if tally.progress:
        print(file=sys.stderr)
    if feeder.error:
        raise feeder.error


def nudged(params: dict[str, Any], seq: int) -> dict[str, Any]:
    """The parameters a learning trainer might have at batch `seq` (run.ts's `nudged`)."""
    scale = 1 + seq * 1e-6
    out = dict(params)
    out["gWeight"] = [[a * scale, b * scale] for a, b in params["gWeight"]]
    if params.get("fWeight"):
        out["fWeight"] = [[a * scale, b * scale] for a, b in params["fWeight"]]
    return out


def finished_summary(err: RunFinishedError, source: BatchSource, open_options: dict[str, Any]) -> dict[str, Any]:
    """What `--resume` of a finished run prints (run.ts's `finishedSummary`)."""
    f = err.finished
    print(err.message, file=sys.stderr)
    if f["total"] != source.count:
        print(f"note: run {f['run']} had {f['total']} batches; this input has {source.count}", file=sys.stderr)
    finished_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(f["finishedAt"] / 1000))
    return {
        "run": f["run"],
        "batches": f["total"],
        "delivered": f["total"],
        "failed": f["failed"],
        "seconds": 0,
        "gbPerSec": 0,
        "digest": f.get("digest") or "unknown",
        "dataPlane": "none",
        "wire": open_options.get("wire", "float32"),
        "planeBytes": {"in": 0, "out": 0},
        "skipped": [],
        "passthrough": [],
        "complete": {"finishedAt": f"{finished_at}.{int(f['finishedAt']) % 1000:03d}Z"},
    }


def print_summary(s: dict[str, Any], as_json: bool) -> None:
    human = (
        f"run {s['run']}: {s['delivered']}/{s['batches']} batches delivered in order, {s['failed']} failed, "
        f"{s['seconds']:.2f} s, {s['gbPerSec']:.3f} GB/s\ndigest {s['digest']}\n"
    )
    if as_json:
        import json

        sys.stderr.write(human)
        sys.stdout.write(json.dumps(s, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(human)
