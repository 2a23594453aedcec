import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * The files of the shm plane: one directory per run in /dev/shm (tmpfs: memory, not disk), one
 * file per batch input (`SEQ.in`) and per result (`SEQ.out`). A file starts with two u32
 * little-endian offsets, where its tensor blob starts and where the blob's data starts (a page
 * boundary): a client on this host (the Python client) writes a batch's values at `DATA_AT` without
 * knowing the header, and reads a result's values at their offset. Files a batch is done with wait
 * in `spare/` for the next writer: reusing their pages is what makes a file cheaper than a socket.
 */
export const PAGE = 4096;

/** Where a batch's float32 values start in an input file whose header fits in one page. */
export const DATA_AT = PAGE;

/** tmpfs where it can be written, else the temporary directory (driver and workers agree: one host). */
export function shmBase(): string {
  const base = process.env.CNSN_SHM_DIR ?? '/dev/shm';
  try {
    accessSync(base, constants.W_OK);
    return base;
  } catch {
    return tmpdir();
  }
}

/**
 * Which /dev/shm this process sees: the kernel's boot id and the directory's device and inode. Two
 * processes share the shm plane's files only when these agree (a container on the same host with a
 * /dev/shm of its own, or with the host's name, does not).
 */
export function shmIdentity(): string {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const { dev, ino } = statSync(shmBase());
    return `${boot}:${dev}:${ino}`;
  } catch {
    return '';
  }
}

/** A run's directory: named by a hash of the keyspace prefix and the run id, so both sides find it. */
export function runDir(prefix: string, run: string): string {
  const id = createHash('sha256').update(`${prefix}\n${run}`).digest('hex').slice(0, 24);
  return join(shmBase(), `cnsn-${id}`);
}

export const inputFile = (dir: string, seq: number): string => join(dir, `${seq}.in`);
export const resultFile = (dir: string, seq: number): string => join(dir, `${seq}.out`);

/** The two offsets at the start of every file. */
const HEAD = 8;

/** Where the data starts for a header of `prefixBytes`: the first page boundary after both. */
export function dataStart(prefixBytes: number): number {
  return Math.ceil((HEAD + prefixBytes) / PAGE) * PAGE;
}

function head(blobAt: number, dataAt: number): Buffer {
  const bytes = Buffer.alloc(HEAD);
  bytes.writeUInt32LE(blobAt, 0);
  bytes.writeUInt32LE(dataAt, 4);
  return bytes;
}

/**
 * Writes a blob (`[prefix, data]` parts) to `path` through a temporary name and a rename: a reader
 * sees the whole file or none. The temporary file is a spare one when there is: tmpfs allocates
 * (and zeroes) every page of a new file, which costs several times the copy itself.
 */
export async function writeBlobFile(path: string, parts: readonly Uint8Array[]): Promise<void> {
  const tmp = await takeSpare(dirname(path), `${basename(path)}.${process.pid}.tmp`);
  const prefixBytes = parts[0]?.byteLength ?? 0;
  const dataAt = dataStart(prefixBytes);
  const file = await open(tmp, 'r+');
  try {
    await writeAll(file, [head(dataAt - prefixBytes, dataAt)], 0);
    const end = await writeAll(file, parts, dataAt - prefixBytes);
    // A larger spare keeps its tail until cut here (the reader takes the size as the blob's end).
    if ((await file.stat()).size !== end) await file.truncate(end);
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

const SPARES = 'spare';
/** Spare files kept per run: enough for a full window of inputs and results. */
const MAX_SPARES = 8;

/** Renames a spare file of `dir` to `name` (or creates it empty); returns its path. */
async function takeSpare(dir: string, name: string): Promise<string> {
  const to = join(dir, name);
  const spares = await readdir(join(dir, SPARES)).catch(() => [] as string[]);
  for (const spare of spares) {
    try {
      await rename(join(dir, SPARES, spare), to);
      return to;
    } catch {
      // another process took it first
    }
  }
  await (await open(to, 'w', 0o600)).close();
  return to;
}

/** Files a batch is done with: kept as spares (their pages reused by later batches), or removed. */
export async function retireFiles(dir: string, ...paths: string[]): Promise<void> {
  const spares = join(dir, SPARES);
  const count = (await readdir(spares).catch(() => [] as string[])).length;
  await Promise.all(
    paths.map((p, i) =>
      count + i < MAX_SPARES
        ? rename(p, join(spares, `${basename(p)}.${process.pid}.${++retired}`)).catch(() => undefined)
        : unlink(p).catch(() => undefined),
    ),
  );
}
let retired = 0;

/** Writes the header of a blob whose data a client has put at {@link DATA_AT} already. */
export async function writeBlobHeader(path: string, prefix: Uint8Array): Promise<void> {
  if (dataStart(prefix.byteLength) !== DATA_AT)
    throw new Error(`shm plane: a header of ${prefix.byteLength} bytes does not fit before the data`);
  const file = await open(path, 'r+');
  try {
    await writeAll(file, [head(DATA_AT - prefix.byteLength, DATA_AT)], 0);
    await writeAll(file, [prefix], DATA_AT - prefix.byteLength);
  } finally {
    await file.close();
  }
}

/** Reads the blob of `path` into `into(length)`; null when there is no such file. */
export async function readBlobFile(
  path: string,
  maxBytes: number,
  into: (length: number) => Uint8Array,
): Promise<Uint8Array | null> {
  return withFile(path, async (file, layout) => {
    const length = layout.size - layout.blobAt;
    if (length > maxBytes)
      throw new Error(`shm plane: ${path} holds ${length} bytes, over the limit of ${maxBytes}`);
    const bytes = into(length);
    await readAll(file, bytes, layout.blobAt);
    return bytes;
  });
}

/** The blob header of `path` and where its data lies; null when there is no such file. */
export async function readBlobPlace(
  path: string,
): Promise<{ prefix: Uint8Array; data: { path: string; offset: number; bytes: number } } | null> {
  return withFile(path, async (file, { blobAt, dataAt, size }) => {
    const prefix = Buffer.allocUnsafe(dataAt - blobAt);
    await readAll(file, prefix, blobAt);
    return { prefix, data: { path, offset: dataAt, bytes: size - dataAt } };
  });
}

/** Reads `bytes` at `offset` of `path` into a new buffer; null when there is no such file. */
export async function readFileRange(path: string, offset: number, bytes: number): Promise<Uint8Array | null> {
  return withFile(path, async (file) => {
    const into = new Uint8Array(bytes);
    await readAll(file, into, offset);
    return into;
  });
}

/** Float32 values where they lie (a result left in place), read into a new array; null when gone. */
export async function readPlaced(place: {
  path: string;
  offset: number;
  bytes: number;
}): Promise<Float32Array | null> {
  const bytes = await readFileRange(place.path, place.offset, place.bytes);
  return bytes && new Float32Array(bytes.buffer, bytes.byteOffset, place.bytes / 4);
}

interface Layout {
  blobAt: number;
  dataAt: number;
  size: number;
}

async function withFile<T>(
  path: string,
  use: (file: FileHandle, layout: Layout) => Promise<T>,
): Promise<T | null> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const bytes = Buffer.alloc(HEAD);
    await readAll(file, bytes, 0);
    const layout = {
      blobAt: bytes.readUInt32LE(0),
      dataAt: bytes.readUInt32LE(4),
      size: (await file.stat()).size,
    };
    if (layout.blobAt < HEAD || layout.dataAt <= layout.blobAt || layout.dataAt > layout.size)
      throw new Error(
        `shm plane: ${path} is not a blob file (offsets ${layout.blobAt}, ${layout.dataAt}; ${layout.size} bytes)`,
      );
    return await use(file, layout);
  } finally {
    await file.close();
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes files that may not be there. */
export async function removeFiles(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => unlink(p).catch(() => undefined)));
}

/** Creates a run's directory (or takes over one a dead driver of the run left), owned by this process. */
export async function makeRunDir(dir: string): Promise<void> {
  await mkdir(join(dir, SPARES), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, OWNER), String(process.pid));
}

const OWNER = 'owner';
/** A directory whose driver died is left this long for a resume before it is swept. */
const STALE_MS = 10 * 60_000;

/**
 * Removes run directories whose driver died (killed: a closed run removes its own) and that nobody
 * touched for 10 minutes, so memory in /dev/shm does not leak across crashes.
 */
export async function sweepStaleRunDirs(now = Date.now()): Promise<string[]> {
  const base = shmBase();
  const swept: string[] = [];
  for (const name of await readdir(base).catch(() => [] as string[])) {
    if (!/^cnsn-[0-9a-f]{24}$/.test(name)) continue;
    const dir = join(base, name);
    const owner = Number(await readFile(join(dir, OWNER), 'utf8').catch(() => ''));
    const touched = (await stat(dir).catch(() => null))?.mtimeMs ?? now;
    if (owner > 0 && !processAlive(owner) && now - touched > STALE_MS) {
      await removeRunDir(dir);
      swept.push(dir);
    }
  }
  return swept;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a run's directory; a worker may still be writing a result into it, hence the retries. */
export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 10 });
}

export const runDirExists = (dir: string): boolean => existsSync(dir);

/** Writes the parts one after the other from `at`; resolves with where they end. */
async function writeAll(file: FileHandle, parts: readonly Uint8Array[], at: number): Promise<number> {
  for (const part of parts) {
    for (let done = 0; done < part.byteLength;)
      done += (await file.write(part, done, part.byteLength - done, at + done)).bytesWritten;
    at += part.byteLength;
  }
  return at;
}

async function readAll(file: FileHandle, into: Uint8Array, at: number): Promise<void> {
  for (let done = 0; done < into.byteLength;) {
    const { bytesRead } = await file.read(into, done, into.byteLength - done, at + done);
    if (bytesRead === 0) throw new Error(`shm plane: the file ended ${into.byteLength - done} bytes early`);
    done += bytesRead;
  }
}
