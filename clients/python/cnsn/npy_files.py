"""Batches from .npy files and results into them, with the TypeScript CLI's messages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import UsageError


def load_batch(file: str) -> np.ndarray:
    """A float32 NCHW batch from `file`; an unreadable or unfit file raises UsageError naming it."""
    try:
        x = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UsageError(f"{file}: {err}") from err
    if x.dtype != np.dtype("<f4"):
        raise UsageError(f"{file}: dtype {x.dtype.str} is not float32 little-endian ('<f4'); convert with x.astype('<f4')")
    if x.ndim != 4:
        shape = ", ".join(str(d) for d in x.shape)
        raise UsageError(f"{file}: array is {x.ndim}-D with shape ({shape}); expected 4-D NCHW")
    if not x.flags.c_contiguous:
        raise UsageError(f"{file}: fortran_order arrays are not supported; save a C-order array (np.ascontiguousarray)")
    return x


class NpyOut:
    """Writes results as .npy, as the TypeScript CLI does: to `NAME.RUN.partial`, then renamed, so a
    file that exists is whole; on a resumed run a file that exists already is kept, and what a killed
    invocation of the same run left half-written is removed."""

    def __init__(self, directory: str, run: str, names: list[str]) -> None:
        self.dir = Path(directory)
        self.run = run
        self.dir.mkdir(parents=True, exist_ok=True)
        mine = {self._partial(name) for name in names}
        self.removed = sorted(p.name for p in self.dir.iterdir() if p.name in mine)
        for name in self.removed:
            (self.dir / name).unlink(missing_ok=True)

    def _partial(self, name: str) -> str:
        return f"{name}.{self.run}.partial"

    def write(self, name: str, array: np.ndarray) -> None:
        final = self.dir / name
        if final.exists():
            return
        partial = self.dir / self._partial(name)
        try:
            with open(partial, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
