"""Leaving the `with` block, Ctrl-C, or a killed trainer: no gateway, Redis or worker is left, and no
run directory in /dev/shm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cnsn
from conftest import REPO, client_env

#: A trainer that starts a pipeline, says its gateway's process group, and trains "forever".
TRAINER = """
import sys, time
import numpy as np
import cnsn
with cnsn.connect() as p:
    run = p.open_run(selfnorm=None)
    print(p.gateway.pid, run.in_place["dir"], flush=True)
    x = np.ones((2, 3, 4, 4), dtype=np.float32)
    run.enqueue(x)
    for b in run.results():
        print("step", flush=True)
        time.sleep(600)
"""


def group_members(pgid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def start_trainer() -> tuple[subprocess.Popen[str], int, str]:
    child = subprocess.Popen(
        [sys.executable, "-c", TRAINER], stdout=subprocess.PIPE, text=True, env=client_env(), cwd=REPO
    )
    assert child.stdout is not None
    pid, run_dir = child.stdout.readline().split()
    pgid = int(pid)
    assert os.path.isdir(run_dir), "the run's tensors go in place on the shm plane"
    assert child.stdout.readline().strip() == "step"  # it holds a batch: workers and Redis are busy
    members = group_members(pgid)
    assert len(members) >= 4, f"gateway, redis-server and 2 workers expected, found {members}"
    return child, pgid, run_dir


def test_leaving_the_with_block_stops_everything() -> None:
    p = cnsn.connect()
    pgid = p.gateway.pid
    assert len(group_members(pgid)) >= 4
    p.close()
    assert group_members(pgid) == []


def test_ctrl_c_stops_everything() -> None:
    child, pgid, run_dir = start_trainer()
    child.send_signal(signal.SIGINT)  # what Ctrl-C sends the trainer (its gateway has its own group)
    assert child.wait(60) != 0
    assert group_members(pgid) == [], "close() returned with processes left"
    assert not os.path.exists(run_dir), "the run's files went with it"


def test_a_killed_trainer_leaves_nothing() -> None:
    child, pgid, run_dir = start_trainer()
    child.kill()
    child.wait(10)
    # The gateway sees its stdin close and stops its runs, workers and Redis; wait for that to end.
    deadline = time.monotonic() + 60
    while group_members(pgid):
        assert time.monotonic() < deadline, f"left behind: {group_members(pgid)}"
        time.sleep(0.1)
    assert not os.path.exists(run_dir), "the gateway closed the run and removed its files"
