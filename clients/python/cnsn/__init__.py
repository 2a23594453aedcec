"""cnsn: drive cnsn-pipeline from Python (PYTHON.md).

`cnsn.connect()` starts the project's TypeScript driver as a local gateway and returns a pipeline;
its runs take numpy float32 NCHW batches and give them back augmented, strictly in order.
`cnsn.torch` holds the PyTorch side: `CnsnDataset` and the paper's `SelfNorm` as a module.
"""

from .batch import Batch
from .client import Pipeline, Run, connect
from .errors import (
    BatchFailedError,
    CnsnError,
    EnqueueRefusedError,
    GatewayError,
    RedisConnectionError,
    RunExistsError,
    RunFinishedError,
    UsageError,
)

__all__ = [
    "Batch",
    "BatchFailedError",
    "CnsnError",
    "EnqueueRefusedError",
    "GatewayError",
    "Pipeline",
    "RedisConnectionError",
    "Run",
    "RunExistsError",
    "RunFinishedError",
    "UsageError",
    "__version__",
    "connect",
]
__version__ = "0.1.0"
