import { createRequire } from 'node:module';
import { createCanvas, GlobalFonts, type SKRSContext2D } from '@napi-rs/canvas';

/** A box drawn over a tile, in the tile's own map coordinates: `[h0, w0, h1, w1]`, half-open. */
export interface TileBox {
  box: readonly [number, number, number, number];
  color: string;
  dashed?: boolean;
}

/** One tile of the grid: an RGB picture (3 x H x W, values in [0, 1]) or heat maps of a few channels. */
export type Tile =
  | { kind: 'rgb'; data: Float32Array; height: number; width: number; boxes: TileBox[]; caption: string }
  | {
      kind: 'heat';
      /** Each channel H x W; drawn side by side, 2 per row. */
      channels: Float32Array[];
      /** Colour scale of each channel, [low, high] (the same across a row's tiles, so changes show). */
      ranges: Array<readonly [number, number]>;
      height: number;
      width: number;
      boxes: TileBox[];
      caption: string;
    };

export interface Grid {
  title: string;
  columns: string[];
  rows: string[];
  /** tiles[row][column] */
  tiles: Tile[][];
  /** Pixel size of a tile's picture. @defaultValue 128 */
  tileSize?: number;
  /** Lines under the grid (a legend). */
  notes?: string[];
}

export const FONT = 'cnsn-mono';
let fontLoaded = false;

/** The bundled font (IBM Plex Mono, OFL), so labels render the same on a machine without fonts. */
export function loadFont(): void {
  if (fontLoaded) return;
  const require = createRequire(import.meta.url);
  GlobalFonts.registerFromPath(
    require.resolve('@fontsource/ibm-plex-mono/files/ibm-plex-mono-latin-400-normal.woff2'),
    FONT,
  );
  fontLoaded = true;
}

const PAD = 10;
const HEAD = 34;
const CAPTION = 30;
const ROW_LABEL = 96;
const TITLE = 34;
const NOTE = 16;

/** Renders a labelled grid of tiles as a PNG. */
export function renderGrid(grid: Grid): Buffer {
  loadFont();
  const size = grid.tileSize ?? 128;
  const cols = grid.columns.length;
  const rows = grid.rows.length;
  const notes = grid.notes ?? [];
  const width = ROW_LABEL + cols * (size + PAD) + PAD;
  const height = TITLE + HEAD + rows * (size + CAPTION + PAD) + notes.length * NOTE + PAD * 2;
  const canvas = createCanvas(width, height);
  const g = canvas.getContext('2d');
  g.fillStyle = '#0f172a';
  g.fillRect(0, 0, width, height);
  g.font = `16px ${FONT}`;
  fitText(g, grid.title, PAD, 22, width - 2 * PAD, '#e2e8f0');
  g.font = `11px ${FONT}`;
  grid.columns.forEach((label, c) => {
    const x = ROW_LABEL + c * (size + PAD);
    label.split('\n').forEach((line, i) => fitText(g, line, x, TITLE + 12 + i * 13, size, '#93c5fd'));
  });
  grid.rows.forEach((label, r) => {
    const y = TITLE + HEAD + r * (size + CAPTION + PAD);
    label
      .split('\n')
      .forEach((line, i) => fitText(g, line, PAD, y + 14 + i * 13, ROW_LABEL - PAD * 2, '#e2e8f0'));
    grid.columns.forEach((_, c) => {
      const tile = grid.tiles[r]?.[c];
      if (!tile) return;
      const x = ROW_LABEL + c * (size + PAD);
      drawTile(g, tile, x, y, size);
      tile.caption
        .split('\n')
        .slice(0, 2)
        .forEach((line, i) => fitText(g, line, x, y + size + 12 + i * 12, size, '#cbd5e1'));
    });
  });
  g.font = `11px ${FONT}`;
  const notesTop = TITLE + HEAD + rows * (size + CAPTION + PAD) + PAD;
  notes.forEach((line, i) => fitText(g, line, PAD, notesTop + i * NOTE, width - 2 * PAD, '#94a3b8'));
  return canvas.toBuffer('image/png');
}

function fitText(
  g: SKRSContext2D,
  text: string,
  x: number,
  y: number,
  maxWidth: number,
  color: string,
): void {
  g.fillStyle = color;
  let shown = text;
  while (shown.length > 1 && g.measureText(shown).width > maxWidth) shown = shown.slice(0, -1);
  if (shown !== text) shown = `${shown.slice(0, -1)}…`;
  g.fillText(shown, x, y);
}

function drawTile(g: SKRSContext2D, tile: Tile, x: number, y: number, size: number): void {
  const { height: h, width: w } = tile;
  if (tile.kind === 'rgb') {
    const pixels = new Uint8ClampedArray(h * w * 4);
    const plane = h * w;
    for (let i = 0; i < plane; i++) {
      pixels[i * 4] = 255 * (tile.data[i] as number);
      pixels[i * 4 + 1] = 255 * (tile.data[plane + i] as number);
      pixels[i * 4 + 2] = 255 * (tile.data[2 * plane + i] as number);
      pixels[i * 4 + 3] = 255;
    }
    blit(g, pixels, w, h, x, y, size, size);
    drawBoxes(g, tile.boxes, x, y, size / w, size / h);
    return;
  }
  // Heat maps: two channels per row, each a square of half the tile.
  const per = Math.ceil(Math.sqrt(tile.channels.length));
  const cell = Math.floor(size / per);
  tile.channels.forEach((channel, k) => {
    const range = tile.ranges[k] ?? [0, 1];
    const pixels = new Uint8ClampedArray(h * w * 4);
    const span = range[1] - range[0] || 1;
    for (let i = 0; i < h * w; i++) {
      const [r, gr, b] = viridis(((channel[i] as number) - range[0]) / span);
      pixels[i * 4] = r;
      pixels[i * 4 + 1] = gr;
      pixels[i * 4 + 2] = b;
      pixels[i * 4 + 3] = 255;
    }
    const cx = x + (k % per) * cell;
    const cy = y + Math.floor(k / per) * cell;
    blit(g, pixels, w, h, cx, cy, cell - 1, cell - 1);
    drawBoxes(g, tile.boxes, cx, cy, (cell - 1) / w, (cell - 1) / h);
  });
}

/** Draws an image scaled with nearest-neighbour sampling (feature maps are small: keep cells sharp). */
function blit(
  g: SKRSContext2D,
  pixels: Uint8ClampedArray,
  w: number,
  h: number,
  x: number,
  y: number,
  dw: number,
  dh: number,
): void {
  const src = createCanvas(w, h);
  const sg = src.getContext('2d');
  const image = sg.createImageData(w, h);
  image.data.set(pixels);
  sg.putImageData(image, 0, 0);
  g.imageSmoothingEnabled = false;
  g.drawImage(src, x, y, dw, dh);
}

function drawBoxes(g: SKRSContext2D, boxes: TileBox[], x: number, y: number, sx: number, sy: number): void {
  for (const { box, color, dashed } of boxes) {
    const [h0, w0, h1, w1] = box;
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.setLineDash(dashed ? [4, 3] : []);
    g.strokeRect(x + w0 * sx + 1, y + h0 * sy + 1, (w1 - w0) * sx - 2, (h1 - h0) * sy - 2);
  }
  g.setLineDash([]);
}

// Viridis at 5 stops, linearly interpolated: perceptually ordered, readable by the colour-blind.
const STOPS: Array<[number, number, number]> = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function viridis(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(u));
  const f = u - i;
  const a = STOPS[i] as [number, number, number];
  const b = STOPS[i + 1] as [number, number, number];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}
