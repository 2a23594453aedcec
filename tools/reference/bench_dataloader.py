"""The reference's CrossNorm (crop both, chan) -> SelfNorm (train) inside a PyTorch DataLoader: what a
user would run instead of the pipeline. The speed baseline of
`npm run cnsn -- bench pipeline --baseline-dataloader`.

usage: python3 bench_dataloader.py [N,C,H,W] [BATCHES] [WORKERS]   (defaults 64,512,7,7, 60, 2)
The batches are made before the clock starts; the loader's workers augment them (one thread each)
and the loop takes them in order. Prints one line, e.g.
  torch DataLoader workers=2 60x64x512x7x7: 80.12 ms/batch, 0.080 GB/s end-to-end (in order)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnsn_reference import SelfNorm, crossnorm  # noqa: E402


class Augmented(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Batch i of a fixed list, augmented when a loader worker asks for it."""

    def __init__(self, batches: list[torch.Tensor], channels: int) -> None:
        self.batches = batches
        self.selfnorm = SelfNorm(channels)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        with torch.no_grad():
            return i, self.selfnorm(crossnorm(self.batches[i], "both", chan=True))


def main(argv: list[str]) -> None:
    n, c, h, w = (int(v) for v in (argv[0] if argv else "64,512,7,7").split(","))
    count = int(argv[1]) if len(argv) > 1 else 60
    workers = int(argv[2]) if len(argv) > 2 else 2
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(n, c, h, w, generator=gen) for _ in range(count)]
    loader = torch.utils.data.DataLoader(
        Augmented(batches, c), batch_size=None, num_workers=workers, prefetch_factor=2 if workers else None
    )
    start = time.perf_counter()
    expected = 0
    checksum = 0.0
    for i, y in loader:
        assert i == expected, f"batch {i} arrived where {expected} was due"
        expected += 1
        checksum += float(y[0, 0, 0, 0])  # touch the result, as a trainer would
    seconds = time.perf_counter() - start
    gb = count * n * c * h * w * 4 / seconds / 1e9
    print(
        f"torch DataLoader workers={workers} {count}x{n}x{c}x{h}x{w}: {seconds * 1000 / count:.2f} ms/batch, "
        f"{gb:.3f} GB/s end-to-end (in order)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
