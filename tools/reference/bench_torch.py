"""Times the reference's CrossNorm (chan) -> SelfNorm (train) on one batch: the speed baseline of
`npm run cnsn -- bench kernel --baseline-torch`.

usage: python3 bench_torch.py [N,C,H,W] [THREADS] [DEVICE]   (defaults 64,512,7,7, 2, cpu)
Prints one line per crop mode ("neither", then "both"), e.g.
  torch2.6.0 threads=2 device=cpu crop=both 64x512x7x7: 33.10 ms/batch, 0.194 GB/s
The mean of 10 steps after 3 untimed ones; a step draws its own plan, as a trainer's would.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnsn_reference import SelfNorm, crossnorm  # noqa: E402

WARMUP = 3
STEPS = 10


def main(argv: list[str]) -> None:
    n, c, h, w = (int(v) for v in (argv[0] if argv else "64,512,7,7").split(","))
    torch.set_num_threads(int(argv[1]) if len(argv) > 1 else 2)
    device = torch.device(argv[2] if len(argv) > 2 else "cpu")
    x = torch.randn(n, c, h, w, device=device)
    selfnorm = SelfNorm(c).to(device)  # PyTorch's initialisation, train mode: the batch's statistics

    def step(crop: str) -> torch.Tensor:
        with torch.no_grad():
            return selfnorm(crossnorm(x, crop, chan=True))  # type: ignore[arg-type]

    for crop in ("neither", "both"):
        for _ in range(WARMUP):
            step(crop)
        sync(device)
        start = time.perf_counter()
        for _ in range(STEPS):
            step(crop)
        sync(device)
        ms = (time.perf_counter() - start) / STEPS * 1000
        print(
            f"torch{torch.__version__} threads={torch.get_num_threads()} device={device} crop={crop} "
            f"{n}x{c}x{h}x{w}: {ms:.2f} ms/batch, {n * c * h * w * 4 / ms / 1e6:.3f} GB/s"
        )


def sync(device: torch.device) -> None:
    """Waits for a GPU's queued work, so the clock times it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main(sys.argv[1:])
