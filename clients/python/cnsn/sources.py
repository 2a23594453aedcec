"""Where `python3 -m cnsn run` takes its batches: synthetic ones, or .npy files (as the TS CLI)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from .npy_files import load_batch
from .synthetic import synthetic_batch

#: Synthetic runs up to this many bytes are made before the clock starts; longer ones on demand,
#: their making kept off the clock (apps/cli/src/batch-source.ts: SYNTHETIC_EAGER_BYTES).
SYNTHETIC_EAGER_BYTES = 256 * 1024 * 1024


class BatchSource:
    """Batches 0..count-1, their output names, and the seconds spent making them on demand."""

    def __init__(self, described: dict[str, Any], eager_bytes: int = SYNTHETIC_EAGER_BYTES) -> None:
        self.make_s = 0.0
        self.kind = described["kind"]
        if self.kind == "npy":
            self.files: list[str] = list(described["files"])
            self.count = len(self.files)
            self._batches: list[np.ndarray] = []
            return
        self.shape = tuple(int(d) for d in described["shape"])
        self.seed = int(described["seed"])
        self.count = int(described["batches"])
        self.files = []
        nbytes = int(np.prod(self.shape)) * 4
        eager = nbytes * self.count <= eager_bytes
        self._batches = [synthetic_batch(self.shape, self.seed, k) for k in range(self.count)] if eager else []

    def name(self, seq: int) -> str:
        return os.path.basename(self.files[seq]) if self.files else f"batch-{seq:06d}.npy"

    def file(self, seq: int) -> str | None:
        return self.files[seq] if self.files else None

    def named(self, seq: int) -> str:
        file = self.file(seq)
        return f"batch {seq} ({file})" if file else f"batch {seq}"

    def load(self, seq: int) -> np.ndarray:
        if self.kind == "npy":
            return load_batch(self.files[seq])
        if self._batches:
            return self._batches[seq]
        t0 = time.perf_counter()
        batch = synthetic_batch(self.shape, self.seed, seq)
        self.make_s += time.perf_counter() - t0
        return batch
