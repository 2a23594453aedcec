import { type BackendName, runGoldenCase } from '@cnsn/kernels';
import { Command } from 'commander';
import { backendOption, openBackend } from '../backend-option.js';
import { openGoldenDir } from '../golden-files.js';

/** `cnsn golden-check DIR`: every case of DIR/manifest.json on one backend; exit 0 iff all pass. */
export function goldenCheckCommand(): Command {
  return new Command('golden-check')
    .description('check a backend against golden cases computed by the reference code')
    .argument('<dir>', 'directory with manifest.json (format: ../shared/golden)')
    .addOption(backendOption('fused'))
    .action(async (dir: string, flags: { backend: BackendName }) => {
      const { cases, read } = await openGoldenDir(dir);
      const { backend } = await openBackend(flags.backend);
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
