import { ProtocolError } from './errors.js';

/** A float32 NCHW array read from, or written to, a .npy file. */
export interface NpyArray {
  shape: [number, number, number, number];
  data: Float32Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/**
 * Parses a .npy file (format versions 1 to 3) holding a C-order little-endian float32 4-D array.
 * Every other file is refused with what is wrong: bad magic, corrupt header, dtype, order, rank,
 * truncated or trailing data. `source` (the path) starts each message.
 */
export function parseNpy(bytes: Buffer, source: string): NpyArray {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC))
    throw new ProtocolError(source, 'not a .npy file (bad magic)');
  const major = bytes[6] as number;
  if (major < 1 || major > 3)
    throw new ProtocolError(source, `unsupported .npy format version ${major}.${bytes[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new ProtocolError(source, 'truncated .npy header');
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = 8 + lenBytes;
  if (bytes.length < start + headerLen)
    throw new ProtocolError(source, `truncated .npy header (needs ${headerLen} bytes)`);
  const header = bytes.subarray(start, start + headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (
    descr === undefined ||
    fortran === undefined ||
    shapeText === undefined ||
    !header.trimStart().startsWith('{')
  ) {
    throw new ProtocolError(source, `corrupt .npy header: ${JSON.stringify(header.trim().slice(0, 120))}`);
  }
  if (descr !== '<f4' && descr !== '=f4') {
    throw new ProtocolError(
      source,
      `dtype ${descr} is not float32 little-endian ('<f4'); convert with x.astype('<f4')`,
    );
  }
  if (fortran !== 'False')
    throw new ProtocolError(
      source,
      'fortran_order arrays are not supported; save a C-order array (np.ascontiguousarray)',
    );
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (!dims.every((d) => /^\d+$/.test(d)))
    throw new ProtocolError(source, `corrupt .npy shape (${shapeText})`);
  const shape = dims.map(Number);
  if (shape.length !== 4)
    throw new ProtocolError(
      source,
      `array is ${shape.length}-D with shape (${shape.join(', ')}); expected 4-D NCHW`,
    );
  if (shape.some((d) => d < 1)) throw new ProtocolError(source, `empty array (shape (${shape.join(', ')}))`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const have = bytes.length - dataStart;
  if (have < count * 4)
    throw new ProtocolError(
      source,
      `truncated data: shape (${shape.join(', ')}) needs ${count * 4} bytes, the file has ${have}`,
    );
  if (have > count * 4)
    throw new ProtocolError(source, `${have - count * 4} bytes of trailing data after the array`);
  const data = new Float32Array(count);
  // Copy rather than view: the data offset is rarely 4-aligned in the file's buffer.
  Buffer.from(data.buffer).set(bytes.subarray(dataStart));
  return { shape: shape as NpyArray['shape'], data };
}

/**
 * Serialises a float32 (or float64: returned statistics) array as a version 1.0 .npy file (header
 * padded to 64 bytes, as NumPy does).
 */
export function formatNpy(shape: readonly number[], data: Float32Array | Float64Array): Buffer {
  const descr = data instanceof Float64Array ? '<f8' : '<f4';
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const padded = Math.ceil(unpadded / 64) * 64;
  const header = `${dict}${' '.repeat(padded - unpadded)}\n`;
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}
