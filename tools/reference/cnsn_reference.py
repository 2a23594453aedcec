"""CrossNorm and SelfNorm (Tang et al., ICCV 2021) in PyTorch: this repository's reference.

Written here from the paper's definitions (docs/design.md, "The reference"), not copied from the
paper's code. It is what the speed baselines time (bench_torch.py, bench_dataloader.py beside this
file) and what the Python tests compare the pipeline with; test_cnsn_reference.py holds it to the
golden cases of testdata/golden, which the paper's own code computed. So the chain is: the paper's
code -> the golden numbers -> this module -> the baselines.

It is a baseline, not a fast path: it does the paper's tensor operations in the paper's order (a
permuted copy of the batch, normalise then re-style, a zero-filled canvas and a mask for a content
box), on whatever device the batch lies on, so that timing it times what a user of the paper's
code pays. The fused algebra that the kernels use instead is in docs/design.md, "The algebra".

Needs torch and numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

Crop = Literal["neither", "style", "content", "both"]
CROPS: tuple[str, ...] = ("neither", "style", "content", "both")
#: eps added to the unbiased variance: CrossNorm's statistics, and SelfNorm's.
CROSSNORM_EPS = 1e-5
SELFNORM_EPS = 1e-12

#: A box on an NCHW map: (start2, start3, end2, end3), half-open ranges on dimensions 2 and 3.
Box = tuple[int, int, int, int]


class BoxRandom(Protocol):
    """What the box sampler draws from: numpy's legacy generator (`np.random`, a RandomState)."""

    def beta(self, a: float, b: float) -> float: ...

    def randint(self, high: int) -> int: ...


def instance_stats(x: torch.Tensor, eps: float = CROSSNORM_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of every (instance, channel) map of an NCHW tensor, each shaped (N, C, 1, 1).

    std = sqrt(unbiased variance + eps), the paper's definition (eps 1e-5 for CrossNorm, 1e-12 for
    SelfNorm). A map of one element has no unbiased variance: its std is NaN, as in the paper.
    """
    if x.dim() != 4:
        raise ValueError(f"instance_stats: x has shape {tuple(x.shape)}, expected 4 dimensions (N, C, H, W)")
    n, c = x.shape[:2]
    flat = x.contiguous().view(n, c, -1)
    std = (flat.var(dim=2) + eps).sqrt().view(n, c, 1, 1)
    mean = flat.mean(dim=2).view(n, c, 1, 1)
    return mean, std


def restyle(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Content's maps normalised by their own statistics, then given style's (same N and C)."""
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(
            f"restyle: content is {tuple(content.shape[:2])} (N, C), style {tuple(style.shape[:2])}; they must agree"
        )
    style_mean, style_std = instance_stats(style)
    content_mean, content_std = instance_stats(content)
    size = content.size()
    normalised = (content - content_mean.expand(size)) / content_std.expand(size)
    return normalised * style_std.expand(size) + style_mean.expand(size)


def sample_box(
    shape: Sequence[int], beta: float = 1.0, bbx_thres: float = 0.1, rng: BoxRandom | None = None
) -> Box:
    """A random box on dimensions 2 and 3 of an NCHW shape, the paper's way.

    Draw r ~ Beta(beta, beta); each side is int(extent * sqrt(r)); the centre is uniform over the
    map (dimension 2 drawn first); the box runs half a side either way, clipped to the map; draw
    again until the box covers more than `bbx_thres` of the map. `rng` defaults to numpy's global
    generator (`np.random`), the one the paper draws from. The box may hold a single element (see
    docs/design.md: the pipeline itself resamples until it holds at least 2).
    """
    draw: Any = rng if rng is not None else np.random
    extent2, extent3 = int(shape[2]), int(shape[3])
    while True:
        scale = float(np.sqrt(draw.beta(beta, beta)))
        half2, half3 = int(extent2 * scale) // 2, int(extent3 * scale) // 2
        centre2 = int(draw.randint(extent2))
        centre3 = int(draw.randint(extent3))
        start2, end2 = max(centre2 - half2, 0), min(centre2 + half2, extent2)
        start3, end3 = max(centre3 - half3, 0), min(centre3 + half3, extent3)
        if (end2 - start2) * (end3 - start3) / (extent2 * extent3) > bbx_thres:
            return start2, start3, end2, end3


def crossnorm(
    x: torch.Tensor,
    crop: Crop = "neither",
    *,
    beta: float = 1.0,
    bbx_thres: float = 0.1,
    lam: float | None = None,
    chan: bool = False,
    ins_idxs: Any = None,
    chan_idxs: Any = None,
    style_box: Sequence[int] | None = None,
    content_box: Sequence[int] | None = None,
    rng: BoxRandom | None = None,
) -> torch.Tensor:
    """CrossNorm, 2-instance, with channel shuffle and crops, on an NCHW batch.

    Output instance n takes its style from instance `ins_idxs[n]` (and with `chan`, output channel c
    from channel `chan_idxs[c]` of that instance). `crop`: "style" takes the style statistics from
    one box; "content" re-styles only one box of every map and keeps the rest; "both" does both
    (two boxes). With `lam`, the output is `lam * x + (1 - lam) * crossnormed`. The permutations
    and boxes are drawn (torch.randperm, `sample_box`) unless given, so a caller can replay a plan.
    """
    if crop not in CROPS:
        raise ValueError(f"crossnorm: crop {crop!r} is not one of {', '.join(CROPS)}")
    n, c = x.shape[:2]
    ins = _index(ins_idxs, n, x.device)
    if crop in ("style", "both"):
        s2, s3, e2, e3 = _box(style_box, x.shape, beta, bbx_thres, rng)
        style = x[ins, :, s2:e2, s3:e3]
    else:
        style = x[ins]
    if chan:
        style = style[:, _index(chan_idxs, c, x.device), :, :]
    if crop in ("content", "both"):
        s2, s3, e2, e3 = _box(content_box, x.shape, beta, bbx_thres, rng)
        # The paper's way: the re-styled box on a zero canvas, plus x masked outside the box.
        canvas = torch.zeros_like(x)
        canvas[:, :, s2:e2, s3:e3] = restyle(x[:, :, s2:e2, s3:e3], style)
        keep = torch.ones_like(x, requires_grad=False)
        keep[:, :, s2:e2, s3:e3] = 0.0
        mixed = x * keep + canvas
    else:
        mixed = restyle(x, style)
    if lam is None:
        return mixed
    return x * lam + mixed * (1 - lam)


def _index(given: Any, size: int, device: torch.device) -> torch.Tensor:
    """A permutation of range(size): the one given, else a fresh torch.randperm (drawn on the CPU)."""
    if given is None:
        return torch.randperm(size).to(device)
    return torch.as_tensor(given, dtype=torch.long).to(device)


def _box(
    given: Sequence[int] | None, shape: Sequence[int], beta: float, bbx_thres: float, rng: BoxRandom | None
) -> Box:
    if given is None:
        return sample_box(shape, beta, bbx_thres, rng)
    s2, s3, e2, e3 = (int(v) for v in given)
    return s2, s3, e2, e3


class SelfNorm(nn.Module):
    """SelfNorm: per-(instance, channel) gates computed from the map's own mean and std.

    For each channel, z = w0 * mean + w1 * std (a grouped Conv1d of kernel 2, no bias), then
    BatchNorm1d over the batch, g = sigmoid(.); out = x * g. With `two`, a second gate f computed
    the same way: out = x * g + mean * (f - g). Statistics use eps 1e-12. The submodules carry the
    paper's names (`g_fc`, `g_bn`, `f_fc`, `f_bn`), so state dicts move between this, the paper's
    module and `cnsn.torch.SelfNorm`. Train mode normalises with the batch's statistics, eval mode
    with the running ones, as BatchNorm1d does.
    """

    def __init__(self, channels: int, two: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.g_fc = nn.Conv1d(channels, channels, kernel_size=2, bias=False, groups=channels)
        self.g_bn = nn.BatchNorm1d(channels)
        self.f_fc: nn.Conv1d | None = None
        self.f_bn: nn.BatchNorm1d | None = None
        if two:
            self.f_fc = nn.Conv1d(channels, channels, kernel_size=2, bias=False, groups=channels)
            self.f_bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        if c != self.channels:
            raise ValueError(f"SelfNorm: x has {c} channels, the module {self.channels}; build it with SelfNorm({c})")
        mean, std = instance_stats(x, eps=SELFNORM_EPS)
        statistics = torch.cat((mean.squeeze(3), std.squeeze(3)), -1)  # (N, C, 2): the Conv1d's input
        g = torch.sigmoid(self.g_bn(self.g_fc(statistics))).view(n, c, 1, 1)
        if self.f_fc is None or self.f_bn is None:
            return x * g.expand_as(x)
        f = torch.sigmoid(self.f_bn(self.f_fc(statistics))).view(n, c, 1, 1)
        return x * g.expand_as(x) + mean.expand_as(x) * (f.expand_as(x) - g.expand_as(x))

    @classmethod
    def from_params(
        cls, params: dict[str, Any], mode: Literal["train", "eval"] = "train", dtype: torch.dtype = torch.float32
    ) -> SelfNorm:
        """A module holding `params` in the pipeline's form (the golden manifest's `selfnorm.params`)."""
        channels = len(params["gWeight"])
        module = cls(channels, two="fWeight" in params).to(dtype)
        gates = [(module.g_fc, module.g_bn, params["gWeight"], params["gBn"])]
        if module.f_fc is not None and module.f_bn is not None:
            gates.append((module.f_fc, module.f_bn, params["fWeight"], params["fBn"]))
        with torch.no_grad():
            for fc, bn, weight, norm in gates:
                fc.weight.copy_(torch.tensor(weight, dtype=dtype).view(channels, 1, 2))
                bn.weight.copy_(torch.tensor(norm["weight"], dtype=dtype))
                bn.bias.copy_(torch.tensor(norm["bias"], dtype=dtype))
                bn.running_mean.copy_(torch.tensor(norm["runningMean"], dtype=dtype))  # type: ignore[union-attr]
                bn.running_var.copy_(torch.tensor(norm["runningVar"], dtype=dtype))  # type: ignore[union-attr]
                bn.eps = float(norm["eps"])
        return module.train(mode == "train")
