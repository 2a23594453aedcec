"""A data set made here (no download): coloured shapes, styled by one family for training and by a
shifted family for testing, so that a model that learns the shapes and not the styles does well.

Four classes (disk, square, triangle, ring) at random positions and sizes on 32x32 RGB images.
A style is per-channel colour of shape and background, contrast and brightness, as in the paper's
motivation (styles live in channel-wise mean and std). The training family is warm, bright and
high-contrast; the shifted family is cool (the red and blue channels' roles swapped), flatter and
darker: a shift in channel-wise statistics, which CrossNorm's exchange and shuffle of them covers.
"""

from __future__ import annotations

import numpy as np

SIZE = 32
CLASSES = ("disk", "square", "triangle", "ring")


def _masks(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = labels.shape[0]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cy = rng.uniform(10, 22, (n, 1, 1)).astype(np.float32)
    cx = rng.uniform(10, 22, (n, 1, 1)).astype(np.float32)
    r = rng.uniform(5, 9, (n, 1, 1)).astype(np.float32)
    dy, dx = yy - cy, xx - cx
    dist = np.sqrt(dy**2 + dx**2)
    shapes = np.stack(
        [
            dist <= r,  # disk
            (np.abs(dy) <= r * 0.85) & (np.abs(dx) <= r * 0.85),  # square
            (dy <= r * 0.7) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6),  # triangle, apex up
            (dist <= r) & (dist >= r * 0.55),  # ring
        ]
    )
    return shapes[labels, np.arange(n)].astype(np.float32)


def _styles(n: int, family: str, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    if family == "train":
        fg = rng.uniform([0.6, 0.3, 0.0], [1.0, 0.7, 0.3], (n, 3))
        bg = rng.uniform([0.2, 0.1, 0.0], [0.5, 0.3, 0.2], (n, 3))
        contrast = rng.uniform(1.0, 1.6, (n, 1))
        brightness = rng.uniform(0.0, 0.3, (n, 1))
    else:  # shifted: cool instead of warm (the channels' roles swapped), flatter and darker
        fg = rng.uniform([0.0, 0.3, 0.6], [0.3, 0.7, 1.0], (n, 3))
        bg = rng.uniform([0.0, 0.1, 0.2], [0.2, 0.3, 0.5], (n, 3))
        contrast = rng.uniform(0.7, 1.1, (n, 1))
        brightness = rng.uniform(-0.15, 0.1, (n, 1))
    return fg, bg, contrast, brightness


def make_split(n: int, family: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (float32 NCHW, C-contiguous) and their labels (int64)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    mask = _masks(labels, rng)[:, None]  # (n, 1, H, W)
    fg, bg, contrast, brightness = _styles(n, family, rng)
    img = mask * fg[:, :, None, None] + (1 - mask) * bg[:, :, None, None]
    mean = img.mean(axis=(2, 3), keepdims=True)
    img = (img - mean) * contrast[:, :, None, None] + mean + brightness[:, :, None, None]
    img += rng.normal(0, 0.03, img.shape)
    return np.ascontiguousarray(img, dtype=np.float32), labels.astype(np.int64)
