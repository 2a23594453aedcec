import type { CrossNormPlan, Shape4 } from '@cnsn/kernels';
import { CONTENT_BOX_COLOR, STYLE_BOX_COLOR } from './preview-figure.js';
import { renderGrid, type Tile, type TileBox } from './render-grid.js';

const MAX_ROWS = 4;
const MAX_CHANNELS = 4;

/**
 * A picture of one delivered batch for the dashboard: its first instances, input beside output,
 * a few channels as heat maps on one colour scale per row and channel, labelled with the plan.
 */
export function renderBatchPreview(options: {
  run: string;
  seq: number;
  shape: readonly number[];
  input: Float32Array;
  output: Float32Array;
  plan: unknown;
  label?: string;
}): Buffer {
  const [n, c, h, w] = options.shape as Shape4;
  const plane = h * w;
  const plan = options.plan as CrossNormPlan | null;
  const boxes: TileBox[] = [];
  if (plan?.contentBox) boxes.push({ box: plan.contentBox, color: CONTENT_BOX_COLOR });
  if (plan?.styleBox) boxes.push({ box: plan.styleBox, color: STYLE_BOX_COLOR, dashed: true });
  const rows = Math.min(n, MAX_ROWS);
  const shown = Math.min(c, MAX_CHANNELS);
  const tiles: Tile[][] = [];
  for (let i = 0; i < rows; i++) {
    const pick = (data: Float32Array): Float32Array[] =>
      Array.from({ length: shown }, (_, k) => data.subarray((i * c + k) * plane, (i * c + k + 1) * plane));
    const input = pick(options.input);
    const output = pick(options.output);
    const ranges = input.map((ch, k) => range(ch, output[k] as Float32Array));
    const style = plan?.fires ? `style <- #${plan.insIdxs[i]}` : 'CrossNorm did not fire';
    const chan = plan?.chanIdxs ? `ch <- ${plan.chanIdxs.slice(0, 8).join(',')}` : '';
    tiles.push([
      { kind: 'heat', channels: input, ranges, height: h, width: w, boxes: [], caption: '' },
      { kind: 'heat', channels: output, ranges, height: h, width: w, boxes, caption: `${style}\n${chan}` },
    ]);
  }
  return renderGrid({
    title: `run ${options.run}, batch ${options.seq} (${options.shape.join('x')})${options.label ? `: ${options.label}` : ''}`,
    columns: ['input', `output${plan?.crop ? `\ncrop=${plan.crop}` : ''}`],
    rows: Array.from({ length: rows }, (_, i) => `#${i}`),
    tiles,
    tileSize: 160,
    notes: [`channels 0-${shown - 1} as heat maps; green: content box, orange: style box`],
  });
}

function range(a: Float32Array, b: Float32Array): readonly [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const data of [a, b])
    for (const v of data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  return [lo, hi];
}
