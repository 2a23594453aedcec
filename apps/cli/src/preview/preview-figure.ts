import {
  type Crop,
  type CrossNormPlan,
  createBackend,
  defaultSelfNormParams,
  identityPlan,
  makePlan,
  type SelfNormConfig,
  type Shape4,
} from '@cnsn/kernels';
import { type Grid, renderGrid, type Tile, type TileBox } from './render-grid.js';

/** A batch to show: images (3 channels, values in [0, 1], drawn as RGB) or features (heat maps). */
export interface PreviewBatch {
  data: Float32Array;
  shape: Shape4;
  /** Row labels (file names); default `#n`. */
  names?: string[];
  kind: 'rgb' | 'heat';
}

/** One column of the figure: what was applied to the whole batch. */
interface Column {
  label: string;
  plan: CrossNormPlan;
  selfnorm: boolean;
}

export const CONTENT_BOX_COLOR = '#22c55e';
export const STYLE_BOX_COLOR = '#f97316';
/** Rows and channels shown for a feature batch. */
const MAX_ROWS = 4;
const MAX_CHANNELS = 4;

/**
 * What the augmentation does, as one picture: the inputs, CrossNorm with each crop mode without and
 * with channel shuffle, SelfNorm, and the default chain, each tile labelled with its plan. Column k's
 * plan is `makePlan(shape, seed, k)` with that column's options, so the same seed gives the same
 * picture (and `cnsn plan` prints the same plans).
 */
export async function renderAugmentationPreview(
  batch: PreviewBatch,
  options: { seed: number; tileSize: number },
): Promise<{ png: Buffer; columns: string[]; rows: number }> {
  const { shape, seed } = { shape: batch.shape, seed: options.seed };
  const columns: Column[] = [{ label: 'input', plan: identityPlan(shape[0]), selfnorm: false }];
  for (const chan of [false, true])
    for (const crop of ['neither', 'style', 'content', 'both'] as Crop[])
      columns.push({
        label: `CrossNorm\ncrop=${crop}${chan ? ' +chan' : ''}`,
        plan: makePlan(shape, seed, columns.length, { crop, chan, cnProb: 1 }),
        selfnorm: false,
      });
  columns.push({ label: 'SelfNorm\ntrain', plan: identityPlan(shape[0]), selfnorm: true });
  columns.push({
    label: 'CN both+chan\n-> SelfNorm',
    plan: makePlan(shape, seed, columns.length, { crop: 'both', chan: true, cnProb: 1 }),
    selfnorm: true,
  });
  const selfnorm: SelfNormConfig = { mode: 'train', params: defaultSelfNormParams(shape[1], { seed }) };
  const { backend } = await createBackend('fused');
  const outputs: Float32Array[] = [];
  try {
    for (const col of columns) {
      const result = await backend.augment(
        { data: batch.data, shape },
        { plan: col.plan, selfnorm: col.selfnorm ? selfnorm : null },
      );
      outputs.push(result.data);
    }
  } finally {
    await backend.dispose();
  }
  const names = batch.names ?? [];
  const rows = Math.min(shape[0], batch.kind === 'rgb' ? shape[0] : MAX_ROWS);
  const grid: Grid = {
    title: `cnsn preview: seed ${seed}, batch ${shape.join('x')} (${batch.kind === 'rgb' ? 'images as 1x3xHxW instances' : 'feature maps'})`,
    columns: columns.map((c) => c.label),
    rows: Array.from({ length: rows }, (_, n) => `#${n}${names[n] ? `\n${names[n]}` : ''}`),
    tiles: [],
    tileSize: options.tileSize,
    notes: [
      'solid green: content box (the region that is re-styled); dashed orange: style box (where the style statistics come from, in the style instance)',
      "'style <- #k': the instance that lent its style; 'ch <- ...': where each channel's style comes from (channel shuffle)",
      `column k uses the plan of batch k of a run seeded ${seed} (cnsn plan --seed ${seed} prints it); same seed, same picture`,
      batch.kind === 'heat'
        ? `channels 0-${Math.min(shape[1], MAX_CHANNELS) - 1} of each instance as heat maps (viridis), one colour scale per channel and row`
        : 'SelfNorm: PyTorch-default parameters seeded from the same seed, train mode (batch statistics)',
    ],
  };
  for (let n = 0; n < rows; n++) {
    const ranges = batch.kind === 'heat' ? rowRanges(outputs, shape, n) : [];
    grid.tiles.push(
      columns.map((col, k) => tileOf(outputs[k] as Float32Array, shape, n, col, batch.kind, ranges, names)),
    );
  }
  return { png: renderGrid(grid), columns: grid.columns, rows };
}

function tileOf(
  data: Float32Array,
  shape: Shape4,
  n: number,
  col: Column,
  kind: 'rgb' | 'heat',
  ranges: Array<readonly [number, number]>,
  names: string[],
): Tile {
  const [, c, h, w] = shape;
  const plane = h * w;
  const caption = captionOf(col, n, names);
  const boxes = boxesOf(col.plan);
  if (kind === 'rgb') {
    const rgb = new Float32Array(3 * plane);
    for (let i = 0; i < 3 * plane; i++) rgb[i] = Math.min(1, Math.max(0, data[n * c * plane + i] as number));
    return { kind: 'rgb', data: rgb, height: h, width: w, boxes, caption };
  }
  const channels = Array.from({ length: Math.min(c, MAX_CHANNELS) }, (_, k) =>
    data.subarray((n * c + k) * plane, (n * c + k + 1) * plane),
  );
  return { kind: 'heat', channels, ranges, height: h, width: w, boxes, caption };
}

function captionOf(col: Column, n: number, names: string[]): string {
  const { plan } = col;
  if (!plan.fires) return col.selfnorm ? 'gated per channel' : '';
  const from = plan.insIdxs[n] as number;
  const style = `style <- #${from}${names[from] ? ` ${names[from]}` : ''}`;
  return plan.chanIdxs ? `${style}\nch <- ${plan.chanIdxs.slice(0, 8).join(',')}` : style;
}

function boxesOf(plan: CrossNormPlan): TileBox[] {
  const boxes: TileBox[] = [];
  if (plan.contentBox) boxes.push({ box: plan.contentBox, color: CONTENT_BOX_COLOR });
  if (plan.styleBox) boxes.push({ box: plan.styleBox, color: STYLE_BOX_COLOR, dashed: true });
  return boxes;
}

/** Colour scale of each shown channel of row n: the range over every column, so nothing clips. */
function rowRanges(outputs: Float32Array[], shape: Shape4, n: number): Array<readonly [number, number]> {
  const [, c, h, w] = shape;
  const plane = h * w;
  return Array.from({ length: Math.min(c, MAX_CHANNELS) }, (_, k) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const out of outputs) {
      const start = (n * c + k) * plane;
      for (let i = start; i < start + plane; i++) {
        const v = out[i] as number;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return [lo, hi] as const;
  });
}
