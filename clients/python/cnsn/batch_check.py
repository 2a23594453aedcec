"""What the client checks of a batch before it sends it: the TypeScript driver's wording, its fixes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import EnqueueRefusedError


def as_float32_nchw(x: Any, seq: int) -> np.ndarray:
    """`x` (a numpy array or a CPU torch tensor) as a C-contiguous little-endian float32 NCHW array.

    Nothing is converted silently: a copy of a large batch is a cost the trainer should choose.
    """
    if not isinstance(x, np.ndarray):
        x = _from_torch(x, seq)
    if x.dtype != np.dtype("<f4"):
        raise EnqueueRefusedError(
            f"batch {seq} refused at enqueue: dtype {x.dtype.str} is not float32 little-endian ('<f4'); convert with x.astype('<f4')",
            seq=seq,
            reason=f"dtype {x.dtype.str}",
        )
    if x.ndim != 4:
        shape = ", ".join(str(d) for d in x.shape)
        raise EnqueueRefusedError(
            f"batch {seq} refused at enqueue: array is {x.ndim}-D with shape ({shape}); expected 4-D NCHW",
            seq=seq,
            reason=f"{x.ndim}-D",
        )
    if not x.flags.c_contiguous:
        raise EnqueueRefusedError(
            f"batch {seq} refused at enqueue: array is not C-contiguous (a transpose or a slice?); pass np.ascontiguousarray(x)",
            seq=seq,
            reason="not C-contiguous",
        )
    return x


def _from_torch(x: Any, seq: int) -> np.ndarray:
    numpy = getattr(x, "numpy", None)
    device = getattr(x, "device", None)
    if numpy is None:
        raise EnqueueRefusedError(
            f"batch {seq} refused at enqueue: a batch is a numpy array or a CPU torch tensor, got {type(x).__name__}",
            seq=seq,
            reason=type(x).__name__,
        )
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        raise EnqueueRefusedError(
            f"batch {seq} refused at enqueue: tensor is on {device}; move it with x.cpu()",
            seq=seq,
            reason=str(device),
        )
    if getattr(x, "requires_grad", False):
        return np.asarray(x.detach().numpy())
    return np.asarray(numpy())
