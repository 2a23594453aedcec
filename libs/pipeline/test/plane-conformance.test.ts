import { randomBytes } from 'node:crypto';
import {
  type BatchJobData,
  buildRunSpec,
  DATA_PLANE_JOBS,
  encodeTensorBlobParts,
  Keyspace,
} from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverDataPlane, WorkerDataPlane } from '../src/data-plane/data-plane.js';
import { InputMissingError } from '../src/data-plane/data-plane.js';
import { DirectServer } from '../src/data-plane/direct/direct-server.js';
import { registeredPlanes } from '../src/data-plane/plane-registry.js';
import { BufferPool, openBlobStore, silentLogger, type BlobStore } from '../src/index.js';
import { RedisScripts } from '../src/redis/scripts.js';
import { RunState } from '../src/run-state.js';
import { MemoryDriverPlane } from './support/memory-plane.js';
import { TestRedis } from './support/redis-server.js';

/** A plane's two sides for one run, as a conformance case sees them. */
interface PlanePair {
  driver: DriverDataPlane;
  worker: WorkerDataPlane;
  /** A job of batch `seq` as the producer would make it. */
  job(seq: number, bytes: number): BatchJobData;
  close(): Promise<void>;
}

const SHAPE = [2, 3, 4, 4];
const blob = (seed: number, meta?: unknown): Uint8Array[] =>
  encodeTensorBlobParts({
    shape: SHAPE,
    data: Float32Array.from({ length: 96 }, (_, i) => seed * 1000 + i),
    ...(meta === undefined ? {} : { meta }),
  });
const joined = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

let redis: TestRedis;
let client: Redis;
let blobs: BlobStore;
let server: DirectServer;
let state: RunState;
const keys = new Keyspace(`{c${randomBytes(3).toString('hex')}}`);
beforeAll(async () => {
  redis = await TestRedis.start();
  client = new Redis(redis.url);
  blobs = await openBlobStore(client);
  server = await DirectServer.start({ listen: '127.0.0.1:0', logger: silentLogger });
  state = new RunState(client, keys, new RedisScripts(client));
});
afterAll(async () => {
  await server.close();
  blobs.close();
  client.disconnect();
  await redis.stop();
});

/** Every registered plane, opened through its definition as the pipeline and the worker do. */
const registered = registeredPlanes().map((plane) => ({
  name: plane.kind,
  open: async (): Promise<PlanePair> => {
    const { spec } = buildRunSpec({}, `conf-${plane.kind}-${randomBytes(3).toString('hex')}`, plane.kind);
    await state.create(spec, null);
    const ctx = { run: spec.run, results: new BufferPool(false), maxBlobBytes: 1 << 20 };
    const driver = await plane.openDriver(
      { blobs, keys, state, directServer: async () => server },
      spec,
      ctx,
    );
    const worker = plane.openWorker({ blobs, keys, state, maxBlobBytes: 1 << 20 });
    return {
      driver,
      worker,
      job: (seq, bytes) => ({ run: spec.run, seq, shape: SHAPE, bytes, ...driver.jobFields }),
      close: async () => {
        await driver.close();
        await worker.close();
        await state.remove(spec.run, spec);
      },
    };
  },
}));

/** The in-memory plane of the core's unit tests, with a worker side over the same maps. */
const memory = {
  name: 'memory',
  open: async (): Promise<PlanePair> => {
    const driver = new MemoryDriverPlane({ run: 'm', results: new BufferPool(false), maxBlobBytes: 1 << 20 });
    const worker: WorkerDataPlane = {
      kind: 'redis',
      fetchInput: async (job, into) => {
        const bytes = driver.inputs.get(job.seq);
        if (!bytes) throw new InputMissingError(`input of batch ${job.seq} is missing`);
        const target = into(bytes.byteLength);
        target.set(bytes);
        return target;
      },
      putResult: async (job, parts) => driver.receive(job.seq, joined(parts)),
      hasResult: async (job) => driver.results.has(job.seq),
      discard: async () => undefined,
      close: async () => undefined,
    };
    return {
      driver,
      worker,
      job: (seq, bytes) => ({ run: 'm', seq, shape: SHAPE, bytes, ...driver.jobFields }),
      close: () => driver.close(),
    };
  },
};

describe.each([...registered, memory])('the data-plane contract, on the %s plane', ({ name, open }) => {
  it('an input the driver puts reaches the worker byte for byte, in the buffer the worker gives', async () => {
    const pair = await open();
    try {
      const input = blob(1);
      await pair.driver.putInput(0, input, SHAPE);
      expect(await pair.driver.hasInput(0)).toBe(true);
      const buffer = new Uint8Array(joined(input).byteLength);
      const got = await pair.worker.fetchInput(pair.job(0, buffer.byteLength), (n) => buffer.subarray(0, n));
      expect(got.buffer).toBe(buffer.buffer);
      expect(Buffer.from(got).equals(Buffer.from(joined(input)))).toBe(true);
      expect(pair.driver.bytesMoved.in).toBe(buffer.byteLength);
    } finally {
      await pair.close();
    }
  });

  it('a result the worker puts reaches the driver byte for byte; both sides then see it', async () => {
    const pair = await open();
    try {
      const input = blob(2);
      await pair.driver.putInput(3, input, SHAPE);
      const job = pair.job(3, joined(input).byteLength);
      expect(await pair.driver.hasResult(3)).toBe(false);
      const result = blob(7, { seq: 3, status: 'ok' });
      await pair.worker.putResult(job, result);
      expect(await pair.driver.hasResult(3)).toBe(true);
      expect(await pair.worker.hasResult(job)).toBe(true);
      const fetched = await pair.driver.fetchResult(3);
      expect(fetched && Buffer.from(fetched).equals(Buffer.from(joined(result)))).toBe(true);
      expect(pair.driver.bytesMoved.out).toBe(joined(result).byteLength);
    } finally {
      await pair.close();
    }
  });

  it('an input never put is missing (InputMissingError: the job waits and retries)', async () => {
    const pair = await open();
    try {
      await expect(pair.worker.fetchInput(pair.job(9, 512), (n) => new Uint8Array(n))).rejects.toBeInstanceOf(
        InputMissingError,
      );
    } finally {
      await pair.close();
    }
  });

  it('forget drops the batch: no input, no result', async () => {
    const pair = await open();
    try {
      const input = blob(3);
      await pair.driver.putInput(5, input, SHAPE);
      await pair.worker.putResult(pair.job(5, joined(input).byteLength), blob(8, { seq: 5, status: 'ok' }));
      await pair.driver.forget(5);
      expect(await pair.driver.hasInput(5)).toBe(false);
      expect(await pair.driver.hasResult(5)).toBe(false);
      expect(await pair.driver.fetchResult(5)).toBeNull();
    } finally {
      await pair.close();
    }
  });

  it.skipIf(name === 'memory')(
    "its jobs name the plane and carry the run's secret exactly when the protocol says",
    async () => {
      const pair = await open();
      try {
        const fields = pair.driver.jobFields as { plane: keyof typeof DATA_PLANE_JOBS; secret?: string };
        expect(fields.plane).toBe(name);
        expect(fields.secret !== undefined).toBe(DATA_PLANE_JOBS[fields.plane].secret);
      } finally {
        await pair.close();
      }
    },
  );
});
