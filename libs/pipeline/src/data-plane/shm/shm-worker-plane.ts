import { hostname } from 'node:os';
import type { BatchJobData, Keyspace } from '@cnsn/protocol';
import { InputMissingError, type WorkerDataPlane } from '../data-plane.js';
import {
  exists,
  inputFile,
  readBlobFile,
  removeFiles,
  resultFile,
  runDir,
  runDirExists,
  writeBlobFile,
} from './shm-files.js';

/**
 * The shm plane, worker side: reads a batch's input file from its run's directory and writes the
 * result file beside it. Only a worker on the driver's host finds the directory; anywhere else the
 * input is missing, and the job's attempts end in a failure that says so.
 */
export class ShmWorkerPlane implements WorkerDataPlane {
  readonly kind = 'shm' as const;

  constructor(
    private readonly keys: Keyspace,
    private readonly maxBlobBytes: number,
  ) {}

  async fetchInput(job: BatchJobData, into: (length: number) => Uint8Array): Promise<Uint8Array> {
    const dir = runDir(this.keys.prefix, job.run);
    const bytes = await readBlobFile(inputFile(dir, job.seq), this.maxBlobBytes, into);
    if (bytes) return bytes;
    throw new InputMissingError(
      runDirExists(dir)
        ? `input of batch ${job.seq} of run ${job.run} is missing from ${dir}`
        : `the shm plane's directory ${dir} of run ${job.run} is not on host ${hostname()}: run this worker on the driver's host, or use the direct or redis plane`,
    );
  }

  async putResult(job: BatchJobData, blob: Uint8Array[]): Promise<void> {
    const dir = runDir(this.keys.prefix, job.run);
    // The run closed meanwhile (its driver removed the directory): nobody wants the result.
    if (!runDirExists(dir)) return;
    try {
      await writeBlobFile(resultFile(dir, job.seq), blob);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !runDirExists(dir)) return; // closed meanwhile
      throw err;
    }
    // The input stays until the batch is delivered (the driver retires both): a placed batch's only
    // copy, which a preview or a passthrough reads back.
  }

  hasResult(job: BatchJobData): Promise<boolean> {
    return exists(resultFile(runDir(this.keys.prefix, job.run), job.seq));
  }

  async discard(job: BatchJobData): Promise<void> {
    const dir = runDir(this.keys.prefix, job.run);
    await removeFiles(inputFile(dir, job.seq), resultFile(dir, job.seq));
  }

  async close(): Promise<void> {
    // Files belong to their runs; their drivers remove them.
  }
}
