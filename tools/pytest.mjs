#!/usr/bin/env node
// npm run test:python: the Python client's tests and the PyTorch reference's (pytest: its outputs
// against the golden cases) under Debian's interpreter, which sees Debian's numpy and torch
// (docs/python.md). Where they are missing it says what to install and skips,
// unless CNSN_REQUIRE_TORCH=1 (CI), where that is a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const python = process.env.CNSN_PYTHON ?? '/usr/bin/python3';
const probe = existsSync(python)
  ? spawnSync(python, ['-c', 'import numpy, torch, pytest'], { stdio: 'ignore' }).status
  : 1;
if (probe !== 0) {
  const why = `${python} cannot import numpy, torch and pytest (apt-get install python3-numpy python3-torch python3-pytest)`;
  if (process.env.CNSN_REQUIRE_TORCH === '1') {
    console.error(`test:python: ${why}`);
    process.exit(1);
  }
  console.warn(`test:python: skipped: ${why}`);
  process.exit(0);
}
const run = spawnSync(
  python,
  ['-m', 'pytest', 'clients/python/tests', 'tools/reference', '-q', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
process.exit(run.status ?? 1);
