import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** Which project types may import which (Nx module boundaries): kernels know nothing of Redis, the pipeline nothing of the maths. */
const depConstraints = [
  { sourceTag: 'type:kernels', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: ['type:kernels'] },
  { sourceTag: 'type:pipeline', onlyDependOnLibsWithTags: ['type:protocol'] },
  { sourceTag: 'type:infra', onlyDependOnLibsWithTags: [] },
  {
    sourceTag: 'type:app',
    onlyDependOnLibsWithTags: ['type:pipeline', 'type:protocol', 'type:kernels', 'type:infra'],
  },
  {
    sourceTag: 'type:e2e',
    onlyDependOnLibsWithTags: ['type:pipeline', 'type:protocol', 'type:kernels', 'type:infra'],
  },
];

export default [
  {
    ignores: [
      '**/node_modules',
      '**/dist',
      '**/.nx',
      '**/tmp',
      '**/test-output',
      'libs/kernels/assembly/**',
      '**/*-tmp.ts',
    ],
  },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          // The fault tests' worker entry (test/support/fault-worker.ts) runs the product's worker command.
          allow: ['#cnsn/worker-command'],
          depConstraints,
          banTransitiveDependencies: false,
        },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@cnsn/*/*'],
              message: 'Import a lib through its public index (@cnsn/NAME), no deep imports.',
            },
          ],
        },
      ],
    },
  },
  {
    // The maths has no I/O: no Redis, no queue, no network.
    files: ['libs/kernels/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: ['ioredis', 'bullmq', 'msgpackr', 'node:net', 'node:http'], patterns: ['@cnsn/*/*'] },
      ],
    },
  },
  {
    // The pipeline moves tensors; it never computes on them.
    files: ['libs/pipeline/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: ['@cnsn/kernels', '@tensorflow/tfjs-core'], patterns: ['@cnsn/*/*'] },
      ],
    },
  },
  prettier,
];
