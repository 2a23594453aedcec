// The worker the fault tests and the soak start: `npm run worker`, plus a hold of every batch at one
// stage, so that a test can strike there. CNSN_FAULT_DELAY_MS: how long; CNSN_FAULT_STAGE: `fetch`
// (input in hand, nothing computed), `compute` (the default: before the kernels) or `send` (part of
// the result on its way: on the direct plane the request head and the blob's header have gone out;
// on the redis and shm planes, which store a result whole, just before it is stored).
// CNSN_FAULT_FROM_SEQ=K holds only batches K and later (earlier ones go at full speed).
// Each hold is said on stderr first (`fault: holding ...`): a test waits for that line, not a time.
// Test support only: the product's worker has no such hook.
import { connect } from 'node:net';
import type { BatchProcessor, WorkerDataPlane, WorkerRuntimeOptions, WorkerTransport } from '@cnsn/pipeline';
import { HttpTransport } from '@cnsn/pipeline';
import { workerCommand } from '#cnsn/worker-command';

type Stage = 'fetch' | 'compute' | 'send';

const delay = Number(process.env.CNSN_FAULT_DELAY_MS ?? 0);
const stage = (process.env.CNSN_FAULT_STAGE ?? 'compute') as Stage;
const fromSeq = Number(process.env.CNSN_FAULT_FROM_SEQ ?? 0);
if (!['fetch', 'compute', 'send'].includes(stage))
  throw new Error(`CNSN_FAULT_STAGE: must be fetch, compute or send, got ${JSON.stringify(stage)}`);

async function hold(at: Stage, what: string, seq: number): Promise<void> {
  if (seq < fromSeq) return;
  process.stderr.write(`fault: holding ${what} at stage ${at} for ${delay} ms\n`);
  await new Promise((r) => setTimeout(r, delay));
}

const name = (job: { run: string; seq: number }): string => `batch ${job.seq} of run ${job.run}`;

/** Holds after the input is in hand (fetch), or before the result goes (send, redis plane). */
function holdingPlane(plane: WorkerDataPlane): WorkerDataPlane {
  return new Proxy(plane, {
    get(target, prop, receiver) {
      if (prop === 'fetchInput' && stage === 'fetch')
        return async (job: Parameters<WorkerDataPlane['fetchInput']>[0], into: (n: number) => Uint8Array) => {
          const bytes = await target.fetchInput(job, into);
          await hold('fetch', name(job), job.seq);
          return bytes;
        };
      // A SET is stored whole or not at all, and a shm result file appears by a rename: on those
      // planes "part of the result" is before it.
      if (prop === 'putResult' && stage === 'send' && target.kind !== 'direct')
        return async (job: Parameters<WorkerDataPlane['putResult']>[0], blob: Uint8Array[]) => {
          await hold('send', `${name(job)} (result not yet stored)`, job.seq);
          return target.putResult(job, blob);
        };
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * The direct plane's send stage: the request head and the blob's header go out on a connection of
 * its own, then the hold (the driver's endpoint holds half a body); then the whole result is sent as
 * usual, on the transport.
 */
class HalfSendingTransport implements WorkerTransport {
  constructor(private readonly inner: WorkerTransport) {}

  async request(origin: string, req: Parameters<WorkerTransport['request']>[1]) {
    const seq = Number(/\/batches\/(\d+)\//.exec(req.path)?.[1] ?? 0);
    if (req.method === 'PUT' && origin.startsWith('http:') && seq >= fromSeq) {
      const url = new URL(origin);
      const length = req.body.reduce((n, p) => n + p.byteLength, 0);
      const socket = connect({ host: url.hostname, port: Number(url.port) });
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const headers = Object.entries({ ...req.headers, 'content-length': String(length) })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`PUT ${req.path} HTTP/1.1\r\nhost: ${url.host}\r\n${headers}\r\n`);
      await new Promise<void>((resolve) => socket.write(req.body[0] ?? new Uint8Array(0), () => resolve()));
      await hold('send', `${req.path} (result partly sent)`, seq);
      socket.destroy();
    }
    return this.inner.request(origin, req);
  }

  retain(keep: ReadonlySet<string>): void {
    this.inner.retain(keep);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function holdingProcessor(processor: BatchProcessor): BatchProcessor {
  return new Proxy(processor, {
    get(target, prop, receiver) {
      if (prop === 'process' && stage === 'compute')
        return async (...args: Parameters<BatchProcessor['process']>) => {
          await hold('compute', `batch ${args[1].seq} of run ${args[1].spec.run}`, args[1].seq);
          return target.process(...args);
        };
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function withFaults(o: WorkerRuntimeOptions): WorkerRuntimeOptions {
  if (!(delay > 0)) return o;
  return {
    ...o,
    processor: holdingProcessor(o.processor),
    decoratePlane: holdingPlane,
    ...(stage === 'send' ? { transport: new HalfSendingTransport(new HttpTransport()) } : {}),
  };
}

await workerCommand(withFaults).parseAsync(process.argv);
