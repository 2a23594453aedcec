"""cnsn.torch.SelfNorm fed with the pipeline's statistics against the paper's SelfNorm (the PyTorch reference)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from cnsn.torch import SelfNorm, instance_mean_std
from conftest import REPO


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three batches through the real pipeline (private Redis, 2 workers), with their statistics."""
    out = tmp_path_factory.mktemp("stats")
    cmd = ["node", "--import", "tsx", "apps/cli/src/main.ts", "run", "--synthetic", "--batches", "3",
           "--shape", "8,16,7,7", "--seed", "5", "--selfnorm", "off", "--return-stats",
           "--out", str(out), "--json", "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["delivered"] == 3
    batches = []
    for k in range(3):
        x = np.load(out / f"batch-{k:06d}.npy")
        stats = np.load(out / f"batch-{k:06d}.stats.npy")
        assert x.dtype == np.float32 and stats.dtype == np.float64 and stats.shape == (2, 8, 16)
        batches.append((x, stats))
    return batches


@pytest.mark.parametrize("two", [False, True])
def test_outputs_and_gradients_match_the_papers_selfnorm(reference, delivered, two: bool) -> None:
    torch.manual_seed(3)
    theirs = reference.SelfNorm(16, two=two)
    for p in theirs.parameters():  # away from the init, so every term of the gates shows
        torch.nn.init.normal_(p, std=0.5)
    ours = SelfNorm(16, two=two)
    ours.load_state_dict(theirs.state_dict())
    for x_np, stats in delivered:
        x = torch.from_numpy(x_np.copy())
        out_theirs = theirs(x)
        out_ours = ours(x, stats=(stats[0], stats[1]))
        assert torch.allclose(out_ours, out_theirs, rtol=1e-5, atol=1e-5), (out_ours - out_theirs).abs().max()
        out_theirs.square().sum().backward()
        out_ours.square().sum().backward()
        for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert a.grad is not None and b.grad is not None, name
            # Within 1e-5 of the gradient's scale: the paper's statistics are float32, ours float64.
            worst = (a.grad - b.grad).abs().max().item()
            assert worst <= 1e-5 * b.grad.abs().max().item(), (name, worst, b.grad.abs().max().item())
            a.grad = None
            b.grad = None
    # The running statistics of the BatchNorm gates moved alike too.
    assert torch.allclose(ours.g_bn.running_mean, theirs.g_bn.running_mean, rtol=1e-5, atol=1e-6)


def test_the_statistics_are_the_papers(reference, delivered) -> None:
    for x_np, stats in delivered:
        mean, std = reference.instance_stats(torch.from_numpy(x_np).double(), eps=1e-12)
        np.testing.assert_allclose(stats[0], mean.reshape(8, 16).numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats[1], std.reshape(8, 16).numpy(), rtol=1e-9, atol=1e-12)
        ours_mean, ours_std = instance_mean_std(torch.from_numpy(x_np).double())
        np.testing.assert_allclose(stats[0], ours_mean.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats[1], ours_std.numpy(), rtol=1e-9, atol=1e-12)


def test_to_params_is_the_pipelines_form(delivered) -> None:
    module = SelfNorm(16, two=True)
    params = module.to_params()
    assert sorted(params) == ["fBn", "fWeight", "gBn", "gWeight"]
    assert len(params["gWeight"]) == 16 and all(len(w) == 2 for w in params["gWeight"])
    assert sorted(params["gBn"]) == ["bias", "eps", "runningMean", "runningVar", "weight"]


def test_stats_of_another_batch_are_refused() -> None:
    with pytest.raises(ValueError, match="stats mean has 4 values, x needs 2x3"):
        SelfNorm(3)(torch.zeros(2, 3, 4, 4), stats=(np.zeros(4), np.ones(4)))
