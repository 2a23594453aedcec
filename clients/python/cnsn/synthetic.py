"""The synthetic batches of `--synthetic`, bit for bit as the TypeScript CLI makes them.

apps/cli/src/synthetic.ts draws a mulberry32 stream: per (n, c) plane a scale and a shift, then
Box-Muller pairs. Each draw's state is the seed state plus k times the increment, so the whole
stream is computed at once in uint32 arithmetic; the transcendental steps run in float64 as in
JavaScript and round to float32 once.
"""

from __future__ import annotations

import numpy as np

# Every constant typed: numpy 1.x turns uint64 mixed with a Python int into float64.
_INC = np.uint64(0x6D2B79F5)
_M32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)


def _imul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Math.imul: the low 32 bits of the product (of two uint32 values, exact in uint64)."""
    return ((np.asarray(a, dtype=np.uint64) * np.asarray(b, dtype=np.uint64)) & _M32).astype(np.uint32)


def _uniforms(state0: int, draws: np.ndarray) -> np.ndarray:
    """The uniform of draw k (0-based) of the stream that starts at `state0`."""
    state = ((np.uint64(state0) + (draws.astype(np.uint64) + _ONE) * _INC) & _M32).astype(np.uint32)
    t = _imul(state ^ (state >> np.uint32(15)), state | np.uint32(1))
    # t + imul(...) wraps at 32 bits, as JavaScript's `t + Math.imul(...)` taken `>>> 0` (uint32 add wraps).
    t = t ^ (t + _imul(t ^ (t >> np.uint32(7)), t | np.uint32(61)))
    out = (t ^ (t >> np.uint32(14))).astype(np.float64)
    return (out + 0.5) / 4294967296.0


def synthetic_batch(shape: tuple[int, int, int, int], seed: int, seq: int) -> np.ndarray:
    """Batch `seq` of the synthetic run with this shape and seed (float32 NCHW)."""
    n, c, h, w = (int(d) for d in shape)
    hw = h * w
    pairs = (hw + 1) // 2
    per_plane = 2 + 2 * pairs
    state0 = (int(_imul(seed ^ 0x5EED, 0x9E3779B1)) ^ int(_imul(seq + 1, 0x85EBCA6B))) & 0xFFFFFFFF
    planes = n * c
    base = np.arange(planes, dtype=np.uint64)[:, None] * np.uint64(per_plane)
    head = _uniforms(state0, base + np.arange(2, dtype=np.uint64))
    scale = 0.2 + 2.8 * head[:, 0:1]
    shift = 4 * head[:, 1:2] - 2
    draws = base + 2 + np.arange(2 * pairs, dtype=np.uint64)
    u = _uniforms(state0, draws).reshape(planes, pairs, 2)
    r = np.sqrt(-2 * np.log(u[:, :, 0]))
    a = 2 * np.pi * u[:, :, 1]
    values = np.empty((planes, 2 * pairs), dtype=np.float64)
    values[:, 0::2] = r * np.cos(a) * scale + shift
    values[:, 1::2] = r * np.sin(a) * scale + shift
    return values[:, :hw].astype(np.float32).reshape(n, c, h, w)
