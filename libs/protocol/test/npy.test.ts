import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatNpy, parseNpy, ProtocolError } from '../src/index.js';

const fixture = (name: string): Promise<Buffer> =>
  readFile(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)));

describe('.npy', () => {
  it('reads what NumPy wrote', async () => {
    const { shape, data } = parseNpy(await fixture('numpy-2x3x4x5.npy'), 'x.npy');
    expect(shape).toEqual([2, 3, 4, 5]);
    expect(data).toHaveLength(120);
    expect(data[0]).toBe(-3);
    expect(data[119]).toBe(119 * 0.5 - 3);
  });

  it('writes what NumPy reads: byte for byte what np.save writes', async () => {
    const original = await fixture('numpy-2x3x4x5.npy');
    const { shape, data } = parseNpy(original, 'x.npy');
    expect(formatNpy(shape, data).equals(original)).toBe(true);
  });

  it.each([
    ['numpy-f64.npy', "dtype <f8 is not float32 little-endian ('<f4')"],
    ['numpy-3d.npy', 'array is 3-D with shape (3, 4, 5); expected 4-D NCHW'],
    ['numpy-fortran.npy', 'fortran_order arrays are not supported'],
    ['numpy-big-endian.npy', 'dtype >f4 is not float32 little-endian'],
  ])('refuses %s: %s', async (name, message) => {
    expect(() => parseNpy(Buffer.from([]), name)).toThrow(ProtocolError);
    const bytes = await fixture(name);
    expect(() => parseNpy(bytes, name)).toThrow(`${name}: ${message}`);
  });

  it('refuses truncated data, trailing data, a corrupt header and a non-.npy file', async () => {
    const good = await fixture('numpy-2x3x4x5.npy');
    expect(() => parseNpy(good.subarray(0, good.length - 4), 'a.npy')).toThrow(
      'a.npy: truncated data: shape (2, 3, 4, 5) needs 480 bytes, the file has 476',
    );
    expect(() => parseNpy(Buffer.concat([good, Buffer.alloc(8)]), 'b.npy')).toThrow(
      'b.npy: 8 bytes of trailing data',
    );
    const corrupt = Buffer.from(good);
    corrupt.write('#', 12);
    expect(() => parseNpy(corrupt, 'c.npy')).toThrow('c.npy: corrupt .npy header');
    expect(() => parseNpy(good.subarray(0, 40), 'd.npy')).toThrow('d.npy: truncated .npy header');
    expect(() => parseNpy(Buffer.from('hello world, not numpy'), 'e.npy')).toThrow(
      'e.npy: not a .npy file (bad magic)',
    );
  });
});
