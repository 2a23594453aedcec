import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatNpy } from '@cnsn/protocol';

/**
 * Writes each result as .npy: to a temporary name, then renamed, so a file that exists is whole.
 * On a resumed run a file that exists already is not written again. Temporary names carry the run
 * id (`NAME.RUN.partial`), so a resumed run removes what a killed run of its own left half-written,
 * and never touches a file it did not write.
 */
export class NpyWriter {
  written = 0;
  kept = 0;
  /** Half-written files of an earlier, killed invocation of this run that `open` removed. */
  readonly removedPartials: string[] = [];

  private constructor(
    private readonly dir: string,
    private readonly run: string,
  ) {}

  /** Opens `dir` for run `run`, whose outputs are named `names`; removes that run's leftovers. */
  static async open(dir: string, run: string, names: Iterable<string>): Promise<NpyWriter> {
    await mkdir(dir, { recursive: true });
    const writer = new NpyWriter(dir, run);
    const mine = new Set<string>();
    for (const name of names) mine.add(writer.partialName(name));
    for (const entry of await readdir(dir)) {
      if (!mine.has(entry)) continue;
      await rm(join(dir, entry), { force: true });
      writer.removedPartials.push(entry);
    }
    return writer;
  }

  async write(name: string, shape: readonly number[], data: Float32Array | Float64Array): Promise<void> {
    const path = join(this.dir, name);
    if (existsSync(path)) {
      this.kept++;
      return;
    }
    const tmp = join(this.dir, this.partialName(name));
    try {
      await writeFile(tmp, formatNpy(shape, data));
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    this.written++;
  }

  private partialName(name: string): string {
    return `${name}.${this.run}.partial`;
  }
}
