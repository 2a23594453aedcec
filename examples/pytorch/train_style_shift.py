#!/usr/bin/env python3
"""Trains a small CNN with CrossNorm through the pipeline and measures robustness to a style shift.

    PYTHONPATH=clients/python python3 examples/pytorch/train_style_shift.py [--quick] [--plot F.png]

Arms: `none` (no CrossNorm), `crossnorm` (CrossNorm in image space through the pipeline with
cn_prob 0.5, as the paper's ImageNet recipe), `crossnorm+selfnorm` (the same, and the paper's
SelfNorm in the model, `cnsn.torch.SelfNorm`). Each arm trains on the training style family and is
tested on held-out images of the same family (clean) and of the shifted family (shifted), over the
seeds given. The last line of stdout is JSON: per arm, accuracies (mean, std, per seed) and the
fraction of step time the trainer waited for its next batch.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "clients" / "python"))

import cnsn  # noqa: E402
from cnsn.torch import CnsnDataset, SelfNorm  # noqa: E402
from style_shift_data import CLASSES, make_split  # noqa: E402

ARMS = ("none", "crossnorm", "crossnorm+selfnorm")


class SmallCnn(nn.Module):
    def __init__(self, selfnorm: bool) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.selfnorm = SelfNorm(32) if selfnorm else None
        self.body = nn.Sequential(
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, len(CLASSES)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.selfnorm is not None:
            x = self.selfnorm(x)
        return self.body(x)


def batches(x: np.ndarray, y: np.ndarray, size: int, seed: int) -> list[tuple[np.ndarray, torch.Tensor]]:
    """One epoch's batches in a seeded order (the same every time it is asked: a resumable source)."""
    order = np.random.default_rng(seed).permutation(len(x))
    return [
        (np.ascontiguousarray(x[order[i : i + size]]), torch.from_numpy(y[order[i : i + size]]))
        for i in range(0, len(x) - size + 1, size)
    ]


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(x[i : i + 256])).argmax(1) for i in range(0, len(x), 256)])
    return float((pred.numpy() == y).mean())


def train_arm(arm: str, seed: int, data: dict[str, Any], cfg: argparse.Namespace, pipeline: Any) -> dict[str, float]:
    torch.manual_seed(seed)
    model = SmallCnn(selfnorm=arm == "crossnorm+selfnorm")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    wait = step = 0.0
    for epoch in range(cfg.epochs):
        source = batches(data["train_x"], data["train_y"], cfg.batch, seed * 1000 + epoch)
        if arm == "none":
            stream: Any = ((torch.from_numpy(x), y) for x, y in source)
        else:
            open_run = functools.partial(pipeline.open_run, crossnorm={"cn_prob": 0.5}, selfnorm=None)
            stream = CnsnDataset(open_run, source, seed=seed, epoch=epoch)
        model.train()
        t = time.perf_counter()
        for xb, yb in stream:
            t_got = time.perf_counter()
            wait += t_got - t
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            t = time.perf_counter()
            step += t - t_got
    return {
        "clean": accuracy(model, data["clean_x"], data["clean_y"]),
        "shifted": accuracy(model, data["shift_x"], data["shift_y"]),
        "waitFraction": wait / max(wait + step, 1e-9),
    }


def summarize(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm, per_seed in runs.items():
        out[arm] = {}
        for key in ("clean", "shifted", "waitFraction"):
            values = [r[key] for r in per_seed]
            out[arm][key] = {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4), "seeds": [round(v, 4) for v in values]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (under 60 s on 2 cores): 1 seed, fewer images")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train", type=int, default=4096, help="training images")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--plot", help="write a PNG of the accuracies (needs node and the checkout's node_modules)")
    ap.add_argument("--results", help="also write the JSON to this file")
    cfg = ap.parse_args()
    if cfg.quick:
        cfg.seeds, cfg.epochs, cfg.train = "0", 4, 1024
    seeds = [int(s) for s in cfg.seeds.split(",")]
    arms = cfg.arms.split(",")
    bad = [a for a in arms if a not in ARMS]
    if bad:
        ap.error(f"unknown arm {bad[0]}; the arms are {', '.join(ARMS)}")
    torch.set_num_threads(1)  # the pipeline's workers share these cores
    train_x, train_y = make_split(cfg.train, "train", 1)
    clean_x, clean_y = make_split(1024, "train", 2)
    shift_x, shift_y = make_split(1024, "shifted", 3)
    data = dict(train_x=train_x, train_y=train_y, clean_x=clean_x, clean_y=clean_y, shift_x=shift_x, shift_y=shift_y)
    t0 = time.perf_counter()
    runs: dict[str, list[dict[str, float]]] = {a: [] for a in arms}
    with cnsn.connect() as pipeline:
        for seed in seeds:
            for arm in arms:
                r = train_arm(arm, seed, data, cfg, pipeline)
                runs[arm].append(r)
                print(f"seed {seed} {arm:>20}: clean {r['clean']:.3f} shifted {r['shifted']:.3f} waited {100 * r['waitFraction']:.1f}% of step time", file=sys.stderr)
    result = {"seeds": seeds, "epochs": cfg.epochs, "trainImages": cfg.train, "seconds": round(time.perf_counter() - t0, 1), "arms": summarize(runs)}
    if cfg.results:
        Path(cfg.results).write_text(json.dumps(result, indent=2) + "\n")
    if cfg.plot:
        subprocess.run(["node", str(HERE / "plot_results.mjs"), "-", cfg.plot], input=json.dumps(result), text=True, check=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
