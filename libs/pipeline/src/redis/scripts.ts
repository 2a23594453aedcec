import { readFileSync } from 'node:fs';
import type { RedisClient } from './redis-connection.js';

/** The Lua scripts of the pipeline: `lua/NAME-NUMKEYS.lua`, each with a KEYS/ARGV header. */
export const SCRIPT_FILES = [
  'complete-4',
  'fail-3',
  'release-params-2',
  'retry-failed-2',
  'set-if-run-1',
] as const;
type ScriptFile = (typeof SCRIPT_FILES)[number];

export interface LoadedScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

/** Reads one script; its key count comes from its file name, as in BullMQ. */
export function loadScript(file: ScriptFile): LoadedScript {
  const match = /^(.+)-(\d+)$/.exec(file);
  if (!match) throw new Error(`script file ${file}: expected NAME-NUMKEYS`);
  const lua = readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');
  return { name: `cnsn_${(match[1] as string).replace(/-/g, '_')}`, numberOfKeys: Number(match[2]), lua };
}

type Command = (...args: Array<string | number>) => Promise<number>;

/**
 * The scripts, defined once on a client (ioredis sends EVALSHA, and the source only when the server
 * lacks it), called through typed wrappers that name each key and argument.
 */
export class RedisScripts {
  private readonly commands: Record<ScriptFile, Command>;

  constructor(client: RedisClient) {
    const commands = {} as Record<ScriptFile, Command>;
    for (const file of SCRIPT_FILES) {
      const script = loadScript(file);
      const existing = (client as unknown as Record<string, Command | undefined>)[script.name];
      if (!existing)
        client.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
      const command = (client as unknown as Record<string, Command>)[script.name] as Command;
      commands[file] = command.bind(client);
    }
    this.commands = commands;
  }

  /** Counts batch `seq` done once; 1 counted, 0 counted before, -1 the run is gone. */
  complete(
    keys: { run: string; done: string; timeline: string; ready: string },
    seq: number,
    now: number,
    cutoff: number,
  ): Promise<number> {
    return this.commands['complete-4'](keys.run, keys.done, keys.timeline, keys.ready, seq, now, cutoff);
  }

  /** Records batch `seq` failed for good, once; 1 recorded, 0 before, -1 the run is gone. */
  fail(keys: { run: string; failure: string; ready: string }, record: string, seq: number): Promise<number> {
    return this.commands['fail-3'](keys.run, keys.failure, keys.ready, record, seq);
  }

  /** Sets fields of a run's hash while the run exists; 1 set, 0 the run is gone. */
  setIfRun(run: string, fields: Record<string, string | number>): Promise<number> {
    return this.commands['set-if-run-1'](run, ...Object.entries(fields).flat());
  }

  /** Drops a run's use of a parameter object; 1 when the object went with it. */
  releaseParams(keys: { params: string; users: string }, run: string): Promise<number> {
    return this.commands['release-params-2'](keys.params, keys.users, run);
  }

  /** Removes a failure record so the batch can be retried; 1 when there was one. */
  retryFailed(keys: { run: string; failure: string }): Promise<number> {
    return this.commands['retry-failed-2'](keys.run, keys.failure);
  }
}
