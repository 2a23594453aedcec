"""The client's errors: one class per error the TypeScript driver has, the same one-line messages."""

from __future__ import annotations

from typing import Any


class CnsnError(Exception):
    """Every error of the client; its message says what is wrong, where, and what to do."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        for name, value in fields.items():
            setattr(self, name, value)


class UsageError(CnsnError, ValueError):
    """Bad options or arguments (the command line exits 2 on these)."""


class EnqueueRefusedError(CnsnError):
    """A batch was refused before it was enqueued: wrong dtype, layout, rank, size. `seq`, `reason`."""

    seq: int
    reason: str


class BatchFailedError(CnsnError):
    """A batch failed for good under `on_error="fail"`. `run`, `seq`, `reason`."""

    run: str
    seq: int
    reason: str


class RunExistsError(CnsnError):
    """`open_run` of a run id Redis holds already, without `resume=True`."""


class RunFinishedError(CnsnError):
    """`open_run` of a run id that finished; `finished` says what it delivered."""

    finished: dict[str, Any]
    resume: bool


class RedisConnectionError(CnsnError):
    """Redis refused the gateway for good (password, permission, TLS)."""


class GatewayError(CnsnError):
    """The gateway could not start, or died: the run can go on with `open_run(run_id=..., resume=True)`."""


_BY_NAME: dict[str, type[CnsnError]] = {
    "CliError": UsageError,
    "KernelInputError": UsageError,
    "ProtocolError": UsageError,
    "EnqueueRefusedError": EnqueueRefusedError,
    "BatchFailedError": BatchFailedError,
    "RunExistsError": RunExistsError,
    "RunFinishedError": RunFinishedError,
    "RedisConnectionError": RedisConnectionError,
}


def from_frame(error: dict[str, Any]) -> CnsnError:
    """The error a gateway reply carries, as its class."""
    fields = {k: v for k, v in error.items() if k not in ("type", "message")}
    cls = _BY_NAME.get(str(error.get("type")), CnsnError)
    return cls(str(error.get("message", "unknown error")), **fields)
