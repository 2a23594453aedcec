import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatNpy } from '@cnsn/protocol';

/**
 * Writes each result as .npy: to a temporary name, then renamed, so a file that exists is whole.
 * On a resumed run a file that exists already is not written again.
 */
export class NpyWriter {
  written = 0;
  kept = 0;

  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<NpyWriter> {
    await mkdir(dir, { recursive: true });
    return new NpyWriter(dir);
  }

  async write(name: string, shape: readonly number[], data: Float32Array): Promise<void> {
    const path = join(this.dir, name);
    if (existsSync(path)) {
      this.kept++;
      return;
    }
    const tmp = `${path}.${process.pid}.partial`;
    await writeFile(tmp, formatNpy(shape, data));
    await rename(tmp, path);
    this.written++;
  }
}
