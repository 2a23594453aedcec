import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, LocalRedis } from './local-redis.js';

/** Options of {@link LocalRedisCluster}. */
export interface LocalRedisClusterOptions {
  /** Primaries. @defaultValue 3 */
  primaries?: number;
  /** Replicas per primary. @defaultValue 1 */
  replicas?: number;
  /**
   * `cluster-node-timeout` in ms: how long a silent primary has before its replica takes over.
   * @defaultValue 1000
   */
  nodeTimeoutMs?: number;
}

/** One node as CLUSTER NODES describes it. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'primary' | 'replica';
  /** Up, or failed / unreachable as the cluster sees it. */
  up: boolean;
  /** The primary's id, for a replica. */
  primaryId: string | null;
  /** Slot ranges served, for a primary. */
  slots: Array<[number, number]>;
}

/**
 * A Redis Cluster on loopback ports (AOF on, a short node timeout), made of {@link LocalRedis}
 * nodes and `redis-cli --cluster create`: what the cluster tests and the soak's cluster mode run
 * on. Nodes can be killed (a replica takes over) and slots moved with `redis-cli --cluster reshard`.
 */
export class LocalRedisCluster {
  private constructor(
    readonly nodes: LocalRedis[],
    private readonly dir: string,
  ) {}

  static async start(options: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
    const primaries = options.primaries ?? 3;
    const replicas = options.replicas ?? 1;
    const dir = await mkdtemp(join(tmpdir(), 'cnsn-cluster-'));
    const nodes: LocalRedis[] = [];
    try {
      for (let i = 0; i < primaries * (1 + replicas); i++) {
        nodes.push(
          await LocalRedis.start({
            port: await clusterPort(),
            dir: await mkdtemp(join(dir, `node-${i}-`)),
            appendonly: true,
            args: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              String(options.nodeTimeoutMs ?? 1000),
              // A replica may take over however long it was cut off: the tests kill primaries.
              '--cluster-replica-validity-factor',
              '0',
              // Replicas sync at once (Redis waits 5 s by default for more replicas to share a dump).
              '--repl-diskless-sync-delay',
              '0',
            ],
          }),
        );
      }
      const cluster = new LocalRedisCluster(nodes, dir);
      await cli([
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ]);
      await cluster.waitHealthy();
      await cluster.waitReplicasSynced();
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The first node's URL: any node's URL reaches the whole cluster. */
  get url(): string {
    return `redis://127.0.0.1:${this.nodes[0]?.port}`;
  }

  /** The node listening on `port`. */
  node(port: number): LocalRedis {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no cluster node on port ${port}`);
    return node;
  }

  /** CLUSTER NODES, as seen by a running node. */
  async topology(): Promise<ClusterNodeInfo[]> {
    const live = this.nodes.find((n) => n.running);
    if (!live) throw new Error('no cluster node is running');
    return parseClusterNodes(await cli(['-p', String(live.port), 'cluster', 'nodes']));
  }

  /** The primaries that serve slots now. */
  async primaries(): Promise<ClusterNodeInfo[]> {
    return (await this.topology()).filter((n) => n.role === 'primary' && n.up && n.slots.length > 0);
  }

  /**
   * Waits until every running node says `cluster_state:ok` and all 16384 slots are served by
   * primaries that are up (after a failover or a reshard).
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const states = await Promise.all(
          this.nodes.filter((n) => n.running).map((n) => cli(['-p', String(n.port), 'cluster', 'info'])),
        );
        // Only primaries whose process runs: a killed one is listed as up until the timeout passes.
        const running = new Set(this.nodes.filter((n) => n.running).map((n) => n.port));
        const served = (await this.primaries())
          .filter((p) => running.has(p.port))
          .reduce((sum, p) => sum + p.slots.reduce((s, [a, b]) => s + b - a + 1, 0), 0);
        if (states.every((s) => s.includes('cluster_state:ok')) && served === 16384) return;
        last = `${served} slots served; ${states.filter((s) => !s.includes('cluster_state:ok')).length} nodes not ok`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`cluster not healthy within ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Waits until every running replica's link to its primary is up (a replica promoted before its
   * first sync would come up empty: the cluster would lose everything its primary held).
   */
  async waitReplicasSynced(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = new Set(this.nodes.filter((n) => n.running).map((n) => n.port));
      const replicas = (await this.topology()).filter((n) => n.role === 'replica' && running.has(n.port));
      const infos = await Promise.all(
        replicas.map((r) => cli(['-p', String(r.port), 'info', 'replication'])),
      );
      if (infos.every((info) => info.includes('master_link_status:up'))) return;
      if (Date.now() > deadline) throw new Error(`cluster replicas not in sync within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Moves `slots` slots from one primary to another with `redis-cli --cluster reshard`. */
  async reshard(fromId: string, toId: string, slots: number): Promise<void> {
    const live = this.nodes.find((n) => n.running);
    await cli([
      '--cluster',
      'reshard',
      `127.0.0.1:${live?.port}`,
      '--cluster-from',
      fromId,
      '--cluster-to',
      toId,
      '--cluster-slots',
      String(slots),
      '--cluster-yes',
      '--cluster-pipeline',
      '100',
    ]);
  }

  /** Stops every node and removes their directories. */
  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Parses CLUSTER NODES (one line per node: id addr flags primary ping pong epoch link slots...). */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', addr = '', flags = '', primary = '-', , , , , ...slots] = line.trim().split(' ');
      const f = flags.split(',');
      return {
        id,
        port: Number(addr.split('@')[0]?.split(':').at(-1)),
        role: f.includes('master') ? 'primary' : 'replica',
        up: !f.includes('fail') && !f.includes('fail?') && !f.includes('noaddr'),
        primaryId: primary === '-' ? null : primary,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [a, b] = s.split('-').map(Number);
            return [a as number, (b ?? a) as number] as [number, number];
          }),
      };
    });
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10000 > 65535) continue;
    const bus = await portFree(port + 10000);
    if (bus) return port;
  }
}

async function portFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', (e) => reject(new Error(`redis-cli: ${e.message} (apt-get install redis-tools)`)));
    child.once('exit', (code) =>
      code === 0 && !/\[ERR\]/.test(out)
        ? resolve(out)
        : reject(
            new Error(`redis-cli ${args.slice(0, 3).join(' ')} failed: ${(err || out).trim().slice(-500)}`),
          ),
    );
  });
}
