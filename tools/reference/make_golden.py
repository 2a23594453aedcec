"""Makes golden cases for CrossNorm and SelfNorm with the repository's PyTorch reference.

usage: /usr/bin/python3 tools/reference/make_golden.py OUT_DIR SEED   (Debian's python3-torch, numpy)

Writes OUT_DIR/manifest.json and one little-endian float32 file per tensor, in the format of
testdata/golden (its README describes it): 25 cases for each of three shapes, computed in float64
and stored as float32. The cases committed in testdata/golden were NOT made by this script: the
paper's own code computed them, and they are what this reference is checked against
(test_cnsn_reference.py). This script makes more cases of the same kinds, for new shapes or
seeds; it draws its random numbers in the same order as the generator that made the committed
ones (inputs, permutations and parameters from numpy's default_rng(SEED), boxes from numpy's
global generator seeded with SEED), so the same seed gives the same plans.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnsn_reference import SelfNorm, crossnorm, instance_stats, sample_box  # noqa: E402

SHAPES = [(4, 8, 6, 5), (6, 16, 7, 7), (3, 5, 9, 11)]
EPS = 1e-5

FORMAT = {
    "tensors": "raw little-endian float32, row-major NCHW (stats: N x C)",
    "box": "[start2, start3, end2, end3]: half-open ranges on dimensions 2 and 3 of NCHW",
    "insIdxs": "the style instance of each output instance n: x[insIdxs[n]]",
    "chanIdxs": "the style channel of each output channel c, taken after insIdxs; null without chan",
    "lam": "null, or out = lam * x + (1 - lam) * crossnormed",
    "selfnorm.params": "gWeight[c] = [weight on the mean, weight on the std] of the gate's grouped "
    "Conv1d; gBn, fBn: its BatchNorm1d; fWeight and fBn only for the two-gate variant",
    "selfnorm.mode": "train: BatchNorm1d normalises with the batch's statistics (biased variance) over "
    "N; eval: with the running statistics",
    "tolerance": "pass when |got - expected| <= 1e-4 + 1e-4 * |expected| elementwise",
}


class Maker:
    """Draws inputs, plans and parameters, computes the expected outputs, writes the files."""

    def __init__(self, out: Path, seed: int) -> None:
        self.out = out
        self.rng = np.random.default_rng(seed)
        np.random.seed(seed)  # the box sampler draws from numpy's global generator
        self.cases: list[dict[str, Any]] = []

    def save(self, name: str, values: Any) -> str:
        file = f"{name}.f32"
        np.asarray(values, dtype="<f4").tofile(self.out / file)
        return file

    def batch(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Maps whose mean and spread differ strongly from one (instance, channel) to the next."""
        n, c = shape[:2]
        base = self.rng.standard_normal(shape)
        scale = self.rng.uniform(0.2, 3.0, size=(n, c, 1, 1))
        shift = self.rng.uniform(-2.0, 2.0, size=(n, c, 1, 1))
        return torch.tensor(base * scale + shift, dtype=torch.float64)

    def box(self, shape: tuple[int, ...]) -> list[int]:
        """A box of the paper's sampler holding at least 2 elements (1 has no unbiased variance)."""
        while True:
            s2, s3, e2, e3 = sample_box(shape, 1.0, 0.1)
            if (e2 - s2) * (e3 - s3) >= 2:
                return [s2, s3, e2, e3]

    def norm_params(self, c: int) -> dict[str, Any]:
        u = self.rng.uniform
        return {
            "weight": u(0.5, 1.5, c).tolist(),
            "bias": u(-0.5, 0.5, c).tolist(),
            "runningMean": u(-1, 1, c).tolist(),
            "runningVar": u(0.5, 2, c).tolist(),
            "eps": 1e-5,
        }

    def selfnorm_params(self, c: int, two: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"gWeight": self.rng.uniform(-1.5, 1.5, size=(c, 2)).tolist()}
        params["gBn"] = self.norm_params(c)
        if two:
            params["fWeight"] = self.rng.uniform(-1.5, 1.5, size=(c, 2)).tolist()
            params["fBn"] = self.norm_params(c)
        return params

    def crossnorm_case(self, name: str, shape: tuple[int, ...], crop: str, chan: bool, lam: float | None,
                       selfnorm: tuple[bool, str] | None = None) -> None:
        n, c = shape[:2]
        x = self.batch(shape)
        plan = {
            "crop": crop,
            "insIdxs": self.rng.permutation(n).tolist(),
            "chanIdxs": self.rng.permutation(c).tolist() if chan else None,
            "styleBox": self.box(shape) if crop in ("style", "both") else None,
            "contentBox": self.box(shape) if crop in ("content", "both") else None,
            "lam": lam,
        }
        with torch.no_grad():
            y = crossnorm(x, crop, lam=lam, chan=chan, ins_idxs=plan["insIdxs"], chan_idxs=plan["chanIdxs"],  # type: ignore[arg-type]
                          style_box=plan["styleBox"], content_box=plan["contentBox"])
        case: dict[str, Any] = {"name": name, "op": "crossnorm", "shape": list(shape), "plan": plan}
        if selfnorm is not None:
            two, mode = selfnorm
            params = self.selfnorm_params(c, two)
            with torch.no_grad():
                y = SelfNorm.from_params(params, mode, torch.float64)(y)  # type: ignore[arg-type]
            case.update(op="crossnorm+selfnorm", selfnorm={"mode": mode, "params": params})
        case.update(input=self.save(f"x_{name}", x.numpy()), expected=self.save(f"y_{name}", y.numpy()))
        self.cases.append(case)

    def selfnorm_case(self, name: str, shape: tuple[int, ...], two: bool, mode: str) -> None:
        x = self.batch(shape)
        params = self.selfnorm_params(shape[1], two)
        with torch.no_grad():
            y = SelfNorm.from_params(params, mode, torch.float64)(x)  # type: ignore[arg-type]
        self.cases.append({"name": name, "op": "selfnorm", "shape": list(shape),
                           "selfnorm": {"mode": mode, "params": params},
                           "input": self.save(f"x_{name}", x.numpy()), "expected": self.save(f"y_{name}", y.numpy())})

    def stats_case(self, name: str, shape: tuple[int, ...]) -> None:
        x = self.batch(shape)
        mean, std = instance_stats(x, eps=EPS)
        self.cases.append({"name": name, "op": "stats", "shape": list(shape), "eps": EPS,
                           "input": self.save(f"x_{name}", x.numpy()),
                           "expectedMean": self.save(f"m_{name}", mean.numpy()),
                           "expectedStd": self.save(f"s_{name}", std.numpy())})


def make(out: Path, seed: int) -> list[dict[str, Any]]:
    maker = Maker(out, seed)
    for shape in SHAPES:
        tag = "x".join(map(str, shape))
        maker.stats_case(f"stats_{tag}", shape)
        for crop in ("neither", "style", "content", "both"):
            for chan in (False, True):
                for lam in (None, 0.3):
                    name = f"cn_{crop}_{'chan' if chan else 'nochan'}_{'nolam' if lam is None else 'lam'}_{tag}"
                    maker.crossnorm_case(name, shape, crop, chan, lam)
        for two in (False, True):
            for mode in ("train", "eval"):
                maker.selfnorm_case(f"sn_{'two' if two else 'one'}_{mode}_{tag}", shape, two, mode)
        for crop in ("neither", "both"):
            maker.crossnorm_case(f"cnsn_{crop}_{tag}", shape, crop, True, None, selfnorm=(False, "train"))
            maker.crossnorm_case(f"cnsn2_{crop}_{tag}", shape, crop, True, None, selfnorm=(True, "eval"))
    return maker.cases


def main(argv: list[str]) -> None:
    if len(argv) != 2 or not argv[1].isdigit():
        sys.exit("usage: make_golden.py OUT_DIR SEED (a non-negative integer)")
    out = Path(argv[0])
    os.makedirs(out, exist_ok=True)
    cases = make(out, int(argv[1]))
    manifest = {
        "about": "Golden cases from the repository's PyTorch reference (tools/reference), float64 compute, "
        "float32 storage.",
        "format": FORMAT,
        "cases": cases,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(len(cases), "cases in", out)


if __name__ == "__main__":
    main(sys.argv[1:])
