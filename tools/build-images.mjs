// npm run images [-- --tag TAG] [--json]: builds the images infra/docker/images.json marks `local`
// (cnsn-worker, cnsn-dashboard, cnsn-driver) with podman, as root, with no registry and no network:
// the Dockerfile's runtime targets from a context prepared here (tools/image-context.mjs) on a base
// made here (tools/image-base.mjs, cached). Says what it did; --json adds one JSON line on stdout.
// Needs podman, runc and debootstrap (apt-get install podman runc debootstrap).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBase, sh } from './image-base.mjs';
import { prepareContext } from './image-context.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOCKERFILE = join(root, 'infra/docker/Dockerfile');

function usage(message) {
  console.error(`npm run images: ${message}`);
  console.error('usage: npm run images -- [--tag TAG] [--json]   (default tag: local)');
  process.exit(2);
}

function flags(argv) {
  const out = { tag: 'local', json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') out.json = true;
    else if (a === '--tag') out.tag = argv[++i] ?? usage('--tag needs a value');
    else usage(`unknown argument "${a}"`);
  }
  if (!/^[\w][\w.-]{0,127}$/.test(out.tag)) usage(`--tag ${out.tag}: letters, digits, _ . - (an image tag)`);
  return out;
}

/** What must be here before anything is built: each missing piece named with its fix. */
function preflight() {
  if (process.getuid?.() !== 0)
    throw new Error('run it as root: podman builds and debootstrap need root here');
  for (const tool of ['podman', 'runc', 'debootstrap'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      throw new Error(`${tool} is not installed: apt-get install podman runc debootstrap`);
}

const idOf = (name) =>
  spawnSync('podman', ['image', 'inspect', '--format', '{{.Id}}', name], { encoding: 'utf8' }).stdout.trim();

/**
 * One target, from the prepared context, on the base; no pull, no network, no cached layers
 * (nothing left behind but the image). The image the tag named before goes, unless still in use.
 */
function buildImage(image, tag, base, context) {
  const t0 = performance.now();
  const name = `localhost/${image.name}:${tag}`;
  const before = idOf(name);
  sh('podman', [
    'build',
    '--format=docker', // keeps HEALTHCHECK (OCI image configs have none)
    '--network=none',
    '--pull=never',
    '--layers=false',
    `--file=${DOCKERFILE}`,
    `--target=${image.target}`,
    '--build-arg=APP_FROM=context',
    `--build-arg=BASE=${base.image}`,
    `--tag=${name}`,
    context,
  ]);
  const [id, size] = sh('podman', ['image', 'inspect', '--format', '{{.Id}} {{.Size}}', name])
    .trim()
    .split(' ');
  const sizeMB = Math.round(Number(size) / 1e5) / 10;
  if (before && before !== id) spawnSync('podman', ['rmi', before], { stdio: 'ignore' });
  return {
    name: image.name,
    image: name,
    target: image.target,
    id,
    sizeMB,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}

function main() {
  const f = flags(process.argv.slice(2));
  const t0 = performance.now();
  const say = (line) => console.error(`images: ${line}`);
  preflight();
  const spec = JSON.parse(readFileSync(join(root, 'infra/docker/images.json'), 'utf8'));
  const base = ensureBase({ log: say });
  const how = {
    storage: 'found in podman storage',
    tarball: 'imported from the cached tarball',
    debootstrap: 'made by debootstrap',
  };
  say(`base ${base.image}, ${base.sizeMB} MB: ${how[base.made]} (${base.seconds} s; cache ${base.cacheDir})`);
  const dir = mkdtempSync(join(tmpdir(), 'cnsn-images-'));
  try {
    const context = prepareContext(join(dir, 'context'));
    say(
      `context: bundles ${context.bundlesMB} MB, node_modules ${context.modulesMB} MB (${context.seconds} s)`,
    );
    const images = spec.images.filter((i) => i.local).map((i) => buildImage(i, f.tag, base, context.context));
    for (const i of images)
      say(
        `built ${i.image} (target ${i.target}): ${i.sizeMB} MB, ${Math.round((i.sizeMB - base.sizeMB) * 10) / 10} MB over the base, ${i.seconds} s`,
      );
    for (const i of spec.images.filter((x) => !x.local)) say(`not built here: ${i.name} (${i.why})`);
    const seconds = Math.round(performance.now() - t0) / 1000;
    say(`done in ${seconds} s, no network (podman build --network none --pull never)`);
    if (f.json)
      console.log(
        JSON.stringify({ tag: f.tag, base, context: { ...context, context: undefined }, images, seconds }),
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`npm run images: ${err.message}`);
  process.exit(1);
}
