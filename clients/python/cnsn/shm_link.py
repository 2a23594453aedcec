"""A run's tensors through shared memory (the gateway's side: apps/cli/src/gateway/shm-link.ts).

Two files in /dev/shm: the client copies each batch it enqueues into the input file (one memcpy)
and the gateway reads it with one pread before it answers; the gateway writes each result into one
of `SLOTS` slots of the results file and the client copies it out (one memcpy) and frees the slot.
Both files are unlinked as soon as both sides hold them open, so nothing outlives the processes.
"""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np

SLOTS = 4


def shm_dir() -> str:
    """/dev/shm where it can be written (Linux), else the temporary directory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


class ShmLink:
    def __init__(self) -> None:
        base = shm_dir()
        self._in_fd, self.input_path = tempfile.mkstemp(prefix="cnsn-in-", dir=base)
        self._out_fd, self.results_path = tempfile.mkstemp(prefix="cnsn-out-", dir=base)
        self._in_map: mmap.mmap | None = None
        self._out_map: mmap.mmap | None = None

    def paths(self) -> dict[str, object]:
        return {"input": self.input_path, "results": self.results_path, "slots": SLOTS}

    def unlink(self) -> None:
        """Once the gateway holds both files open: they go when the last side closes them."""
        for path in (self.input_path, self.results_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def put(self, x: np.ndarray) -> int:
        """Copies a C-contiguous batch into the input file; returns its byte count."""
        n = x.nbytes
        if self._in_map is None or len(self._in_map) < n:
            os.ftruncate(self._in_fd, n)
            self._in_map = mmap.mmap(self._in_fd, n)
        # numpy copies without the GIL, so the consumer thread runs meanwhile.
        np.copyto(np.frombuffer(self._in_map, dtype=np.uint8, count=n), x.reshape(-1).view(np.uint8))
        return n

    def take(self, offset: int, parts: list[np.ndarray]) -> None:
        """Copies a result out of the results file at `offset` into `parts`, one after the other."""
        end = offset + sum(p.nbytes for p in parts)
        if self._out_map is None or len(self._out_map) < end:
            size = os.fstat(self._out_fd).st_size
            if size < end:
                raise OSError(f"shm link: the results file holds {size} bytes, the gateway said {end}")
            self._out_map = mmap.mmap(self._out_fd, size)
        at = offset
        for p in parts:
            src = np.frombuffer(self._out_map, dtype=np.uint8, count=p.nbytes, offset=at)
            np.copyto(p.reshape(-1).view(np.uint8), src)
            del src
            at += p.nbytes

    def close(self) -> None:
        self.unlink()
        for m in (self._in_map, self._out_map):
            if m is not None:
                try:
                    m.close()
                except BufferError:
                    pass
        for fd in (self._in_fd, self._out_fd):
            try:
                os.close(fd)
            except OSError:
                pass
