"""PyTorch side of the client: `CnsnDataset`, and the paper's SelfNorm as a module.

Train with the pipeline's CrossNorm and a SelfNorm that learns: open the run with
`selfnorm=None, return_stats=True` (TypeScript: `selfnorm: null, returnStats: true`; CLI:
`--selfnorm off --return-stats`), and call `SelfNorm(x, stats=(mean, std))` with each batch's
statistics. Its parameters and their names are those of the paper's `SelfNorm`
(`g_fc`, `g_bn`, `f_fc`, `f_bn`), so state dicts move between the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

#: The eps the paper's SelfNorm adds to the unbiased variance.
SELFNORM_EPS = 1e-12


def instance_mean_std(x: torch.Tensor, eps: float = SELFNORM_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-(instance, channel) mean and std = sqrt(unbiased variance + eps), each (N, C)."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    return flat.mean(dim=2), (flat.var(dim=2) + eps).sqrt()


class SelfNorm(nn.Module):
    """SelfNorm (ICCV 2021): per-(instance, channel) gates from the instance statistics.

    `forward(x, stats=None)`: with `stats`, a pair of (N, C) arrays or tensors (the pipeline's
    `mean` and `std` of `x`, float64), they stand for the statistics of `x`; without, they are
    computed from `x` as the paper does. Either way the gates' weights get their gradients.
    """

    def __init__(self, channels: int, two: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.g_fc = nn.Conv1d(channels, channels, kernel_size=2, bias=False, groups=channels)
        self.g_bn = nn.BatchNorm1d(channels)
        self.f_fc: nn.Conv1d | None = None
        self.f_bn: nn.BatchNorm1d | None = None
        if two:
            self.f_fc = nn.Conv1d(channels, channels, kernel_size=2, bias=False, groups=channels)
            self.f_bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, stats: Any = None) -> torch.Tensor:
        b, c = x.shape[:2]
        if c != self.channels:
            raise ValueError(f"SelfNorm: x has {c} channels, the module {self.channels}; build it with SelfNorm({c})")
        if stats is None:
            mean, std = instance_mean_std(x)
        else:
            mean, std = (_as_tensor(s, x, name, b, c) for s, name in zip(stats, ("mean", "std")))
        statistics = torch.stack((mean, std), dim=-1)  # (N, C, 2), as the paper's cat of (N, C, 1)s
        g = torch.sigmoid(self.g_bn(self.g_fc(statistics))).view(b, c, 1, 1)
        if self.f_fc is None or self.f_bn is None:
            return x * g
        f = torch.sigmoid(self.f_bn(self.f_fc(statistics))).view(b, c, 1, 1)
        return x * g + mean.view(b, c, 1, 1) * (f - g)

    def to_params(self) -> dict[str, Any]:
        """The module's weights in the pipeline's form (the golden manifest's `selfnorm.params`)."""

        def gate(fc: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[list[list[float]], dict[str, Any]]:
            weight = fc.weight.detach().reshape(self.channels, 2).double().tolist()
            return weight, {
                "weight": bn.weight.detach().double().tolist(),
                "bias": bn.bias.detach().double().tolist(),
                "runningMean": bn.running_mean.double().tolist(),  # type: ignore[union-attr]
                "runningVar": bn.running_var.double().tolist(),  # type: ignore[union-attr]
                "eps": bn.eps,
            }

        g_weight, g_bn = gate(self.g_fc, self.g_bn)
        params: dict[str, Any] = {"gWeight": g_weight, "gBn": g_bn}
        if self.f_fc is not None and self.f_bn is not None:
            params["fWeight"], params["fBn"] = gate(self.f_fc, self.f_bn)
        return params


def _as_tensor(value: Any, like: torch.Tensor, name: str, n: int, c: int) -> torch.Tensor:
    t = torch.as_tensor(value).to(device=like.device, dtype=like.dtype)
    if t.numel() != n * c:
        raise ValueError(
            f"SelfNorm: stats {name} has {t.numel()} values, x needs {n}x{c}; pass the stats of this batch"
        )
    return t.reshape(n, c)


class CnsnDataset(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Augmented batches from the pipeline as a torch IterableDataset, in source order.

    `open_run` opens a run from stream keywords (`seed`, `rank`, `epoch`, `start`), e.g.
    `functools.partial(pipeline.open_run, crossnorm={"cn_prob": 0.5})`; `source` is a re-iterable
    of batches, each `x` or `(x, extra)` (labels, ids) with `x` float32 NCHW (numpy or CPU tensor).
    Iterating yields `(augmented, extra)`: enqueueing runs in a thread, ahead of the trainer by the
    run's window. A full pass moves to the next epoch (its own plan stream). `state_dict()` says
    where the next batch is; a trainer restored with `load_state_dict()` skips the batches it had
    and gets the plans it would have had. Use with `DataLoader(dataset, batch_size=None)` or alone.
    """

    def __init__(self, open_run: Any, source: Any, seed: int = 0, rank: int = 0, epoch: int = 0) -> None:
        super().__init__()
        self._open_run = open_run
        self._source = source
        self.seed, self.rank, self.epoch, self.next = seed, rank, epoch, 0
        #: The latest Batch (plan, stats, selfnorm_version) behind the latest item yielded.
        self.last_batch: Any = None

    def set_epoch(self, epoch: int) -> None:
        """Starts epoch `epoch` from its first batch (as DistributedSampler.set_epoch)."""
        self.epoch, self.next = epoch, 0

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "rank": self.rank, "epoch": self.epoch, "next": self.next}

    def load_state_dict(self, state: dict[str, int]) -> None:
        missing = {"seed", "rank", "epoch", "next"} - set(state)
        if missing:
            raise ValueError(f"CnsnDataset.load_state_dict: missing {', '.join(sorted(missing))}; pass what state_dict() gave")
        self.seed, self.rank, self.epoch, self.next = (int(state[k]) for k in ("seed", "rank", "epoch", "next"))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Any]]:
        import itertools
        import threading
        from collections import deque

        start = self.next
        run = self._open_run(seed=self.seed, rank=self.rank, epoch=self.epoch, start=start)
        extras: deque[Any] = deque()
        failure: list[BaseException] = []

        def feed() -> None:
            try:
                for item in itertools.islice(iter(self._source), start, None):
                    x, extra = item if isinstance(item, tuple) else (item, None)
                    extras.append(extra)
                    run.enqueue(x)
                run.end()
            except BaseException as err:  # the consumer raises it
                failure.append(err)
                run.close()

        feeder = threading.Thread(target=feed, name="cnsn-dataset-feeder", daemon=True)
        feeder.start()
        try:
            for batch in run.results():
                extra = extras.popleft()
                self.next += 1
                if batch.data is None:
                    continue  # skipped under on_error="skip": its place counts, nothing to train on
                self.last_batch = batch
                yield torch.from_numpy(batch.data), extra
            feeder.join()
            if failure:
                raise failure[0]
            self.epoch, self.next = self.epoch + 1, 0
        finally:
            run.close()
            feeder.join(5)
