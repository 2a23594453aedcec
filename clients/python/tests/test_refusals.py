"""A batch the client cannot send as it is is refused by class, on every data plane and both links.

Each plane (and the shm link or the socket) takes a batch's bytes by its own path: written in place
in /dev/shm, copied into the shm link, or sent on the socket. Without the client's checks each
would meet a bad array its own way (a TypeError from a memoryview; the shm link's copy takes any
layout silently); the trainer must get `EnqueueRefusedError` with the driver's words on all of
them, the refused batch takes no number, and the client writes nothing of it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import cnsn

SHAPE = (2, 3, 4, 5)
X = np.arange(np.prod(SHAPE), dtype="<f4").reshape(SHAPE)


try:
    import torch
except ImportError:  # the numpy cases still run (torch: Debian's python3-torch)
    torch = None

#: (what, the bad batch, how the refusal begins after "batch 0 refused at enqueue: "): the client's checks.
CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("transposed", lambda: X.transpose(0, 1, 3, 2), "array is not C-contiguous (a transpose or a slice?); pass np.ascontiguousarray(x)"),
    ("strided slice", lambda: np.concatenate([X, X], axis=3)[:, :, :, ::2], "array is not C-contiguous"),
    ("Fortran order", lambda: np.asfortranarray(X), "array is not C-contiguous"),
    ("float64", lambda: X.astype(np.float64), "dtype <f8 is not float32 little-endian ('<f4'); convert with x.astype('<f4')"),
    ("big-endian float32", lambda: X.astype(">f4"), "dtype >f4 is not float32 little-endian"),
    ("3-D", lambda: X[0], "array is 3-D with shape (3, 4, 5); expected 4-D NCHW"),
    ("a list", lambda: X.tolist(), "a batch is a numpy array or a CPU torch tensor, got list"),
]
if torch is not None:
    CASES.append(("permuted torch tensor", lambda: torch.from_numpy(X.copy()).permute(0, 1, 3, 2), "array is not C-contiguous"))

#: A batch only the driver (the gateway) can judge: on the shm plane its values were written in place
#: before it was refused; the next batch 0 takes that file's place.
DRIVER_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("H*W of 1", lambda: np.zeros((2, 3, 1, 1), dtype="<f4"), "H*W must be at least 2"),
]

PLANES = ["shm", "direct", "redis"]
LINKS = ["shm", "socket"]


def test_the_clients_checks_themselves_refuse_by_class() -> None:
    # The same checks without a gateway (it takes seconds to start): a broken check fails at once.
    from cnsn.batch_check import as_float32_nchw

    for what, make, words in CASES:
        with pytest.raises(cnsn.EnqueueRefusedError, match=f"^batch 7 refused at enqueue: {re.escape(words)}"):
            as_float32_nchw(make(), 7)
            pytest.fail(f"{what}: taken, not refused")
    assert as_float32_nchw(X, 7) is X  # a good batch is taken as it is, not copied


@pytest.fixture(scope="module")
def pipeline() -> Iterator[cnsn.Pipeline]:
    # Refusals need no worker: none is started (the gateway and its Redis only).
    with cnsn.connect(workers_local=0) as p:
        yield p


@pytest.fixture(params=[(plane, link) for plane in PLANES for link in LINKS], ids=lambda p: f"{p[0]}-plane-{p[1]}-link")
def run(request: pytest.FixtureRequest, pipeline: cnsn.Pipeline) -> Iterator[Any]:
    plane, link = request.param
    # A run's link is the pipeline's when it is opened (PYTHON.md: connect(link=...)).
    pipeline.link = link
    try:
        r = pipeline.open_run(selfnorm=None, data_plane=plane)
    finally:
        pipeline.link = "shm"
    assert r.data_plane == plane, r.plane_choice
    yield r
    r.close()


def _input_files(r: Any) -> list[str]:
    """Batch files (`SEQ.in`, `SEQ.in.PID.tmp`) in the run's shm directory, when its tensors go in place."""
    if not r.in_place:
        return []
    return sorted(n for n in os.listdir(r.in_place["dir"]) if n.split(".")[0].isdigit())


def test_each_bad_batch_is_refused_by_class_and_takes_no_number(run: Any) -> None:
    for what, make, words in [*CASES, *DRIVER_CASES]:
        bad = make()
        # Any exception is caught, so that the wrong one fails here by its class, named.
        try:
            seq = run.enqueue(bad)
        except Exception as caught:  # noqa: BLE001
            err = caught
        else:
            pytest.fail(f"{what}: accepted as batch {seq}, not refused")
        assert type(err) is cnsn.EnqueueRefusedError, f"{what}: {type(err).__name__}: {err}"
        message = str(err)
        assert message.startswith(f"batch 0 refused at enqueue: {words}"), f"{what}: {message}"
        assert "\n" not in message
        assert err.seq == 0, what
        assert run.next_seq == 0, what
        if what not in (c[0] for c in DRIVER_CASES):
            assert _input_files(run) == [], f"{what}: the client wrote {_input_files(run)} of a batch it refused"
    # The run goes on: the next good batch is batch 0.
    assert run.enqueue(X) == 0
    assert run.enqueue(np.ascontiguousarray(X.transpose(0, 1, 3, 2))) == 1

