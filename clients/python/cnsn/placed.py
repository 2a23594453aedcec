"""Tensors in place on the shm plane (the gateway's side: libs/pipeline/src/data-plane/shm/).

When the client and the workers share this host and the run's plane is `shm`, a batch's input is a
file in the run's directory in /dev/shm that the client writes itself (its float32 values at
`data_at`; the gateway then writes the header before the offset), and a result is a file the worker
wrote that the client reads at the offset the gateway names. The gateway never copies the values.
Files come from the run's `spare/` directory when there are some: tmpfs allocates and zeroes the
pages of a new file, which costs more than the copy.
"""

from __future__ import annotations

import os

import numpy as np

SPARES = "spare"


def put_input(run_dir: str, seq: int, data_at: int, x: np.ndarray) -> None:
    """Writes batch `seq`'s values (C-contiguous float32) at `data_at` of its input file."""
    path = os.path.join(run_dir, f"{seq}.in")
    tmp = _take_spare(run_dir, f"{seq}.in.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_RDWR)
    try:
        view = memoryview(x).cast("B")
        done = 0
        while done < view.nbytes:
            done += os.pwrite(fd, view[done:], data_at + done)
        end = data_at + view.nbytes
        if os.fstat(fd).st_size != end:
            os.ftruncate(fd, end)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def read_result(place: dict[str, object], into: np.ndarray) -> None:
    """Reads a result's values from where they lie (`{path, offset, bytes}`) into `into`."""
    nbytes = int(place["bytes"])  # type: ignore[call-overload]
    if nbytes != into.nbytes:
        raise OSError(f"the result at {place['path']} holds {nbytes} bytes, its shape needs {into.nbytes}")
    fd = os.open(str(place["path"]), os.O_RDONLY)
    try:
        view = memoryview(into).cast("B")
        offset = int(place["offset"])  # type: ignore[call-overload]
        got = 0
        while got < nbytes:
            k = os.preadv(fd, [view[got:]], offset + got)
            if k == 0:
                raise OSError(f"the result at {place['path']} ended {nbytes - got} bytes early")
            got += k
    finally:
        os.close(fd)


def _take_spare(run_dir: str, name: str) -> str:
    """A spare file of the run renamed to `name` (another process may take one first), else a new one."""
    to = os.path.join(run_dir, name)
    spares = os.path.join(run_dir, SPARES)
    try:
        names = os.listdir(spares)
    except FileNotFoundError:
        names = []
    for spare in names:
        try:
            os.rename(os.path.join(spares, spare), to)
            return to
        except FileNotFoundError:
            continue
    os.close(os.open(to, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    return to
