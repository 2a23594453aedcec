// Prepares what the images' runtime stage copies (infra/docker/Dockerfile), the same tree on a host
// (npm run images, no network) and in the Dockerfile's build stage:
//   node tools/image-context.mjs OUT [--gpu] [--json]
// OUT/cnsn/  becomes /srv/cnsn: the apps bundled (bundle-apps --image), wasm/fused.wasm, the entry
//            point and health check, and node_modules/ with only the packages the bundles still
//            load or read at run time (infra/docker/images.json, runtimeModules).
// OUT/gpu/   with --gpu: added to /srv/cnsn in the GPU image only, Dawn's binding (gpuModules).
// Every package must be a production dependency in package-lock.json and installed here.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The packages of `list` with what they need, copied from node_modules into OUT/node_modules. */
function copyModules(list, out, lock) {
  const done = new Set();
  const copy = (path, files) => {
    if (done.has(path)) return;
    done.add(path);
    const entry = lock[path];
    if (!entry)
      throw new Error(`${path} is not in package-lock.json: run npm install, or drop it from images.json`);
    if (entry.dev) throw new Error(`${path} is a devDependency: an image carries production packages only`);
    const from = join(root, path);
    if (!existsSync(from)) throw new Error(`${path} is not installed: run npm ci (with optional packages)`);
    for (const f of files ?? [''])
      cpSync(join(from, f), join(out, path, f), { recursive: true, dereference: true });
    if (files) cpSync(join(from, 'package.json'), join(out, path, 'package.json'));
    return entry;
  };
  for (const m of list) {
    const entry = copy(`node_modules/${m.name}`, m.files);
    // A package Node loads resolves its own dependencies: those installed here come too.
    if (m.load) for (const dep of dependencies(entry, `node_modules/${m.name}`, lock)) copy(dep);
  }
}

/** The installed dependency closure of a lock entry (nested first, as Node resolves). */
function dependencies(entry, at, lock, seen = new Set()) {
  const names = Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies });
  for (const name of names) {
    const nested = `${at}/node_modules/${name}`;
    const path = lock[nested] ? nested : `node_modules/${name}`;
    // Optional packages for other platforms are in the lock but not installed.
    if (seen.has(path) || !lock[path] || !existsSync(join(root, path))) continue;
    seen.add(path);
    dependencies(lock[path], path, lock, seen);
  }
  return seen;
}

function sizeOf(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

export function prepareContext(out, { gpu = false } = {}) {
  const spec = JSON.parse(readFileSync(join(root, 'infra/docker/images.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
  const t0 = performance.now();
  rmSync(out, { recursive: true, force: true });
  const app = join(out, 'cnsn');
  const bundled = spawnSync(process.execPath, [join(root, 'tools/bundle-apps.mjs'), app, '--image'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (bundled.status !== 0) throw new Error(`tools/bundle-apps.mjs exited ${bundled.status}`);
  for (const f of ['entrypoint.sh', 'healthcheck.mjs']) cpSync(join(root, 'infra/docker', f), join(app, f));
  chmodSync(join(app, 'entrypoint.sh'), 0o755);
  copyModules(spec.runtimeModules, app, lock);
  if (gpu) copyModules(spec.gpuModules, join(out, 'gpu'), lock);
  const mb = (p) => Math.round(sizeOf(p) / 1e5) / 10;
  return {
    context: out,
    bundlesMB: mb(join(app, 'app')),
    modulesMB: mb(join(app, 'node_modules')),
    gpuMB: gpu ? mb(join(out, 'gpu')) : 0,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node tools/image-context.mjs OUT [--gpu] [--json]');
    process.exit(2);
  }
  try {
    const r = prepareContext(out, { gpu: process.argv.includes('--gpu') });
    console.error(
      `image-context: ${r.context}: bundles ${r.bundlesMB} MB, node_modules ${r.modulesMB} MB, GPU extra ${r.gpuMB} MB (${r.seconds} s)`,
    );
    if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  } catch (err) {
    console.error(`image-context: ${err.message}`);
    process.exit(1);
  }
}
