import { createCanvas } from '@napi-rs/canvas';
import { FONT, loadFont } from '../preview/render-grid.js';
import type { ClusterRow } from './cluster-row.js';

const W = 820;
const H = 420;
const LEFT = 70;
const BOTTOM = 320;
const TOP = 70;

/**
 * `bench cluster --plot`: GB/s of each row as a bar, the driver link's rate as a dashed line (what
 * one driver's direct plane can reach), each bar labelled with its plane, wire and hosts.
 */
export function renderClusterPlot(rows: readonly ClusterRow[], linkGbit: number): Buffer {
  loadFont();
  const canvas = createCanvas(W, H);
  const g = canvas.getContext('2d');
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, W, H);
  const link = linkGbit / 8;
  const top = Math.max(link * 2, ...rows.map((r) => r.gbPerSec)) * 1.1;
  const y = (v: number): number => BOTTOM - (v / top) * (BOTTOM - TOP);
  g.fillStyle = '#111111';
  g.font = `15px ${FONT}`;
  g.fillText(`bench cluster: hosts in network namespaces, ${linkGbit} Gbit links each way`, LEFT, 28);
  g.font = `12px ${FONT}`;
  for (let i = 0; i <= 4; i++) {
    const v = (top / 4) * i;
    g.strokeStyle = '#dddddd';
    g.beginPath();
    g.moveTo(LEFT, y(v));
    g.lineTo(W - 20, y(v));
    g.stroke();
    g.fillStyle = '#555555';
    g.fillText(v.toFixed(2), 22, y(v) + 4);
  }
  g.fillText('GB/s', 22, TOP - 14);
  g.setLineDash([6, 4]);
  g.strokeStyle = '#c0392b';
  g.beginPath();
  g.moveTo(LEFT, y(link));
  g.lineTo(W - 20, y(link));
  g.stroke();
  // The legend of that line, under the title (the bars may reach it anywhere along the plot).
  g.beginPath();
  g.moveTo(LEFT + 220, 46);
  g.lineTo(LEFT + 260, 46);
  g.stroke();
  g.setLineDash([]);
  g.fillStyle = '#c0392b';
  g.fillText(`one link's rate: ${link.toFixed(3)} GB/s each way`, LEFT + 268, 50);
  const slot = (W - LEFT - 30) / rows.length;
  rows.forEach((r, i) => {
    const x = LEFT + 10 + i * slot;
    g.fillStyle = r.plane === 'direct' ? (r.wire === 'float32' ? '#4c72b0' : '#55a868') : '#dd8452';
    g.fillRect(x, y(r.gbPerSec), slot - 24, BOTTOM - y(r.gbPerSec));
    g.fillStyle = '#111111';
    g.font = `12px ${FONT}`;
    g.fillText(r.gbPerSec.toFixed(3), x + 4, y(r.gbPerSec) - 6);
    g.font = `11px ${FONT}`;
    g.fillText(
      `${r.plane} ${r.wire === 'float32' ? 'f32' : r.wire === 'bfloat16' ? 'bf16' : 'f16'}`,
      x,
      BOTTOM + 18,
    );
    g.fillText(`${r.drivers} drv, ${r.workerHosts} wkr`, x, BOTTOM + 34);
  });
  return canvas.toBuffer('image/png');
}
