import { readFile, writeFile } from 'node:fs/promises';
import { parseNpy } from '@cnsn/protocol';
import { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { parseNonNegativeInt, parsePositiveInt } from '../parse-options.js';
import { loadImageBatch, SAMPLE_IMAGES_DIR } from '../preview/image-batch.js';
import { type PreviewBatch, renderAugmentationPreview } from '../preview/preview-figure.js';

interface PreviewFlags {
  images?: string;
  features?: string;
  seed: number;
  out: string;
  size: number;
}

/** `cnsn preview`: one PNG grid of what the augmentation does (docs/cli.md). */
export function previewCommand(): Command {
  return new Command('preview')
    .description(
      'write one PNG grid: inputs, CrossNorm per crop mode with and without channel shuffle, SelfNorm, each tile labelled with its plan',
    )
    .option('--images <dir>', 'a folder of PNG/JPEG images (default: the bundled samples)')
    .option('--features <file>', 'an NCHW float32 .npy batch instead; a few channels shown as heat maps')
    .option('--seed <s>', 'seed of the plans (same seed, same picture)', parseNonNegativeInt, 0)
    .option('--out <file>', 'PNG file to write', 'preview.png')
    .option('--size <px>', 'tile size in pixels (images are scaled to it)', parsePositiveInt, 128)
    .action(async (flags: PreviewFlags) => {
      if (flags.images && flags.features) throw new CliError('give either --images or --features, not both');
      if (flags.size > 512) throw new CliError(`--size: at most 512 pixels, got ${flags.size}`);
      let batch: PreviewBatch;
      if (flags.features) {
        let bytes: Buffer;
        try {
          bytes = await readFile(flags.features);
        } catch (err) {
          throw new CliError(`--features ${flags.features}: ${(err as Error).message}`);
        }
        const { data, shape } = parseNpy(bytes, flags.features);
        if (shape[0] < 2)
          throw new CliError(
            `${flags.features}: a batch of ${shape[0]} instance; CrossNorm swaps styles between instances, so give at least 2`,
          );
        batch = { data, shape, kind: 'heat' };
      } else {
        batch = { ...(await loadImageBatch(flags.images ?? SAMPLE_IMAGES_DIR, flags.size)), kind: 'rgb' };
      }
      const figure = await renderAugmentationPreview(batch, { seed: flags.seed, tileSize: flags.size });
      await writeFile(flags.out, figure.png);
      const width = figure.png.readUInt32BE(16);
      const height = figure.png.readUInt32BE(20);
      process.stderr.write(
        `wrote ${flags.out}: ${width}x${height}, ${figure.rows} instances x ${figure.columns.length} columns, seed ${flags.seed}\n`,
      );
      process.stdout.write(
        `${JSON.stringify({ out: flags.out, width, height, rows: figure.rows, columns: figure.columns.length, seed: flags.seed })}\n`,
      );
    });
}
