// Bundles the apps (cnsn, worker, dashboard) into single ES modules with esbuild, for container
// images and the GPU check's offline bundle:
//   node tools/bundle-apps.mjs OUT [--self-contained | --image]
// writes OUT/app/{cnsn,worker,dashboard}.mjs, OUT/app/lua/ (the pipeline's Lua scripts, read beside
// the bundle), OUT/app/public/ (the dashboard's page) and OUT/wasm/fused.wasm (read from ../wasm).
// By default packages stay external (installed beside the bundles). --self-contained inlines them
// too (all but Dawn's native binding and tfjs-node, loaded at run time; the preview's canvas left
// out), leaves out the dashboard, and writes OUT/package.json so that `cnsn` finds its worker
// (#cnsn/worker). --image (the container images, tools/image-context.mjs) is --self-contained with
// the dashboard, and keeps @napi-rs/canvas external: the images carry its native binding.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2];
if (!out) {
  console.error('usage: node tools/bundle-apps.mjs OUT [--self-contained | --image]');
  process.exit(2);
}
const image = process.argv.includes('--image');
const selfContained = image || process.argv.includes('--self-contained');
const apps = { cnsn: 'apps/cli/src/main.ts', worker: 'apps/worker/src/main.ts' };
if (!selfContained || image) apps.dashboard = 'apps/dashboard/src/main.ts';
/** Loaded by Node at run time, never inlined: native bindings (and tfjs-node's download). */
const NATIVE = ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

mkdirSync(join(out, 'app'), { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: Object.entries(apps).map(([name, entry]) => ({ in: entry, out: name })),
  outdir: join(out, 'app'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  tsconfig: join(root, 'tsconfig.base.json'),
  logLevel: 'warning',
  // The workspace's own libraries (@cnsn/*, through tsconfig paths) are always inlined.
  ...(image
    ? { external: [...NATIVE, '@napi-rs/canvas'] }
    : selfContained
      ? { external: NATIVE, alias: { '@napi-rs/canvas': join(root, 'tools/gpu-check-no-canvas.mjs') } }
      : { packages: 'external' }),
  // Bundled CommonJS calls require() and reads __dirname (tfjs-backend-wasm's Emscripten glue);
  // an ES module has neither of its own.
  banner: {
    js: [
      "import { createRequire as __cnsnRequire } from 'node:module';",
      "import { fileURLToPath as __cnsnPath } from 'node:url';",
      'const require = __cnsnRequire(import.meta.url);',
      'const __filename = __cnsnPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join(' '),
  },
});
cpSync(join(root, 'libs/pipeline/src/redis/lua'), join(out, 'app/lua'), { recursive: true });
// The dashboard's page, served from beside its module.
if (apps.dashboard)
  cpSync(join(root, 'apps/dashboard/src/public'), join(out, 'app/public'), { recursive: true });
mkdirSync(join(out, 'wasm'), { recursive: true });
cpSync(join(root, 'libs/kernels/wasm/fused.wasm'), join(out, 'wasm/fused.wasm'));
if (selfContained)
  writeFileSync(
    join(out, 'package.json'),
    `${JSON.stringify({ type: 'module', private: true, imports: { '#cnsn/worker': './app/worker.mjs' } }, null, 2)}\n`,
  );
console.error(
  `bundle-apps: ${Object.keys(apps).join(', ')} in ${join(out, 'app')}${image ? ' (for the images)' : selfContained ? ' (self-contained)' : ''}`,
);
