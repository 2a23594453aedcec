import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { link, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Shape4 } from '@cnsn/kernels';
import { formatNpy } from '@cnsn/protocol';
import { parse } from 'yaml';
import { REPO_ROOT } from './paths.js';
import { which } from './tools.js';

// What the image tests take from the repository: the images the build makes, the arguments the
// manifests pass, and the Redis that compose starts.

export interface BuildReport {
  base: { image: string; made: string; cacheDir: string; key: string; sizeMB: number; seconds: number };
  images: Array<{ name: string; image: string; target: string; sizeMB: number; seconds: number }>;
  seconds: number;
}

const read = <T>(path: string): T => parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as T;
type Deployment = {
  spec: {
    template: { spec: { containers: Array<{ args: string[] }>; terminationGracePeriodSeconds?: number } };
  };
};

/** The images infra/docker/images.json says a build here makes. */
export const LOCAL_IMAGES = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'infra/docker/images.json'), 'utf8')) as {
    images: Array<{ name: string; target: string; local: boolean }>;
  }
).images.filter((i) => i.local);

/** The Deployments' container arguments: the containers run with exactly these. */
const worker = read<Deployment>('infra/k8s/base/worker-deployment.yaml').spec.template.spec;
export const WORKER_ARGS = worker.containers[0]?.args as string[];
/** How long Kubernetes waits after SIGTERM before it kills a worker: `podman stop -t` here. */
export const WORKER_GRACE_SECONDS = worker.terminationGracePeriodSeconds ?? 30;
export const DASHBOARD_ARGS = read<Deployment>('infra/k8s/base/dashboard-deployment.yaml').spec.template.spec
  .containers[0]?.args as string[];

const compose = read<{ services: Record<string, { command: string[] }> }>('infra/docker/compose.yaml');
/** compose's driver with its synthetic batches taken out (the tests give --input files). */
export function driverArgs(extra: string[]): string[] {
  const command = [...(compose.services.driver?.command ?? [])];
  for (const flag of ['--batches', '--shape']) command.splice(command.indexOf(flag), 2);
  return [...command.filter((a) => a !== '--synthetic'), ...extra];
}
/** compose's Redis command (infra/redis.conf, listening on the network), with the host's binary. */
export const REDIS_COMMAND = ['/opt/redis/redis-server', ...(compose.services.redis?.command.slice(1) ?? [])];

/** The Deployments' securityContext as podman flags: read-only root, /tmp an emptyDir, no caps. */
export const HARDENED = [
  '--read-only',
  '--tmpfs',
  '/tmp',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
];

/** `npm run images -- --tag TAG --json`, as a user runs it (its own lines go to this stderr). */
export function buildImages(tag: string): Promise<BuildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['tools/build-images.mjs', '--tag', tag, '--json'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`npm run images exited ${code}:\n${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() as string) as BuildReport);
    });
  });
}

/** What a second build would find: the base answered from podman's storage. */
export function secondBaseLookup(): { image: string; made: string } {
  const script = "import('./tools/image-base.mjs').then((m) => console.log(JSON.stringify(m.ensureBase())))";
  const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ensureBase: ${r.stderr}`);
  return JSON.parse(r.stdout) as { image: string; made: string };
}

/**
 * A Redis container without a registry: the base image with this host's redis-server (Debian's
 * 7.0.15, compose's version) and the libraries it needs beyond glibc mounted read-only, compose's
 * infra/redis.conf, its data directory in memory, its port published on loopback for the test's own client.
 */
export function redisOptions(): string[] {
  const binary = realpathSync(which('redis-server') ?? 'redis-server');
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' }).stdout;
  const libs = [...ldd.matchAll(/=> (\/\S+)/g)]
    .map((m) => m[1] as string)
    .filter((p) => !/\/(libc|libm|libdl|libpthread|librt)\.so|ld-linux/.test(p));
  return [
    ...['-v', `${binary}:/opt/redis/redis-server:ro`],
    ...libs.flatMap((l) => ['-v', `${l}:/opt/redis/lib/${l.split('/').pop() as string}:ro`]),
    ...['-v', `${join(REPO_ROOT, 'infra/redis.conf')}:/usr/local/etc/redis/redis.conf:ro`],
    ...['-e', 'LD_LIBRARY_PATH=/opt/redis/lib', '--tmpfs', '/var/lib/redis', '-p', '127.0.0.1::6379'],
  ];
}

/**
 * Writes batches as .npy files readable by the containers' user and returns their paths inside
 * (/data/...): `count` names in all, the batches in turn. Further names are hard links (the CLI
 * wants a name per batch; the bytes need not be written again).
 */
export async function writeBatches(
  dir: string,
  name: string,
  batches: Array<{ data: Float32Array; shape: Shape4 }>,
  count = batches.length,
): Promise<string[]> {
  const file = (k: number): string => join(dir, `${name}-${k}.npy`);
  await Promise.all(batches.map((b, k) => writeFile(file(k), formatNpy(b.shape, b.data), { mode: 0o644 })));
  for (let k = batches.length; k < count; k++) await link(file(k % batches.length), file(k));
  return Array.from({ length: count }, (_, k) => `/data/${name}-${k}.npy`);
}
