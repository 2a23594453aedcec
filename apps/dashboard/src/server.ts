import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Pipeline } from '@cnsn/pipeline';
import { RUN_ID_PATTERN } from '@cnsn/protocol';
import express, { type Express, type Request, type Response } from 'express';
import { isLoopback, requireToken, TOKEN_COOKIE } from './auth.js';
import { DashboardMetrics } from './metrics.js';

export interface DashboardOptions {
  pipeline: Pipeline;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @defaultValue 3030 */
  port?: number;
  /** Required on every request when set; required to start on a non-loopback host. @defaultValue env CNSN_DASHBOARD_TOKEN */
  token?: string | null;
  /** No retries, no bull-board actions. @defaultValue false */
  readOnly?: boolean;
}

const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));

const LOGIN_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>cnsn dashboard: sign in</title>
<style>body{font:15px system-ui,sans-serif;background:#0f172a;color:#e2e8f0;display:grid;place-items:center;height:100vh;margin:0}
form{background:#1e293b;padding:2rem;border-radius:12px;display:grid;gap:.8rem;min-width:320px}input,button{font:inherit;padding:.5rem;border-radius:6px;border:1px solid #334155}
button{background:#38bdf8;color:#0f172a;border:0;font-weight:600}</style></head>
<body><form method="post" action="/login"><h2>cnsn dashboard</h2><label>Token <input name="token" type="password" autofocus></label><button>Sign in</button></form></body></html>`;

/** How long the health check waits for Redis: a probe (Kubernetes, podman) must get an answer, not a hang. */
const HEALTH_PING_MS = 2000;

/** PING, or an error once `ms` have passed without an answer (a Redis that hangs, or one being reconnected to). */
async function pingWithin(pipeline: Pipeline, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer PING within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([pipeline.redis.ping(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The dashboard: bull-board at /queues, the pipeline page at /, its API under /api, /metrics. */
export class Dashboard {
  private constructor(
    readonly server: Server,
    readonly url: string,
    private readonly metrics: DashboardMetrics,
  ) {}

  static async start(options: DashboardOptions): Promise<Dashboard> {
    const host = options.host ?? '127.0.0.1';
    const token = options.token === undefined ? (process.env.CNSN_DASHBOARD_TOKEN ?? null) : options.token;
    if (!isLoopback(host) && !token) {
      throw new Error(
        `refusing to serve on ${host} without a token: set CNSN_DASHBOARD_TOKEN (every request must then carry it)`,
      );
    }
    const { pipeline } = options;
    const readOnly = options.readOnly ?? false;
    const app = express();
    app.disable('x-powered-by');
    app.use(express.urlencoded({ extended: false, limit: '4kb' }));
    app.post('/login', (req: Request, res: Response) => {
      const given = typeof req.body?.token === 'string' ? (req.body.token as string) : '';
      if (!token || given !== token) {
        res.status(401).type('html').send(LOGIN_PAGE);
        return;
      }
      res.cookie(TOKEN_COOKIE, given, { httpOnly: true, sameSite: 'strict', path: '/' }).redirect(303, '/');
    });
    // Liveness for containers and probes, without a token: 200 while Redis answers, else 503.
    app.get('/api/health', async (_req, res) => {
      try {
        await pingWithin(pipeline, HEALTH_PING_MS);
        res.json({ ok: true });
      } catch (err) {
        res.status(503).json({ ok: false, error: (err as Error).message });
      }
    });
    app.use(requireToken(token, LOGIN_PAGE));

    const metrics = new DashboardMetrics(pipeline);
    mountApi(app, pipeline, metrics, readOnly);
    app.use(express.static(PUBLIC, { index: 'index.html' }));

    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 3030, host, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    return new Dashboard(server, `http://${host.includes(':') ? `[${host}]` : host}:${port}`, metrics);
  }

  async close(): Promise<void> {
    await this.metrics.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** bull-board under /queues, /metrics, and the pipeline's own API (status, previews, retries). */
function mountApi(app: Express, pipeline: Pipeline, metrics: DashboardMetrics, readOnly: boolean): void {
  const board = new ExpressAdapter();
  board.setBasePath('/queues');
  createBullBoard({
    queues: [new BullMQAdapter(pipeline.queue, { readOnlyMode: readOnly })],
    serverAdapter: board,
  });
  app.use('/queues', board.getRouter());

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/api/status', async (_req, res) => {
    res.json({ ...(await pipeline.status()), readOnly, now: Date.now() });
  });
  app.get('/api/runs/:run/preview.png', async (req: Request, res: Response) => {
    const run = String(req.params.run);
    const png = RUN_ID_PATTERN.test(run) ? await pipeline.preview(run) : null;
    if (!png) {
      res
        .status(404)
        .json({ error: `run ${run} has no preview (the driver publishes one with --preview-every K)` });
      return;
    }
    res.type('image/png').set('Cache-Control', 'no-store').send(png);
  });
  app.post('/api/runs/:run/batches/:seq/retry', async (req: Request, res: Response) => {
    if (readOnly) {
      res.status(403).json({ error: 'the dashboard is read-only' });
      return;
    }
    const seq = Number(req.params.seq);
    try {
      await pipeline.retryBatch(String(req.params.run), seq);
      res.json({ retried: { run: req.params.run, seq } });
    } catch (err) {
      res.status(409).json({ error: (err as Error).message });
    }
  });
}
