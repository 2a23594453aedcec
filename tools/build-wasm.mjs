// Builds libs/kernels/assembly/*.ts to WebAssembly (SIMD) with AssemblyScript at install time.
// The .wasm is an output, never committed; rebuilt when the source is newer (or with --force).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = ['fused.ts', 'coefficients.ts'].map((f) => join(root, 'libs/kernels/assembly', f));
const out = join(root, 'libs/kernels/wasm/fused.wasm');
const force = process.argv.includes('--force');

const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
if (!force && existsSync(out) && statSync(out).mtimeMs >= newest) process.exit(0);
let asc;
try {
  asc = (await import('assemblyscript/asc')).default;
} catch (err) {
  // Production installs (npm ci --omit=dev) have no compiler: the fused backend then runs its JS passes.
  console.warn(
    `build-wasm: assemblyscript not installed (${err.message}); fused backend will use its JS passes`,
  );
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
const { error, stderr } = await asc.main([
  ...sources,
  '--outFile',
  out,
  '-O3',
  '--noAssert',
  '--runtime',
  'stub',
  '--debug',
  '--enable',
  'simd',
  '--initialMemory',
  '16',
]);
if (error) {
  console.error(stderr.toString());
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
console.log(`build-wasm: built ${out}`);
