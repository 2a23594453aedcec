// Support for the tests in test/: paths, running the apps as processes, Redis servers of their own.
export { DashboardProcess } from './dashboard-process.js';
export { GOLDEN_DIR, REPO_ROOT } from './paths.js';
export { testBatch } from './batches.js';
export { PipelineEnv } from './pipeline-env.js';
export { TESTED_PLANES } from './planes.js';
export type { TestedPlane } from './planes.js';
export { digestOf, expectedDigest } from './reference.js';
export { runApp, runCnsn } from './run-cli.js';
export type { CliResult } from './run-cli.js';
export { makeTestCertificates } from './tls-certs.js';
export { startWorkers, WorkerProcess } from './workers.js';
export { which } from './tools.js';
export { ClusterEnv } from './cluster-env.js';
export { webgpuUnavailable, WEBGPU_REQUIRED } from './webgpu.js';
export { waitUntil } from './wait.js';
