#!/usr/bin/env node
// Draws train_style_shift.py's JSON as a PNG: per arm, clean and shifted accuracy (the bar: the
// mean over seeds; a dot for each seed). Usage: node plot_results.mjs RESULTS.json|- OUT.png
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { createCanvas, GlobalFonts } = require('@napi-rs/canvas');
GlobalFonts.registerFromPath(
  require.resolve('@fontsource/ibm-plex-mono/files/ibm-plex-mono-latin-400-normal.woff2'),
  'plex',
);

const [input, out] = process.argv.slice(2);
if (!input || !out) {
  console.error('usage: node plot_results.mjs RESULTS.json|- OUT.png');
  process.exit(2);
}
const result = JSON.parse(readFileSync(input === '-' ? 0 : input, 'utf8'));
const arms = Object.keys(result.arms);
const W = 760;
const H = 420;
const left = 70;
const bottom = 340;
const top = 90;
const canvas = createCanvas(W, H);
const g = canvas.getContext('2d');
g.fillStyle = '#ffffff';
g.fillRect(0, 0, W, H);
g.font = '15px plex';
g.fillStyle = '#111111';
g.fillText(
  `Style shift: accuracy over ${result.seeds.length} seed(s), ${result.epochs} epochs, ${result.trainImages} images`,
  left,
  28,
);
const y = (acc) => bottom - acc * (bottom - top);
g.strokeStyle = '#cccccc';
g.font = '12px plex';
for (let a = 0; a <= 1.001; a += 0.25) {
  g.beginPath();
  g.moveTo(left, y(a));
  g.lineTo(W - 20, y(a));
  g.stroke();
  g.fillStyle = '#555555';
  g.fillText(a.toFixed(2), 24, y(a) + 4);
}
const colours = { clean: '#4c72b0', shifted: '#dd8452' };
const group = (W - left - 40) / arms.length;
arms.forEach((arm, i) => {
  const x0 = left + 20 + i * group;
  ['clean', 'shifted'].forEach((key, j) => {
    const stat = result.arms[arm][key];
    const x = x0 + j * 70;
    g.fillStyle = colours[key];
    g.fillRect(x, y(stat.mean), 60, bottom - y(stat.mean));
    // Each seed's accuracy as a dot on the bar's centre line.
    g.fillStyle = '#111111';
    for (const v of stat.seeds) {
      g.beginPath();
      g.arc(x + 30, y(v), 3, 0, 2 * Math.PI);
      g.fill();
    }
    g.font = '12px plex';
    g.fillText(stat.mean.toFixed(3), x + 10, y(Math.max(stat.mean, ...stat.seeds)) - 8);
  });
  g.font = '13px plex';
  g.fillStyle = '#111111';
  g.fillText(arm, x0, bottom + 22);
  const waited = result.arms[arm].waitFraction.mean;
  g.fillStyle = '#555555';
  g.font = '11px plex';
  g.fillText(`waited ${(100 * waited).toFixed(1)}% of step time`, x0, bottom + 40);
});
Object.entries(colours).forEach(([key, colour], i) => {
  g.fillStyle = colour;
  g.fillRect(left + i * 110, 44, 14, 14);
  g.fillStyle = '#111111';
  g.font = '13px plex';
  g.fillText(key, left + 20 + i * 110, 56);
});
writeFileSync(out, canvas.toBuffer('image/png'));
