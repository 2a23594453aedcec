import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeTensorBlob, encodeTensorBlob, ProtocolError } from '../src/index.js';

const shape = [2, 3, 4, 5];
const data = Float32Array.from({ length: 120 }, (_, i) => Math.sin(i));

describe('tensor blobs', () => {
  it('round-trip data, shape and meta, and decode to an aligned view without a copy', () => {
    for (const meta of [
      undefined,
      { seq: 7 },
      { seq: 12345, plan: { insIdxs: [1, 0] } },
      { s: 'x'.repeat(33) },
    ]) {
      const bytes = encodeTensorBlob({ shape, data, meta });
      const out = decodeTensorBlob(bytes, 'k');
      expect(out.shape).toEqual(shape);
      expect(Array.from(out.data)).toEqual(Array.from(data));
      expect(out.meta).toEqual(meta);
      expect(out.data.buffer).toBe(bytes.buffer); // a view on the fetched buffer
    }
  });

  it('refuses a blob over the size limit before decoding it', () => {
    const bytes = encodeTensorBlob({ shape, data });
    expect(() => decodeTensorBlob(bytes, 'big', 100)).toThrow(
      `big: blob of ${bytes.length} bytes exceeds the limit of 100`,
    );
  });

  it('refuses truncated bytes, wrong lengths for the shape and trailing bytes', () => {
    const bytes = encodeTensorBlob({ shape, data });
    expect(() => decodeTensorBlob(bytes.subarray(0, bytes.length - 1), 'cut')).toThrow(
      /cut: corrupt tensor blob/,
    );
    expect(() => decodeTensorBlob(Buffer.concat([bytes, Buffer.alloc(3)]), 'tail')).toThrow(
      /tail: corrupt tensor blob/,
    );
    const other = encodeTensorBlob({ shape: [2, 3, 4, 4], data: data.subarray(0, 96) });
    const patched = Buffer.from(other);
    // Rewrite the shape's last dimension (4 -> 5) without the data to match.
    const at = patched.indexOf(Buffer.from([0x94, 0x02, 0x03, 0x04, 0x04]));
    patched[at + 4] = 0x05;
    expect(() => decodeTensorBlob(patched, 'len')).toThrow(
      'len: shape [2, 3, 4, 5] needs 480 bytes of float32, the blob holds 384',
    );
  });

  it('accepts only the project encoding: no other dtype, no extension types, no records', () => {
    const packr = new Packr({ useRecords: false });
    const alien = Buffer.concat([
      Buffer.from([0x92]),
      packr.pack({ v: 1, dtype: 'float64', shape: [1] }),
      Buffer.from([0xc4, 8]),
      Buffer.alloc(8),
    ]);
    expect(() => decodeTensorBlob(alien, 'a')).toThrow(/a: bad tensor header: dtype/);
    const extra = Buffer.concat([
      Buffer.from([0x92]),
      packr.pack({ v: 1, dtype: 'float32', shape: [1], code: 'x' }),
      Buffer.from([0xc4, 4]),
      Buffer.alloc(4),
    ]);
    expect(() => decodeTensorBlob(extra, 'b')).toThrow(/b: bad tensor header/);
    const ext = Buffer.from([0x92, 0xd4, 0x05, 0x01, 0xc4, 0x04, 0, 0, 0, 0]);
    expect(() => decodeTensorBlob(ext, 'c')).toThrow(ProtocolError);
    const records = new Packr({ useRecords: true }).pack([
      { v: 1, dtype: 'float32', shape: [1] },
      Buffer.alloc(4),
    ]);
    expect(() => decodeTensorBlob(records, 'd')).toThrow(ProtocolError);
    expect(() => decodeTensorBlob(Buffer.from('{"v":1}'), 'e')).toThrow('e: not a cnsn tensor blob');
    const dated = encodeTensorBlob({ shape: [1], data: new Float32Array(1), meta: { at: new Date(0) } });
    expect(() => decodeTensorBlob(dated, 'f')).toThrow(
      'f: tensor meta holds something other than plain JSON values',
    );
  });
});
