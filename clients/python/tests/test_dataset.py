"""cnsn.torch.CnsnDataset: source order, epochs, and a checkpoint that resumes on the same plans."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnsn  # noqa: E402
from cnsn.synthetic import synthetic_batch  # noqa: E402
from cnsn.torch import CnsnDataset  # noqa: E402

SOURCE = [(synthetic_batch((4, 6, 5, 5), 9, k), k) for k in range(8)]


@pytest.fixture(scope="module")
def open_run():
    with cnsn.connect() as p:
        yield functools.partial(p.open_run, selfnorm=None, crossnorm={"cn_prob": 0.5})


def test_yields_in_source_order_and_moves_to_the_next_epoch(open_run) -> None:
    ds = CnsnDataset(open_run, SOURCE, seed=1)
    first = [(x.clone(), extra) for x, extra in ds]
    assert [extra for _, extra in first] == list(range(8))
    assert all(isinstance(x, torch.Tensor) and x.shape == (4, 6, 5, 5) for x, _ in first)
    assert ds.state_dict() == {"seed": 1, "rank": 0, "epoch": 1, "next": 0}
    second = [x.clone() for x, _ in ds]
    assert any(not torch.equal(a, b) for (a, _), b in zip(first, second)), "epoch 1 has plans of its own"


def test_a_checkpoint_resumes_on_the_same_plans(open_run) -> None:
    whole = [x.clone() for x, _ in CnsnDataset(open_run, SOURCE, seed=2)]
    ds = CnsnDataset(open_run, SOURCE, seed=2)
    it = iter(ds)
    for _ in range(3):
        next(it)
    state = ds.state_dict()
    it.close()  # the trainer stops (its checkpoint says 3 batches done)
    assert state == {"seed": 2, "rank": 0, "epoch": 0, "next": 3}
    restored = CnsnDataset(open_run, SOURCE)
    restored.load_state_dict(state)
    rest = [(x.clone(), extra) for x, extra in restored]
    assert [extra for _, extra in rest] == list(range(3, 8))
    for k, (x, _) in enumerate(rest, 3):
        assert torch.equal(x, whole[k]), f"batch {k}"
    with pytest.raises(ValueError, match="missing next"):
        restored.load_state_dict({"seed": 0, "rank": 0, "epoch": 0})
