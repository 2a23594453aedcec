import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTensorBlobPrefix, tensorBlobPrefix } from '@cnsn/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DATA_AT,
  makeRunDir,
  readBlobFile,
  readBlobPlace,
  retireFiles,
  runDir,
  sweepStaleRunDirs,
  writeBlobFile,
  writeBlobHeader,
} from '../src/data-plane/shm/shm-files.js';

describe('the shm plane files', () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'cnsn-shm-'));
    process.env.CNSN_SHM_DIR = base;
  });
  afterAll(async () => {
    delete process.env.CNSN_SHM_DIR;
    await rm(base, { recursive: true, force: true });
  });

  it('a blob written whole reads back whole; its data starts on a page, however long its header', async () => {
    const dir = runDir('{t}', 'run-a');
    await makeRunDir(dir);
    for (const meta of [undefined, { plan: 'x'.repeat(9000) }]) {
      const data = new Float32Array([1, 2, 3, 4, 5, 6]);
      const prefix = tensorBlobPrefix([1, 1, 2, 3], data.byteLength, meta);
      const path = join(dir, '0.out');
      await writeBlobFile(path, [prefix, new Uint8Array(data.buffer)]);
      const whole = await readBlobFile(path, 1 << 20, (n) => new Uint8Array(n));
      expect(whole?.byteLength).toBe(prefix.byteLength + data.byteLength);
      const place = await readBlobPlace(path);
      if (!place) throw new Error('no result file');
      expect(place.data.offset).toBe(Math.ceil((8 + prefix.byteLength) / 4096) * 4096);
      expect(readTensorBlobPrefix(place.prefix, 'test').dataBytes).toBe(place.data.bytes);
    }
    expect(await readBlobFile(join(dir, '9.out'), 1 << 20, (n) => new Uint8Array(n))).toBeNull();
  });

  it('a client writes values at DATA_AT, the driver the header before them: one blob', async () => {
    const dir = runDir('{t}', 'run-b');
    await makeRunDir(dir);
    const path = join(dir, '3.in');
    const data = new Float32Array([7, 8, 9, 10]);
    const values = Buffer.alloc(DATA_AT + data.byteLength);
    Buffer.from(data.buffer).copy(values, DATA_AT);
    await writeFile(path, values);
    await writeBlobHeader(path, tensorBlobPrefix([1, 1, 2, 2], data.byteLength));
    const blob = (await readBlobFile(path, 1 << 20, (n) => new Uint8Array(n))) ?? new Uint8Array(0);
    expect(Buffer.from(blob.subarray(blob.byteLength - 16)).equals(Buffer.from(data.buffer))).toBe(true);
  });

  it('files a batch is done with become spares, at most 8, and are written again in place', async () => {
    const dir = runDir('{t}', 'run-c');
    await makeRunDir(dir);
    const paths = Array.from({ length: 12 }, (_, i) => join(dir, `${i}.in`));
    for (const p of paths) await writeBlobFile(p, [tensorBlobPrefix([1, 1, 1, 2], 8), new Uint8Array(8)]);
    await retireFiles(dir, ...paths);
    expect((await readdir(join(dir, 'spare'))).length).toBe(8);
    await writeBlobFile(join(dir, '20.in'), [tensorBlobPrefix([1, 1, 1, 2], 8), new Uint8Array(8)]);
    expect((await readdir(join(dir, 'spare'))).length).toBe(7);
    expect((await readdir(dir)).sort()).toEqual(['20.in', 'owner', 'spare']);
  });

  it("sweeps a dead driver's directory after 10 minutes; a live or recent one stays", async () => {
    const dead = 2 ** 22 + 12345; // above pid_max's default: no such process
    const make = async (name: string, owner: number, ageMin: number): Promise<string> => {
      const dir = join(base, name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'owner'), String(owner));
      const t = (Date.now() - ageMin * 60_000) / 1000;
      await utimes(dir, t, t);
      return dir;
    };
    const old = await make(`cnsn-${'a'.repeat(24)}`, dead, 30);
    const recent = await make(`cnsn-${'b'.repeat(24)}`, dead, 1);
    const live = await make(`cnsn-${'c'.repeat(24)}`, process.pid, 30);
    const foreign = await make('cnsn-not-ours', dead, 30);
    expect(await sweepStaleRunDirs()).toEqual([old]);
    for (const kept of [recent, live, foreign]) expect((await readdir(kept)).length).toBe(1);
  });
});
