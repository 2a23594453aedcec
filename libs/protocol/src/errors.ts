/**
 * A message that cannot be used: a corrupt or truncated tensor blob, job data of the wrong form,
 * a .npy file that is not float32 NCHW. Never transient: the batch fails without retries.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** What was being read, e.g. `blob {cnsn}:run:r1:in:7` or a file path. */
  readonly source: string;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.source = source;
  }
}
