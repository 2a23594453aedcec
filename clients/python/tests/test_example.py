"""examples/pytorch/train_style_shift.py --quick: a model trained through the pipeline."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, client_env, last_json


def test_quick_training_run_prints_its_results() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "pytorch" / "train_style_shift.py"), "--quick"],
        capture_output=True,
        text=True,
        env=client_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = last_json(out.stdout)
    assert set(result["arms"]) == {"none", "crossnorm", "crossnorm+selfnorm"}
    for arm in result["arms"].values():
        assert 0 <= arm["clean"]["mean"] <= 1 and 0 <= arm["shifted"]["mean"] <= 1
        assert 0 <= arm["waitFraction"]["mean"] < 1
    assert result["arms"]["none"]["waitFraction"]["mean"] < 0.05, "no pipeline, nothing to wait for"
