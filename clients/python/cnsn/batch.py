"""One delivered batch, as `Run.results()` yields it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np


@dataclass
class Batch:
    """A batch back from the pipeline, in enqueue order.

    `data` is float32 NCHW (None for a skipped batch). `stats`, with `return_stats`, holds float64
    (N, C) arrays `mean` and `std` of the CrossNorm output.
    """

    seq: int
    status: Literal["ok", "skipped", "passthrough"]
    data: np.ndarray | None
    plan: dict[str, Any] | None = None
    stats: dict[str, np.ndarray] | None = None
    selfnorm_version: int = 0
    reason: str | None = None
    worker: str | None = None
    backend: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
