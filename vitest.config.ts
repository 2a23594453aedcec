import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const lib = (name: string): string => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@cnsn/kernels': lib('kernels'),
      '@cnsn/protocol': lib('protocol'),
      '@cnsn/pipeline': lib('pipeline'),
      '@cnsn/infra': fileURLToPath(new URL('./infra/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['libs/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Real processes (redis-server, workers) and tfjs backends: separate forks, generous timeouts.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './tools/summary-reporter.ts'],
  },
});
