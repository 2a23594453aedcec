"""The repository's PyTorch reference against the golden cases the paper's code computed.

Same cases and same tolerance as the kernels' golden tests (libs/kernels/test/golden.test.ts):
|got - expected| <= 1e-4 + 1e-4 * |expected|, elementwise, in float64 (as the cases were made) and
in float32 (what the speed baselines run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parents[1] / "testdata" / "golden"
sys.path.insert(0, str(HERE))

import cnsn_reference as ref  # noqa: E402

ABS_TOL = 1e-4
REL_TOL = 1e-4
MANIFEST: dict[str, Any] = json.loads((GOLDEN / "manifest.json").read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]


def load(name: str, shape: list[int]) -> np.ndarray:
    return np.fromfile(GOLDEN / name, dtype="<f4").reshape(shape)


def check(name: str, got: torch.Tensor, expected: np.ndarray) -> float:
    got_np = got.detach().double().numpy().reshape(expected.shape)
    want = expected.astype(np.float64)
    err = np.abs(got_np - want)
    over = err > ABS_TOL + REL_TOL * np.abs(want)
    assert not over.any(), f"{name}: {int(over.sum())} values out of tolerance, worst {float(err.max()):.3g}"
    return float(err.max())


def run_case(case: dict[str, Any], dtype: torch.dtype) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(load(case["input"], case["shape"])).to(dtype)
    with torch.no_grad():
        if case["op"] == "stats":
            return ref.instance_stats(x, eps=case["eps"])
        y = x
        if case["op"] in ("crossnorm", "crossnorm+selfnorm"):
            plan = case["plan"]
            y = ref.crossnorm(
                x,
                plan["crop"],
                lam=plan["lam"],
                chan=plan["chanIdxs"] is not None,
                ins_idxs=plan["insIdxs"],
                chan_idxs=plan["chanIdxs"],
                style_box=plan["styleBox"],
                content_box=plan["contentBox"],
            )
        if case["op"] in ("selfnorm", "crossnorm+selfnorm"):
            sn = case["selfnorm"]
            y = ref.SelfNorm.from_params(sn["params"], sn["mode"], dtype)(y)
        return y


def test_the_manifest_holds_every_kind_of_case() -> None:
    assert len(CASES) == 75
    assert {c["op"] for c in CASES} == {"stats", "crossnorm", "selfnorm", "crossnorm+selfnorm"}
    assert {c["plan"]["crop"] for c in CASES if "plan" in c} == set(ref.CROPS)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case: dict[str, Any], dtype: torch.dtype) -> None:
    got = run_case(case, dtype)
    if case["op"] == "stats":
        assert isinstance(got, tuple)
        check(case["name"] + " mean", got[0], load(case["expectedMean"], case["shape"][:2]))
        check(case["name"] + " std", got[1], load(case["expectedStd"], case["shape"][:2]))
    else:
        assert isinstance(got, torch.Tensor)
        check(case["name"], got, load(case["expected"], case["shape"]))


def test_a_wrong_reference_fails_the_golden_cases() -> None:
    """The check can fail: the same case with another style permutation is far out of tolerance."""
    case = next(c for c in CASES if c["name"] == "cn_both_chan_nolam_6x16x7x7")
    x = torch.from_numpy(load(case["input"], case["shape"])).double()
    plan = case["plan"]
    shifted = plan["insIdxs"][1:] + plan["insIdxs"][:1]
    y = ref.crossnorm(x, "both", chan=True, ins_idxs=shifted, chan_idxs=plan["chanIdxs"],
                      style_box=plan["styleBox"], content_box=plan["contentBox"])
    with pytest.raises(AssertionError, match="out of tolerance"):
        check(case["name"], y, load(case["expected"], case["shape"]))


def test_drawn_plans_replay() -> None:
    """Without a plan it draws one (torch.randperm, numpy's generator); the same draws, the same output."""
    x = torch.randn(4, 6, 9, 8, generator=torch.Generator().manual_seed(1))
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        outs.append(ref.crossnorm(x, "both", chan=True, rng=np.random.RandomState(3)))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], x)


@pytest.mark.parametrize("beta,thres", [(1.0, 0.1), (0.5, 0.3), (2.0, 0.0)])
def test_boxes_lie_on_the_map_and_cover_more_than_the_threshold(beta: float, thres: float) -> None:
    rng = np.random.RandomState(11)
    for shape in ((2, 3, 7, 7), (2, 3, 9, 11), (1, 1, 56, 5)):
        for _ in range(200):
            s2, s3, e2, e3 = ref.sample_box(shape, beta, thres, rng)
            assert 0 <= s2 < e2 <= shape[2] and 0 <= s3 < e3 <= shape[3]
            assert (e2 - s2) * (e3 - s3) / (shape[2] * shape[3]) > thres


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="crop 'all' is not one of neither, style, content, both"):
        ref.crossnorm(torch.zeros(2, 2, 3, 3), "all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x has 3 channels, the module 4"):
        ref.SelfNorm(4)(torch.zeros(2, 3, 3, 3))
