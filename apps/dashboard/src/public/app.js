// The pipeline page: polls /api/status once a second and redraws. No framework, no build step.
'use strict';

const COLORS = ['#38bdf8', '#34d399', '#f472b6', '#fbbf24', '#a78bfa', '#fb923c'];
const WINDOW_MS = 60 * 1000;
const history = new Map(); // run -> [{ t, delivered, bytesPerBatch }]
let readOnly = false;

const $ = (id) => document.getElementById(id);
const esc = (s) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const fmt = (n, d = 0) =>
  Number(n).toLocaleString(undefined, { maximumFractionDigits: d, minimumFractionDigits: d });
const mib = (b) => `${fmt(b / 1048576, 1)} MiB`;
/** A size in the unit that reads best. */
const size = (b) =>
  b >= 1073741824 ? `${fmt(b / 1073741824, 2)} GiB` : b >= 1048576 ? mib(b) : `${fmt(b / 1024, 1)} KiB`;

function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  setTimeout(() => t.classList.remove('show'), 3000);
}

/** Delivered batches per second and MB/s of one run over its last few seconds of history. */
function rate(points, spanMs = 5000) {
  const last = points[points.length - 1];
  if (!last) return { bps: 0, mbs: 0 };
  let first = last;
  for (let i = points.length - 1; i >= 0 && last.t - points[i].t <= spanMs; i--) first = points[i];
  const dt = (last.t - first.t) / 1000;
  const bps = dt > 0 ? (last.delivered - first.delivered) / dt : 0;
  return { bps, mbs: (bps * last.bytesPerBatch) / 1e6 };
}

function record(status) {
  const now = status.now;
  for (const r of status.runs) {
    const points = history.get(r.run) ?? [];
    points.push({
      t: now,
      delivered: r.counters.delivered,
      bytesPerBatch: r.counters.enqueued ? r.counters.bytesIn / r.counters.enqueued : 0,
    });
    while (points.length && now - points[0].t > WINDOW_MS) points.shift();
    history.set(r.run, points);
  }
  for (const run of history.keys()) if (!status.runs.some((r) => r.run === run)) history.delete(run);
}

/** Throughput of each run over the last 2 minutes, from the server's 5 s buckets of finished batches. */
function drawChart(status) {
  const W = 1000;
  const H = 220;
  const pad = { l: 48, r: 10, t: 10, b: 22 };
  const span = 120000;
  const now = status.now;
  const series = status.runs.map((r, i) => {
    const bytes = r.counters.enqueued ? r.counters.bytesIn / r.counters.enqueued : 0;
    const values = r.throughput.map((bps, j) => ({
      t: now - (23 - j) * 5000 - 2500,
      v: (bps * bytes) / 1e6,
    }));
    return { run: r.run, color: COLORS[i % COLORS.length], values };
  });
  const max = Math.max(0.01, ...series.flatMap((s) => s.values.map((p) => p.v))) * 1.15;
  const digits = max < 0.1 ? 3 : max < 10 ? 1 : 0;
  const x = (t) => pad.l + ((t - (now - span)) / span) * (W - pad.l - pad.r);
  const y = (v) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  let svg = '';
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg += `<line class="grid" x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}"/><text class="axis" x="4" y="${y(v) + 4}">${fmt(v, digits)}</text>`;
  }
  for (let s = 0; s <= 120; s += 30)
    svg += `<text class="axis" x="${x(now - s * 1000) - 14}" y="${H - 4}">${s ? `-${s}s` : 'now'}</text>`;
  for (const s of series) {
    const d = s.values.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    const area = `${d}L${x(s.values[s.values.length - 1].t).toFixed(1)},${y(0)}L${x(s.values[0].t).toFixed(1)},${y(0)}Z`;
    svg += `<path d="${area}" fill="${s.color}" opacity="0.12"/><path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5" stroke-linejoin="round"/>`;
  }
  $('chart').innerHTML = svg;
  $('legend').innerHTML = series.length
    ? series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.run)} MB/s</span>`).join('')
    : '<span>no run open</span>';
}

// Is the trainer input-bound? The share of its time it waited for the next batch.
function consumerCell(f) {
  if (!f || !f.batches) return '<td class="num muted">-</td>';
  const waited = (100 * f.waitMs) / Math.max(f.waitMs + f.holdMs, 1e-9);
  const title = `waits ${fmt(f.waitMs / f.batches, 1)} ms for a batch, holds each ${fmt(f.holdMs / f.batches, 1)} ms`;
  return `<td class="num${waited > 20 ? ' warn' : ''}" title="${title}">${fmt(waited, 1)}%</td>`;
}

function render(s) {
  readOnly = s.readOnly;
  const live = s.runs.reduce((n, r) => n + rate(history.get(r.run) ?? []).mbs, 0);
  $('summary').innerHTML =
    `<span><b>${s.runs.length}</b>runs</span><span><b>${s.workers.length}</b>workers</span><span><b>${fmt(live, live < 1 ? 3 : 1)}</b>MB/s</span><span><b>${s.jobs.failed ?? 0}</b>failed jobs</span>`;
  $('runs').querySelector('tbody').innerHTML =
    s.runs
      .map((r) => {
        const c = r.counters;
        const of = c.total ?? c.enqueued;
        const pct = of ? (100 * c.delivered) / of : 0;
        const now = rate(history.get(r.run) ?? []);
        return `<tr><td>${esc(r.run)}</td><td><span class="pill plane" title="${esc(c.endpoint ?? 'tensors through Redis')}">${esc(r.dataPlane)}</span></td><td><span class="pill ${esc(c.state)}">${esc(c.state)}</span></td>
          <td><div class="progress" title="${fmt(pct, 0)}%"><div style="width:${pct}%"></div></div></td>
          <td class="num">${fmt(c.enqueued)}</td><td class="num">${fmt(c.delivered)}${c.total !== null ? ` / ${fmt(c.total)}` : ''}</td>
          <td class="num">${fmt(r.inFlight)}</td><td class="num">${fmt(r.reorderBuffer)}</td><td class="num">${fmt(c.failed)}</td>
          <td class="num">${fmt(c.skipped)}</td><td class="num">${fmt(now.bps, 1)}</td><td class="num">${fmt(now.mbs, now.mbs < 1 ? 3 : 1)}</td>
          <td class="num">${size(c.bytesIn)} / ${size(c.bytesOut)}</td>${consumerCell(c.consumer)}</tr>`;
      })
      .join('') || '<tr><td colspan="14" class="muted">no run open</td></tr>';
  $('workers').querySelector('tbody').innerHTML =
    s.workers
      .map(
        (
          w,
        ) => `<tr><td>${esc(w.id)}<div class="muted">${esc(w.host)}${w.address ? ` (${esc(w.address)})` : ''} pid ${w.pid}</div></td>
          <td><b>${esc(w.backend)}</b><div class="muted">${esc(w.adapter || w.backendDetail.split(';')[0])}</div></td>
          <td><span class="pill ${esc(w.state)}">${esc(w.state)}</span></td><td class="num">${fmt(w.batches)}</td>
          <td class="num">${fmt(w.failed)}</td><td class="num">${fmt(w.recentKernelMs, 1)}</td>
          <td class="num">${size(w.rssBytes)}<div class="muted">heap ${size(w.heapUsedBytes)}</div></td>
          <td class="num">${fmt(w.runsHeld)}</td></tr>`,
      )
      .join('') || '<tr><td colspan="8" class="muted">no live worker</td></tr>';
  $('queue').innerHTML = ['waiting', 'active', 'delayed', 'completed', 'failed']
    .map((k) => `<span class="chip"><b>${fmt(s.jobs[k] ?? 0)}</b>${k}</span>`)
    .join('');
  const used = s.redis.usedMemory;
  const max = s.redis.maxMemory;
  const share = max ? used / max : 0;
  $('membar').style.width = `${max ? Math.min(100, share * 100) : 2}%`;
  $('membar').className = share > 0.8 ? 'high' : '';
  $('memtext').textContent =
    `Redis memory ${mib(used)}${max ? ` of ${mib(max)}` : ' (no maxmemory set)'}, policy ${s.redis.policy ?? 'unknown'}${s.redis.policy && s.redis.policy !== 'noeviction' ? ' (should be noeviction!)' : ''}`;
  $('failures').innerHTML =
    s.recentFailures
      .map(
        (
          f,
        ) => `<li><span class="pill failed">run ${esc(f.run)} · batch ${f.seq}</span><span class="why" title="${esc(f.reason)}">${esc(f.reason)}</span>
          ${readOnly ? '' : `<button data-run="${esc(f.run)}" data-seq="${f.seq}">Retry</button>`}</li>`,
      )
      .join('') || '<li class="muted">no failed batch</li>';
}

/** The latest preview of each run that has one; an image is fetched again only when its batch changes. */
function renderPreviews(s) {
  const withPreview = s.runs.filter((r) => r.counters.previewSeq !== null);
  $('previews-card').hidden = withPreview.length === 0;
  const box = $('previews');
  for (const fig of [...box.children]) if (!withPreview.some((r) => r.run === fig.dataset.run)) fig.remove();
  for (const r of withPreview) {
    let fig = [...box.children].find((f) => f.dataset.run === r.run);
    if (!fig) {
      fig = document.createElement('figure');
      fig.dataset.run = r.run;
      fig.innerHTML = '<img alt=""><figcaption></figcaption>';
      box.append(fig);
    }
    const seq = String(r.counters.previewSeq);
    if (fig.dataset.seq !== seq) {
      fig.dataset.seq = seq;
      const img = fig.querySelector('img');
      img.src = `/api/runs/${encodeURIComponent(r.run)}/preview.png?seq=${seq}`;
      img.alt = `run ${r.run}, batch ${seq}: input and output`;
      fig.querySelector('figcaption').textContent = `run ${r.run} · batch ${seq}`;
    }
  }
}

async function retry(button) {
  button.disabled = true;
  const { run, seq } = button.dataset;
  const res = await fetch(`/api/runs/${encodeURIComponent(run)}/batches/${seq}/retry`, { method: 'POST' });
  const body = await res.json().catch(() => ({}));
  toast(res.ok ? `batch ${seq} of ${run} queued again` : `retry refused: ${body.error ?? res.status}`);
  await tick();
}

async function tick() {
  try {
    const res = await fetch('/api/status', { cache: 'no-store' });
    if (res.status === 401) return location.reload();
    const status = await res.json();
    record(status);
    render(status);
    renderPreviews(status);
    drawChart(status);
  } catch (err) {
    toast(`cannot reach the dashboard server: ${err.message}`);
  }
}

document.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-run]');
  if (b) void retry(b);
});
void tick();
setInterval(tick, 1000);
