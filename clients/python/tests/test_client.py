"""The API of docs/python.md: bad input, a gateway that dies, resume, consumer figures."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import run_ts_cli

import cnsn
from cnsn.synthetic import synthetic_batch

SHAPE = (4, 8, 6, 5)


@pytest.fixture(scope="module")
def pipeline():
    with cnsn.connect() as p:
        yield p


def feed_and_collect(run, xs) -> list[np.ndarray]:
    done: list[BaseException] = []

    def feed() -> None:
        try:
            for x in xs:
                run.enqueue(x)
            run.end()
        except BaseException as err:
            done.append(err)
            run.close()

    t = threading.Thread(target=feed)
    t.start()
    out = [b.data for b in run.results()]
    t.join()
    if done:
        raise done[0]
    return out


def test_bad_arrays_are_refused_with_the_drivers_words(pipeline) -> None:
    run = pipeline.open_run(selfnorm=None)
    x = synthetic_batch(SHAPE, 0, 0)
    cases = [
        (x.astype(np.float64), "batch 0 refused at enqueue: dtype <f8 is not float32 little-endian ('<f4'); convert with x.astype('<f4')"),
        (np.asfortranarray(x.transpose(0, 1, 3, 2)), "batch 0 refused at enqueue: array is not C-contiguous"),
        (x[0], "batch 0 refused at enqueue: array is 3-D with shape (8, 6, 5); expected 4-D NCHW"),
    ]
    for bad, words in cases:
        with pytest.raises(cnsn.EnqueueRefusedError) as err:
            run.enqueue(bad)
        assert str(err.value).startswith(words), str(err.value)
        assert "\n" not in str(err.value)
    assert run.enqueue(x) == 0  # a refused batch took no number
    nan = x.copy()
    nan[0, 1, 2, 3] = np.nan
    assert run.enqueue(nan) == 1
    run.end()
    with pytest.raises(cnsn.BatchFailedError) as err:
        list(run.results())
    assert err.value.seq == 1
    assert "is not finite; pass allowNonFinite to let it through" in str(err.value)
    run.close()


def test_the_driver_checks_what_numpy_cannot(pipeline) -> None:
    run = pipeline.open_run(selfnorm=None)
    with pytest.raises(cnsn.EnqueueRefusedError, match=r"batch 0 refused at enqueue: H\*W must be at least 2"):
        run.enqueue(np.zeros((2, 3, 1, 1), dtype=np.float32))
    run.close()
    with pytest.raises(cnsn.UsageError, match=r'crossnorm: unknown option "bogus"; the options are crop, chan'):
        pipeline.open_run(crossnorm={"bogus": 1})
    with pytest.raises(cnsn.CnsnError, match=r"wire"):
        pipeline.open_run(wire="float64")


def test_skip_policy_and_torch_tensors(pipeline) -> None:
    torch = pytest.importorskip("torch")
    run = pipeline.open_run(selfnorm=None, on_error="skip")
    x = synthetic_batch(SHAPE, 0, 0)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.inf
    run.enqueue(torch.from_numpy(x))
    run.enqueue(bad)
    run.enqueue(torch.from_numpy(x).requires_grad_())
    run.end()
    got = list(run.results())
    assert [b.status for b in got] == ["ok", "skipped", "ok"]
    assert "is not finite" in (got[1].reason or "")
    assert np.array_equal(got[0].data.shape, SHAPE) and got[2].plan is not None
    run.close()


def test_set_selfnorm_applies_from_the_next_batch(pipeline) -> None:
    from cnsn.torch import SelfNorm

    module = SelfNorm(SHAPE[1])
    run = pipeline.open_run(selfnorm={"mode": "train", "params": module})
    x = synthetic_batch(SHAPE, 0, 0)
    run.enqueue(x)
    with torch_no_grad():
        module.g_fc.weight.mul_(1.5)
    assert run.set_selfnorm(module) == 1
    run.enqueue(x)
    run.end()
    versions = [b.selfnorm_version for b in run.results()]
    assert versions == [0, 1]
    run.close()


def torch_no_grad():
    import torch

    return torch.no_grad()


def test_stats_come_back_with_the_batch(pipeline) -> None:
    run = pipeline.open_run(selfnorm=None, return_stats=True, crossnorm={"cn_prob": 0.0})
    x = synthetic_batch(SHAPE, 0, 0)
    run.enqueue(x)
    run.end()
    (b,) = list(run.results())
    flat = x.astype(np.float64).reshape(SHAPE[0], SHAPE[1], -1)
    assert np.allclose(b.stats["mean"], flat.mean(axis=2))
    assert np.allclose(b.stats["std"], np.sqrt(flat.var(axis=2, ddof=1) + 1e-12))
    run.close()


def test_socket_link_gives_the_same_outputs() -> None:
    xs = [synthetic_batch(SHAPE, 5, k) for k in range(4)]
    with cnsn.connect(link="socket") as p:
        a = feed_and_collect(p.open_run(seed=2, selfnorm=None), xs)
    with cnsn.connect() as p:
        b = feed_and_collect(p.open_run(seed=2, selfnorm=None), xs)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_a_dead_gateway_is_an_error_at_the_next_call_and_resume_continues(redis_url: str) -> None:
    xs = [synthetic_batch(SHAPE, 1, k) for k in range(10)]
    with cnsn.connect(redis=redis_url, workers_local=2) as p:
        want = feed_and_collect(p.open_run(seed=4, selfnorm=None), xs)
    p = cnsn.connect(redis=redis_url, workers_local=2)
    run = p.open_run(seed=4, selfnorm=None, run_id="py-dies")
    for x in xs[:6]:
        run.enqueue(x)
    results = run.results()
    held = [next(results).data for _ in range(3)]  # 0 and 1 delivered; 2 held, the next not asked for
    os.kill(p.gateway.pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(cnsn.GatewayError, match=r"exited with status -9.*resume=True"):
        run.enqueue(xs[6])
    with pytest.raises(cnsn.GatewayError):
        next(results)
    assert time.monotonic() - t0 < 10, "an error at once, not a hang"
    p.close()
    with cnsn.connect(redis=redis_url, workers_local=2) as p2:
        again = p2.open_run(seed=4, selfnorm=None, run_id="py-dies", resume=True)
        assert again.next_seq == 2, "the batch the client held when its gateway died comes again"
        rest = feed_and_collect(again, xs[2:])
    got = held[:2] + rest
    assert len(got) == 10
    for k, out in enumerate(got):
        assert np.array_equal(out, want[k]), f"batch {k}"


def test_consumer_figures_reach_status(redis_url: str) -> None:
    xs = [synthetic_batch(SHAPE, 0, k) for k in range(6)]
    with cnsn.connect(redis=redis_url, workers_local=2) as p:
        run = p.open_run(selfnorm=None, run_id="py-consumer")
        for x in xs:
            run.enqueue(x)
        for b in run.results():
            time.sleep(0.3)  # a slow training step: the trainer holds each batch
            if b.seq == 4:
                break
        deadline = time.monotonic() + 10
        while True:
            status = json.loads(run_ts_cli("status", "--redis", redis_url, "--json").stdout)
            (row,) = [r for r in status["runs"] if r["run"] == "py-consumer"]
            consumer = row["counters"]["consumer"]
            if consumer and consumer["batches"] >= 4:
                break
            assert time.monotonic() < deadline, f"no consumer figures in status: {row['counters']}"
            time.sleep(0.2)
        assert consumer["holdMs"] >= 4 * 300 * 0.9
        assert consumer["waitMs"] < consumer["holdMs"]
        text = run_ts_cli("status", "--redis", redis_url).stdout
        assert "consumer waited" in text
        run.close()


def test_on_this_host_tensors_go_in_place_and_leave_nothing_in_dev_shm(pipeline) -> None:
    xs = [synthetic_batch(SHAPE, 6, k) for k in range(6)]
    run = pipeline.open_run(seed=3, selfnorm=None)
    assert (run.data_plane, run.plane_choice.split(":")[0]) == ("shm", "shm"), run.plane_choice
    assert run.in_place is not None and os.path.isdir(run.in_place["dir"])
    run_dir = run.in_place["dir"]
    got = feed_and_collect(run, xs)
    run.close()
    assert not os.path.exists(run_dir), "the run's files go when it closes"
    # The same outputs as through the link on the direct plane (the gateway copies them there).
    direct = pipeline.open_run(seed=3, selfnorm=None, data_plane="direct")
    assert direct.in_place is None
    want = feed_and_collect(direct, xs)
    direct.close()
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(a, b), f"batch {k}"


def test_a_placed_batch_that_fails_passes_through_as_it_was_given(pipeline) -> None:
    run = pipeline.open_run(selfnorm=None, on_error="passthrough")
    assert run.in_place is not None
    bad = synthetic_batch(SHAPE, 0, 1)
    bad[1, 2, 3, 4] = np.nan
    got = feed_and_collect_batches(run, [synthetic_batch(SHAPE, 0, 0), bad])
    run.close()
    assert [b.status for b in got] == ["ok", "passthrough"]
    assert np.array_equal(got[1].data, bad, equal_nan=True)


def feed_and_collect_batches(run, xs) -> list:
    for x in xs:
        run.enqueue(x)
    run.end()
    return list(run.results())


def test_previews_while_the_trainer_asks_at_once(redis_url: str) -> None:
    # The gateway renders a preview after it sends a batch; a client that asks for the next batch
    # meanwhile (as a fast trainer does) must not be lost: that once hung the run.
    import subprocess

    port = redis_url.rsplit(":", 1)[1]
    with cnsn.connect(redis=redis_url, workers_local=2) as p:
        run = p.open_run(selfnorm=None, preview_every=1)
        assert run.in_place is not None, "the gateway reads the output from the plane for its preview"
        for k in range(4):
            run.enqueue(synthetic_batch(SHAPE, 2, k))
        run.end()
        seen: list[int] = []
        previews: list[str] = []

        def consume() -> None:
            for b in run.results():
                seen.append(b.seq)
                if b.seq == 1:  # batch 0's preview went out before batch 1 did
                    key = f"{{cnsn}}:run:{run.id}:preview"
                    got = subprocess.run(["redis-cli", "-p", port, "GETRANGE", key, "1", "3"], capture_output=True, text=True)
                    previews.append(got.stdout.strip())

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        reader.join(60)
        assert not reader.is_alive(), "the run hung after its first preview"
        assert seen == [0, 1, 2, 3]
        assert previews == ["PNG"]
        run.close()
