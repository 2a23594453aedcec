"""The synthetic batches of `--synthetic`, bit for bit as the TypeScript CLI makes them.

apps/cli/src/synthetic.ts draws a mulberry32 stream: per (n, c) plane a scale and a shift, then
four uniforms a value, summed. Each draw's state is the seed state plus k times the increment, so
the whole stream is computed at once in uint32 arithmetic; the sums and scalings run in float64 in
JavaScript's order (every step exact or correctly rounded, so no maths library can differ) and round
to float32 once.
"""

from __future__ import annotations

import numpy as np

# uint32 arrays wrap on overflow as Math.imul and `>>> 0` do; numpy warns only on scalars, so
# every operand here is an array or a typed uint32.
_INC = np.uint32(0x6D2B79F5)


def _imul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Math.imul: the low 32 bits of the product."""
    return np.multiply(np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32), dtype=np.uint32)


def _uniforms(state0: int, draws: np.ndarray) -> np.ndarray:
    """The uniform of draw k (0-based) of the stream that starts at `state0`."""
    state = np.asarray(draws, dtype=np.uint32) + np.uint32(1)
    state *= _INC
    state += np.uint32(state0)
    t = _imul(state ^ (state >> np.uint32(15)), state | np.uint32(1))
    t ^= t + _imul(t ^ (t >> np.uint32(7)), t | np.uint32(61))
    t ^= t >> np.uint32(14)
    return (t + 0.5) / 4294967296.0


#: sqrt(3), as apps/cli/src/synthetic.ts writes it.
_SQRT3 = 1.7320508075688772


def synthetic_batch(shape: tuple[int, int, int, int], seed: int, seq: int) -> np.ndarray:
    """Batch `seq` of the synthetic run with this shape and seed (float32 NCHW)."""
    n, c, h, w = (int(d) for d in shape)
    hw = h * w
    per_plane = 2 + 4 * hw
    state0 = (int(_imul(seed ^ 0x5EED, 0x9E3779B1)) ^ int(_imul(seq + 1, 0x85EBCA6B))) & 0xFFFFFFFF
    planes = n * c
    base = np.arange(planes, dtype=np.uint32)[:, None] * np.uint32(per_plane)
    head = _uniforms(state0, base + np.arange(2, dtype=np.uint32))
    scale = 0.2 + 2.8 * head[:, 0:1]
    shift = 4 * head[:, 1:2] - 2
    u = _uniforms(state0, base + np.uint32(2) + np.arange(4 * hw, dtype=np.uint32)).reshape(planes, hw, 4)
    # Left to right, as JavaScript adds them.
    total = u[:, :, 0] + u[:, :, 1]
    total += u[:, :, 2]
    total += u[:, :, 3]
    values = (total - 2) * _SQRT3 * scale + shift
    return values.astype(np.float32).reshape(n, c, h, w)
