/**
 * The logging the pipeline needs: pino's call shape (`logger.info({ run, seq }, 'message')`), so a
 * pino logger can be passed as is. Fields carry the run, batch (`seq`) and worker.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  child?(fields: Record<string, unknown>): Logger;
}

/** Discards everything: the default for library use. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export function childLogger(logger: Logger, fields: Record<string, unknown>): Logger {
  return logger.child ? logger.child(fields) : logger;
}
