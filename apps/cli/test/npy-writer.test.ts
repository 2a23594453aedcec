import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNpy } from '@cnsn/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NpyWriter } from '../src/npy-writer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cnsn-npy-writer-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('NpyWriter', () => {
  it("removes the half-written files a killed invocation of the same run left, and nobody else's", async () => {
    await writeFile(join(dir, 'a.npy.r1.partial'), 'half'); // ours: run r1, one of its names
    await writeFile(join(dir, 'a.npy.r2.partial'), 'half'); // another run's
    await writeFile(join(dir, 'z.npy.r1.partial'), 'half'); // run r1, but not a name of this input
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const writer = await NpyWriter.open(dir, 'r1', ['a.npy', 'b.npy']);
    expect(writer.removedPartials).toEqual(['a.npy.r1.partial']);
    expect((await readdir(dir)).sort()).toEqual(['a.npy.r2.partial', 'notes.txt', 'z.npy.r1.partial']);
  });

  it('writes whole files under their names and keeps a file that exists (a resumed run)', async () => {
    const writer = await NpyWriter.open(dir, 'r1', ['a.npy', 'b.npy']);
    await writeFile(join(dir, 'b.npy'), 'kept as is');
    await writer.write('a.npy', [1, 1, 1, 2], new Float32Array([1, 2]));
    await writer.write('b.npy', [1, 1, 1, 2], new Float32Array([3, 4]));
    expect(writer.written).toBe(1);
    expect(writer.kept).toBe(1);
    expect(Array.from(parseNpy(await readFile(join(dir, 'a.npy')), 'a').data)).toEqual([1, 2]);
    expect(await readFile(join(dir, 'b.npy'), 'utf8')).toBe('kept as is');
    expect((await readdir(dir)).sort()).toEqual(['a.npy', 'b.npy']);
  });
});
