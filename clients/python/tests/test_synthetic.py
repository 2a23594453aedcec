"""cnsn.synthetic against apps/cli/src/synthetic.ts: the same bytes, so that digests can be compared."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from conftest import REPO, client_env

from cnsn.synthetic import synthetic_batch

# The bench's shape (64x512x7x7, where the Box-Muller generator once differed in one value of
# batch 25), odd and tiny planes, and a large one: about 10 million values in all.
CASES = [
    ((64, 512, 7, 7), 0, 25),
    ((64, 512, 7, 7), 3, 39),
    ((16, 256, 28, 28), 2, 11),
    ((8, 64, 14, 14), 0, 5),
    ((3, 5, 3, 3), 7, 1),
    ((2, 3, 1, 5), 1, 0),
]

_SCRIPT = """
import { writeFileSync } from 'node:fs';
import { syntheticBatch } from '%s';
const [dir, cases] = [process.argv[2], JSON.parse(process.argv[3])];
cases.forEach(([shape, seed, seq], i) => writeFileSync(`${dir}/${i}.bin`, syntheticBatch(shape, seed, seq).data));
"""


def test_the_same_bytes_as_the_typescript_generator(tmp_path) -> None:
    script = tmp_path / "make.mts"
    script.write_text(_SCRIPT % (REPO / "apps" / "cli" / "src" / "synthetic.ts").as_posix())
    loader = (REPO / "node_modules" / "tsx" / "dist" / "loader.mjs").as_uri()
    cases = json.dumps([[list(s), seed, seq] for s, seed, seq in CASES])
    done = subprocess.run(
        ["node", "--import", loader, str(script), str(tmp_path), cases],
        capture_output=True, text=True, env=client_env(), cwd=REPO, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    for i, (shape, seed, seq) in enumerate(CASES):
        ts = np.fromfile(tmp_path / f"{i}.bin", dtype="<u4")
        py = synthetic_batch(shape, seed, seq).reshape(-1).view("<u4")
        assert ts.size == py.size
        differ = np.flatnonzero(ts != py)
        assert differ.size == 0, f"{shape} seed {seed} batch {seq}: {differ.size} values differ, first at {differ[:3]}"


def test_a_unit_variance_bell_around_each_plane_s_shift() -> None:
    x = synthetic_batch((4, 64, 32, 32), 0, 0).astype(np.float64)
    planes = x.reshape(4 * 64, -1)
    # Each plane: shift in [-2, 2], scale in [0.2, 3]; a value at most sqrt(12) scales from its shift.
    assert np.all(np.abs(planes.mean(axis=1)) < 2.2)
    assert np.all((planes.std(axis=1) > 0.15) & (planes.std(axis=1) < 3.2))
    z = (planes - planes.mean(axis=1, keepdims=True)) / planes.std(axis=1, keepdims=True)
    assert abs(float(np.mean(z**4)) - 2.7) < 0.1, "the kurtosis of a sum of four uniforms: 3 - 6/20"
