import {
  type BackendName,
  identityPlan,
  type KernelBackend,
  runGoldenCase,
  type Shape4,
} from '@cnsn/kernels';
import { narrowFloat32, WIRE_DTYPES, type WireDtype, widenToFloat32 } from '@cnsn/protocol';
import { Command, Option } from 'commander';
import { backendOption, openBackend } from '../backend-option.js';
import { type GoldenDir, openGoldenDir } from '../golden-files.js';

/** `cnsn golden-check DIR`: every case of DIR/manifest.json on one backend; exit 0 iff all pass. */
export function goldenCheckCommand(): Command {
  return new Command('golden-check')
    .description('check a backend against golden cases computed by the reference code')
    .argument('<dir>', 'directory with manifest.json (format: testdata/golden/README.md)')
    .addOption(backendOption('fused'))
    .addOption(
      new Option(
        '--wire <dtype>',
        'measure the error of a wire precision instead: inputs and outputs rounded through it (reports max abs and relative error)',
      )
        .choices(WIRE_DTYPES)
        .default('float32'),
    )
    .action(async (dir: string, flags: { backend: BackendName; wire: WireDtype }) => {
      const golden = await openGoldenDir(dir);
      const { cases, read } = golden;
      const { backend } = await openBackend(flags.backend);
      if (flags.wire !== 'float32') return wireError(backend, golden, flags.wire);
      let failed = 0;
      let maxAbsErr = 0;
      for (const c of cases) {
        const outcome = await runGoldenCase(backend, c, read);
        maxAbsErr = Math.max(maxAbsErr, outcome.maxAbsErr);
        if (!outcome.passed) {
          failed++;
          process.stderr.write(`FAIL ${c.name}: ${outcome.failure ?? 'out of tolerance'}\n`);
        }
      }
      process.stderr.write(
        `${cases.length - failed}/${cases.length} golden cases pass on ${backend.description}\n`,
      );
      process.stdout.write(
        `${JSON.stringify({ cases: cases.length, failed, maxAbsErr: Number.isFinite(maxAbsErr) ? maxAbsErr : null, backend: backend.name })}\n`,
      );
      await backend.dispose();
      if (failed > 0) process.exitCode = 1;
    });
}

/** The values as they arrive through a 16-bit wire: narrowed (round to nearest even), widened. */
function throughWire(x: Float32Array, wire: 'bfloat16' | 'float16'): Float32Array {
  return widenToFloat32(narrowFloat32(x, wire, new Uint16Array(x.length)), wire, new Float32Array(x.length));
}

/**
 * `golden-check --wire W`: every augmentation case with its input and its output rounded through the
 * wire, as a 16-bit run sends them, against the reference's float32 output. Relative error is taken
 * where |expected| >= 0.01 (near zero it says nothing). Exit 0 when every case ran.
 */
async function wireError(
  backend: KernelBackend,
  golden: GoldenDir,
  wire: 'bfloat16' | 'float16',
): Promise<void> {
  let maxAbsErr = 0;
  let maxRelErr = 0;
  let sumSq = 0;
  let count = 0;
  let ran = 0;
  for (const c of golden.cases) {
    if (c.op === 'stats') continue;
    const shape = c.shape as unknown as Shape4;
    const size = shape.reduce((a, b) => a * b, 1);
    const input = throughWire(await golden.read(c.input, size), wire);
    const plan = c.op === 'selfnorm' ? identityPlan(shape[0]) : { ...c.plan, fires: true };
    const result = await backend.augment(
      { data: input, shape },
      { plan, selfnorm: c.op === 'crossnorm' ? null : c.selfnorm },
    );
    const got = throughWire(result.data, wire);
    const expected = await golden.read(c.expected, size);
    for (let i = 0; i < size; i++) {
      const e = expected[i] as number;
      const err = Math.abs((got[i] as number) - e);
      maxAbsErr = Math.max(maxAbsErr, err);
      if (Math.abs(e) >= 0.01) maxRelErr = Math.max(maxRelErr, err / Math.abs(e));
      sumSq += err * err;
      count++;
    }
    ran++;
  }
  const rmsErr = Math.sqrt(sumSq / count);
  process.stderr.write(
    `${ran} golden augmentation cases through a ${wire} wire on ${backend.description}: max abs error ${maxAbsErr.toExponential(2)}, max relative error ${maxRelErr.toExponential(2)} (where |expected| >= 0.01), rms ${rmsErr.toExponential(2)}\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ cases: ran, wire, maxAbsErr, maxRelErr, rmsErr, backend: backend.name })}\n`,
  );
  await backend.dispose();
}
