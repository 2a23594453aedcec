import { Packr, Unpackr } from 'msgpackr';
import { z } from 'zod';
import { ProtocolError } from './errors.js';
import { bytesPerValue, narrowFloat32, type WireDtype, WIRE_DTYPES, widenToFloat32 } from './wire-dtype.js';

/**
 * The one tensor encoding of the project, on either data plane: a msgpack array `[header, bin32]`
 * where header is `{ v: 1, dtype, shape, meta?, pad? }` and bin32 the raw little-endian values in
 * the wire dtype (float32, or 16-bit bfloat16 / float16). `pad` aligns the data to 4 bytes, so a
 * float32 blob decodes to a Float32Array view on the fetched buffer (no copy); `meta` carries small
 * JSON (a result's plan, statistics).
 */
export interface TensorBlob<M = unknown> {
  shape: number[];
  /** The values, widened to float32 when they travelled in 16 bits. */
  data: Float32Array;
  meta?: M;
  /** How they travelled. @defaultValue 'float32' */
  dtype?: WireDtype;
}

/** Largest blob accepted by default (a batch of 64x2048x14x14 float32 is 103 MB). */
export const DEFAULT_MAX_BLOB_BYTES = 256 * 1024 * 1024;

const packr = new Packr({ useRecords: false, variableMapSize: true });
// Decoding is data, never code: no records, no structured clone, plain objects only.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const headerSchema = z
  .object({
    v: z.literal(1),
    dtype: z.enum(WIRE_DTYPES),
    shape: z
      .array(
        z
          .number()
          .int()
          .positive()
          .max(2 ** 31),
      )
      .min(1)
      .max(8),
    meta: z.unknown().optional(),
    pad: z.string().max(4).optional(),
  })
  .strict();

/**
 * The bytes of a blob that come before the float32 data: the array marker, the header (padded so
 * the data starts 4-aligned) and the bin32 marker. `[prefix, data bytes]` is the whole blob.
 */
export function tensorBlobPrefix(
  shape: readonly number[],
  byteLength: number,
  meta?: unknown,
  dtype: WireDtype = 'float32',
): Buffer {
  let header: Buffer = Buffer.alloc(0);
  // A pad field adds 5 + n bytes for n >= 1: n in 0..4 reaches every residue mod 4.
  for (let pad = 0; pad <= 4; pad++) {
    header = packr.pack({
      v: 1,
      dtype,
      shape,
      ...(meta === undefined ? {} : { meta }),
      ...(pad ? { pad: ' '.repeat(pad) } : {}),
    });
    if ((1 + header.length + 5) % 4 === 0) break;
  }
  const prefix = Buffer.allocUnsafe(1 + header.length + 5);
  prefix[0] = 0x92;
  header.copy(prefix, 1);
  prefix[1 + header.length] = 0xc6;
  prefix.writeUInt32BE(byteLength, 2 + header.length);
  return prefix;
}

/**
 * A blob as parts to send without joining them: `[prefix, data bytes]`. In float32 the data is not
 * copied; in 16 bits it is narrowed into `scratch` (when given and large enough) or a new buffer.
 */
export function encodeTensorBlobParts(blob: TensorBlob, scratch?: Uint8Array): Uint8Array[] {
  const { shape, data, meta } = blob;
  const dtype = blob.dtype ?? 'float32';
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new ProtocolError(
      'encode',
      `shape [${shape.join(', ')}] needs ${count} values, got ${data.length}`,
    );
  if (dtype === 'float32')
    return [
      tensorBlobPrefix(shape, data.byteLength, meta),
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    ];
  const bytes = count * 2;
  const target =
    scratch && scratch.byteLength >= bytes && scratch.byteOffset % 2 === 0
      ? new Uint16Array(scratch.buffer, scratch.byteOffset, count)
      : new Uint16Array(count);
  narrowFloat32(data, dtype, target);
  return [
    tensorBlobPrefix(shape, bytes, meta, dtype),
    new Uint8Array(target.buffer, target.byteOffset, bytes),
  ];
}

/** Encodes a tensor into one Buffer: a small header, then the float32 bytes (one copy). */
export function encodeTensorBlob(blob: TensorBlob): Buffer {
  return Buffer.concat(encodeTensorBlobParts(blob));
}

/** What a blob's header says, checked against its data: no value is read or widened. */
export interface TensorBlobHeader<M = unknown> {
  shape: number[];
  dtype: WireDtype;
  meta?: M;
  /** The data bytes (a view on the blob). */
  raw: Uint8Array;
}

/**
 * Reads and checks a blob's header: bounded size, exactly the layout above, a data length that
 * matches the shape in its dtype. Anything else is a {@link ProtocolError} naming `source`.
 */
export function readTensorBlobHeader<M = unknown>(
  bytes: Uint8Array,
  source: string,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
): TensorBlobHeader<M> {
  if (bytes.length > maxBytes)
    throw new ProtocolError(source, `blob of ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  if (bytes.length < 8 || bytes[0] !== 0x92)
    throw new ProtocolError(source, 'not a cnsn tensor blob (bad leading byte or too short)');
  const decoded = unpackFromMap(bytes, 1, source);
  if (!Array.isArray(decoded) || decoded.length !== 2)
    throw new ProtocolError(source, 'not a cnsn tensor blob ([header, data] expected)');
  const raw = decoded[1];
  if (!(raw instanceof Uint8Array)) throw new ProtocolError(source, 'tensor data is not binary');
  const { shape, meta, dtype } = checkHeader<M>(decoded[0], raw.byteLength, source);
  return { shape, dtype, raw, ...(meta === undefined ? {} : { meta }) };
}

/** What a blob's prefix says (the bytes before its data), for data that is read elsewhere. */
export interface TensorBlobPrefix<M = unknown> {
  shape: number[];
  dtype: WireDtype;
  meta?: M;
  /** How many data bytes follow the prefix. */
  dataBytes: number;
}

/**
 * Reads and checks a blob's prefix alone (as {@link tensorBlobPrefix} makes it): a consumer that
 * reads the values from where they lie (a file in shared memory) decodes only this.
 */
export function readTensorBlobPrefix<M = unknown>(
  prefix: Uint8Array,
  source: string,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
): TensorBlobPrefix<M> {
  const n = prefix.byteLength;
  if (n < 8 || prefix[0] !== 0x92 || prefix[n - 5] !== 0xc6)
    throw new ProtocolError(source, 'not a cnsn tensor blob prefix');
  const dataBytes = Buffer.from(prefix.buffer, prefix.byteOffset, n).readUInt32BE(n - 4);
  if (n + dataBytes > maxBytes)
    throw new ProtocolError(source, `blob of ${n + dataBytes} bytes exceeds the limit of ${maxBytes}`);
  const header = unpackFromMap(prefix.subarray(1, n - 5), 0, source);
  return { ...checkHeader<M>(header, dataBytes, source), dataBytes };
}

/**
 * Unpacks `bytes` (the whole blob, or a prefix's header alone) once the byte at `mapAt` shows a plain
 * msgpack map there: msgpackr records and extensions are refused before anything is decoded.
 */
function unpackFromMap(bytes: Uint8Array, mapAt: number, source: string): unknown {
  const first = bytes[mapAt] as number;
  if (!((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf))
    throw new ProtocolError(source, 'not a cnsn tensor blob (the header is not a plain map)');
  try {
    return unpackr.unpack(bytes as Buffer);
  } catch (err) {
    throw new ProtocolError(source, `corrupt tensor blob (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The header's fields, checked: the schema, plain JSON meta, a data length that fits the shape. */
function checkHeader<M>(
  header: unknown,
  dataBytes: number,
  source: string,
): { shape: number[]; dtype: WireDtype; meta?: M } {
  const parsed = headerSchema.safeParse(header);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError(
      source,
      `bad tensor header: ${issue?.path.join('.') || 'header'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const { shape, meta, dtype } = parsed.data;
  if (meta !== undefined && !isPlainJson(meta, 0))
    throw new ProtocolError(source, 'tensor meta holds something other than plain JSON values');
  const count = shape.reduce((a, b) => a * b, 1);
  const width = bytesPerValue(dtype);
  if (dataBytes !== count * width) {
    throw new ProtocolError(
      source,
      `shape [${shape.join(', ')}] needs ${count * width} bytes of ${dtype}, the blob holds ${dataBytes}`,
    );
  }
  return { shape, dtype, ...(meta === undefined ? {} : { meta: meta as M }) };
}

/**
 * Decodes and checks a blob (see {@link readTensorBlobHeader}). float32 data is a view on `bytes`
 * when aligned (no copy); 16-bit data is widened into `widenInto(count)` or a new Float32Array.
 */
export function decodeTensorBlob<M = unknown>(
  bytes: Uint8Array,
  source: string,
  maxBytes = DEFAULT_MAX_BLOB_BYTES,
  /** Where 16-bit values are widened to (given the value count); default a new Float32Array. */
  widenInto?: (count: number) => Float32Array,
): TensorBlob<M> {
  const { shape, dtype, raw, meta } = readTensorBlobHeader<M>(bytes, source, maxBytes);
  const count = shape.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (dtype === 'float32') {
    data =
      raw.byteOffset % 4 === 0
        ? new Float32Array(raw.buffer, raw.byteOffset, count)
        : new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  } else {
    const halves =
      raw.byteOffset % 2 === 0
        ? new Uint16Array(raw.buffer, raw.byteOffset, count)
        : new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const out = widenInto?.(count) ?? new Float32Array(count);
    if (out.length !== count)
      throw new ProtocolError(source, `widen buffer holds ${out.length} values, the blob ${count}`);
    data = widenToFloat32(halves, dtype, out);
  }
  return { shape, data, dtype, ...(meta === undefined ? {} : { meta }) };
}

/** Only null, booleans, finite numbers, strings, arrays and plain objects, nested at most 16 deep. */
function isPlainJson(value: unknown, depth: number): boolean {
  if (depth > 16) return false;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isPlainJson(v, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value as Record<string, unknown>).every((v) => isPlainJson(v, depth + 1));
  }
  return false;
}
