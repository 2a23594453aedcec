import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNpy } from '@cnsn/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCnsn, testBatch } from './support/index.js';

const tmp = await mkdtemp(join(tmpdir(), 'cnsn-preview-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function preview(args: string[]): Promise<{ png: Buffer; json: Record<string, number> }> {
  const r = await runCnsn(['preview', ...args]);
  expect(r.code, r.stderr).toBe(0);
  const out = args[args.indexOf('--out') + 1] as string;
  return { png: await readFile(out), json: r.json as Record<string, number> };
}

describe('cnsn preview', () => {
  it('draws the bundled samples: a PNG grid of 4 images x 11 columns; same seed, same picture; another seed, another', async () => {
    const a = await preview(['--out', join(tmp, 'a.png')]);
    expect(a.png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(a.json).toMatchObject({ rows: 4, columns: 11, seed: 0 });
    // The size the JSON reports is the PNG's own (IHDR), and fits 11 tiles of 128 px across.
    expect(a.png.readUInt32BE(16)).toBe(a.json.width);
    expect(a.png.readUInt32BE(20)).toBe(a.json.height);
    expect(a.json.width).toBeGreaterThan(11 * 128);
    expect(a.json.height).toBeGreaterThan(4 * 128);
    const again = await preview(['--out', join(tmp, 'a2.png')]);
    expect(again.png.equals(a.png)).toBe(true);
    const b = await preview(['--out', join(tmp, 'b.png'), '--seed', '1']);
    expect(b.png.equals(a.png)).toBe(false);
  });

  it('--images DIR and --features FILE.npy', async () => {
    const dir = join(tmp, 'images');
    await mkdir(dir);
    for (const name of ['chelsea', 'coffee', 'rocket'])
      await copyFile(join(REPO_ROOT, `apps/cli/assets/samples/${name}.png`), join(dir, `${name}.png`));
    const images = await preview(['--images', dir, '--size', '64', '--out', join(tmp, 'c.png')]);
    expect(images.json).toMatchObject({ rows: 3, columns: 11 });
    const b = testBatch([6, 8, 7, 7], 3);
    const file = join(tmp, 'features.npy');
    await writeFile(file, formatNpy(b.shape, b.data));
    const features = await preview(['--features', file, '--out', join(tmp, 'f.png')]);
    expect(features.json).toMatchObject({ rows: 4, columns: 11 });
  });

  it('refuses what it cannot draw, in one line naming the input', async () => {
    const one = join(tmp, 'one');
    await mkdir(one);
    await copyFile(join(REPO_ROOT, 'apps/cli/assets/samples/coffee.png'), join(one, 'coffee.png'));
    await writeFile(join(one, 'notes.txt'), 'not an image');
    const r = await runCnsn(['preview', '--images', one, '--out', join(tmp, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `cnsn: error: --images ${one}: found 1 PNG/JPEG file(s); CrossNorm swaps styles between instances, so give at least 2`,
    );
    const bad = join(tmp, 'bad');
    await mkdir(bad);
    await copyFile(join(REPO_ROOT, 'apps/cli/assets/samples/coffee.png'), join(bad, 'a.png'));
    await writeFile(join(bad, 'b.png'), 'not a png');
    const r2 = await runCnsn(['preview', '--images', bad, '--out', join(tmp, 'y.png')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^cnsn: error: \S+b\.png: not a readable PNG or JPEG image/m);
  });
});
