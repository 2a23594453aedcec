"""`python3 -m cnsn run` against `npm run cnsn -- run`: the same flags give the same digest."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import last_json, run_python_cli, run_ts_cli

SMALL = ["--synthetic", "--batches", "6", "--shape", "4,8,6,5", "--json", "--no-progress"]


@pytest.mark.parametrize(
    "plane,wire",
    [("direct", "float32"), ("redis", "float32"), ("shm", "float32"), ("direct", "bfloat16"), ("redis", "float16"), ("shm", "bfloat16")],
)
def test_digest_equals_the_typescript_driver(plane: str, wire: str) -> None:
    flags = [*SMALL, "--data-plane", plane, "--wire", wire, "--seed", "3"]
    py = run_python_cli("run", *flags)
    ts = run_ts_cli("run", *flags)
    assert py.returncode == 0, py.stderr
    assert ts.returncode == 0, ts.stderr
    a, b = last_json(py.stdout), last_json(ts.stdout)
    assert a["digest"] == b["digest"]
    assert (a["dataPlane"], a["wire"], a["delivered"], a["failed"]) == (plane, wire, 6, 0)
    assert set(a) == set(b), "the same JSON fields as the TypeScript command"


def test_the_issue_s_command_on_both_planes() -> None:
    flags = ["--synthetic", "--batches", "20", "--shape", "8,64,14,14", "--json", "--no-progress"]
    ts = last_json(run_ts_cli("run", *flags).stdout)["digest"]
    for plane in ("direct", "redis", "shm"):
        py = run_python_cli("run", *flags, "--data-plane", plane)
        assert py.returncode == 0, py.stderr
        assert last_json(py.stdout)["digest"] == ts


def test_inputs_outputs_and_stats_files(tmp_path) -> None:
    """--input files in, --out files and their .stats.npy out, equal to the TypeScript command's."""
    rng = np.random.default_rng(0)
    files = []
    for k in range(3):
        f = tmp_path / f"in-{k}.npy"
        np.save(f, rng.normal(size=(4, 6, 5, 5)).astype("<f4"))
        files.append(str(f))
    flags = ["--input", *files, "--selfnorm", "off", "--return-stats", "--json", "--no-progress"]
    py = run_python_cli("run", *flags, "--out", str(tmp_path / "py"))
    ts = run_ts_cli("run", *flags, "--out", str(tmp_path / "ts"))
    assert py.returncode == 0, py.stderr
    assert last_json(py.stdout)["digest"] == last_json(ts.stdout)["digest"]
    for name in ("in-0.npy", "in-2.npy", "in-1.stats.npy"):
        a, b = np.load(tmp_path / "py" / name), np.load(tmp_path / "ts" / name)
        assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b), name


def test_bad_flags_and_bad_files_say_what_to_do(tmp_path) -> None:
    none = run_python_cli("run", "--json")
    assert none.returncode == 2
    assert "cnsn: error: no batches: give --synthetic" in none.stderr
    f = tmp_path / "x.npy"
    np.save(f, np.zeros((2, 3, 4, 4)))  # float64
    bad = run_python_cli("run", "--input", str(f))
    assert bad.returncode == 1
    assert "is not float32 little-endian ('<f4'); convert with x.astype('<f4')" in bad.stderr.splitlines()[-1]


def test_resume_of_a_finished_run_prints_its_summary(redis_url: str) -> None:
    flags = ["--synthetic", "--batches", "3", "--shape", "2,4,4,4", "--json", "--no-progress", "--redis", redis_url]
    flags += ["--workers-local", "2", "--run-id", "py-finished"]
    first = run_python_cli("run", *flags)
    assert first.returncode == 0, first.stderr
    again = run_python_cli("run", *flags, "--resume")
    assert again.returncode == 0, again.stderr
    summary = last_json(again.stdout)
    assert summary["complete"]["finishedAt"].endswith("Z")
    assert summary["digest"] == last_json(first.stdout)["digest"]
    reused = run_python_cli("run", *flags)
    assert reused.returncode == 1 and "choose another run id" in reused.stderr


def test_bench_beside_typescript_reports_both() -> None:
    out = run_python_cli("bench", "pipeline", "--batches", "4", "--shape", "4,8,6,5", "--beside-ts", "--rounds", "1")
    assert out.returncode == 0, out.stderr
    r = last_json(out.stdout)
    assert r["digest"] == r["tsDigest"]
    assert r["gbPerSec"] > 0 and r["tsGbPerSec"] > 0 and r["ratioVsTs"] == pytest.approx(r["gbPerSec"] / r["tsGbPerSec"], rel=0.01)
