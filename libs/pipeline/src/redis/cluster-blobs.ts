import calculateSlot from 'cluster-key-slot';
import { RedisConnectionError } from '../errors.js';
import { withBackoff } from '../backoff.js';
import { type BlobArg, BlobConnection, type BlobStore } from './blob-connection.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type RedisTarget } from './redis-connection.js';
import { isRefusedForGood, isRetryLater, redirection } from './redis-errors.js';
import { type BulkSink, RespError, type RespReply } from './resp-parser.js';

/** Options of {@link ClusterBlobs}. */
export interface ClusterBlobsOptions {
  /**
   * How long a command keeps trying through a failover or a cluster that is down (its slot's primary
   * dead and no replica promoted yet) before it fails. @defaultValue 30000
   */
  failoverTimeoutMs?: number;
  /** How long the first slot map is waited for. @defaultValue 30000 */
  connectTimeoutMs?: number;
}

const SLOTS = 16384;
/** Redirections one command follows before it gives up (a slot bouncing between nodes). */
const MAX_REDIRECTIONS = 16;
/** A lost node connection is retried this long before the slot map is asked again. */
const NODE_RETRY_MS = 500;

/**
 * Tensor blobs on a Redis Cluster: each blob key carries its batch's hash tag, so batches spread
 * over the shards and the blob bytes grow with the primaries. One {@link BlobConnection} per
 * primary; commands go to the primary of their key's slot, MOVED updates the slot map (and asks for
 * a fresh one), ASK sends the one command to the importing node after ASKING, and a node that stops
 * answering (a failover) makes it ask the cluster for the new map until `failoverTimeoutMs`.
 */
export class ClusterBlobs implements BlobStore {
  /** slot -> "host:port" of its primary. */
  private readonly slots: Array<string | undefined> = new Array<string | undefined>(SLOTS);
  private readonly nodes = new Map<string, Promise<BlobConnection>>();
  private refreshing: Promise<void> | null = null;
  private closed = false;
  private readonly failoverTimeoutMs: number;

  private constructor(
    private readonly seed: RedisTarget,
    options: ClusterBlobsOptions,
  ) {
    this.failoverTimeoutMs = options.failoverTimeoutMs ?? 30_000;
  }

  static async open(seed: RedisTarget, options: ClusterBlobsOptions = {}): Promise<ClusterBlobs> {
    const blobs = new ClusterBlobs(seed, options);
    try {
      await withBackoff(() => blobs.refresh(), {
        initialMs: 200,
        maxMs: 200,
        deadline: Date.now() + (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        retryable: (err) => !isRefusedForGood(err),
      });
      return blobs;
    } catch (err) {
      blobs.close();
      throw err instanceof RedisConnectionError
        ? err
        : new RedisConnectionError(`cannot read the cluster's slot map: ${(err as Error).message}`);
    }
  }

  /** The primaries blobs go to now ("host:port"), from the slot map. */
  get primaries(): string[] {
    return [...new Set(this.slots.filter((a): a is string => a !== undefined))];
  }

  /**
   * Sends a command to the node that owns its key, following MOVED and ASK; a node that is gone or a
   * cluster failing over (TRYAGAIN, CLUSTERDOWN) is retried with backoff, reading the slot map again
   * before each new try, for up to `failoverTimeoutMs`.
   */
  async command(args: BlobArg[], sink?: BulkSink): Promise<RespReply> {
    const key = typeof args[1] === 'string' ? args[1] : null;
    const slot = key === null ? null : calculateSlot(key);
    let tries = 0;
    return withBackoff(
      async () => {
        if (tries++ > 0) await this.refresh().catch(() => undefined);
        return this.routed(args, sink, slot);
      },
      {
        initialMs: 100,
        maxMs: 1000,
        deadline: Date.now() + this.failoverTimeoutMs,
        stopped: () => this.closed,
        retryable: (err) => (err instanceof RespError ? isRetryLater(err) : !isRefusedForGood(err)),
      },
    );
  }

  /** One try: to the slot's node, then wherever MOVED or ASK send it (at most MAX_REDIRECTIONS). */
  private async routed(args: BlobArg[], sink: BulkSink | undefined, slot: number | null): Promise<RespReply> {
    let asking: string | null = null;
    for (let redirections = 0; ; redirections++) {
      if (this.closed) throw new Error('cluster blob connections closed');
      const address = asking ?? (slot === null ? this.primaries[0] : this.slots[slot]) ?? hostPort(this.seed);
      const ask = asking !== null;
      asking = null;
      try {
        const node = await this.node(address);
        return await node.command(args, sink, { asking: ask, retryForMs: NODE_RETRY_MS });
      } catch (err) {
        const redirect = err instanceof RespError ? redirection(err) : null;
        if (!redirect || redirections >= MAX_REDIRECTIONS) throw err;
        if (redirect.kind === 'ASK') asking = redirect.to;
        else {
          this.slots[redirect.slot] = redirect.to;
          void this.refresh().catch(() => undefined);
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const node of this.nodes.values())
      void node.then(
        (n) => n.close(),
        () => undefined,
      );
    this.nodes.clear();
  }

  /** Reads CLUSTER SLOTS from the first node that answers (known primaries, then the seed). */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      let last: unknown = null;
      for (const address of [...this.primaries, hostPort(this.seed)]) {
        try {
          const node = await this.node(address);
          const reply = await node.command(['CLUSTER', 'SLOTS'], undefined, { retryForMs: 0 });
          this.apply(reply);
          return;
        } catch (err) {
          if (isRefusedForGood(err)) throw err;
          last = err;
          this.drop(address);
        }
      }
      throw last instanceof Error ? last : new Error('no cluster node answered');
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** CLUSTER SLOTS: [[start, end, [host, port, id], replicas...], ...]. */
  private apply(reply: RespReply): void {
    if (!Array.isArray(reply)) throw new Error('CLUSTER SLOTS: not an array');
    for (const range of reply) {
      if (!Array.isArray(range)) continue;
      const [start, end, primary] = range as [number, number, RespReply[]];
      const [host, port] = primary.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v));
      const address = `${String(host) || hostPort(this.seed).split(':')[0]}:${Number(port)}`;
      for (let s = start; s <= end; s++) this.slots[s] = address;
    }
  }

  private node(address: string): Promise<BlobConnection> {
    let node = this.nodes.get(address);
    if (!node) {
      node = BlobConnection.open(withAddress(this.seed, address), { connectTimeoutMs: NODE_RETRY_MS }).catch(
        (err: unknown) => {
          // A node that does not answer is what a cluster failing over has: `command` retries it
          // (with a fresh slot map). Only a refusal for good (password, ACL, TLS) stays one.
          const cause = (err as { cause?: unknown }).cause;
          if (err instanceof RedisConnectionError && cause !== undefined && !isRefusedForGood(cause))
            throw new Error(`cluster node ${address} does not answer: ${(cause as Error).message}`);
          throw err;
        },
      );
      node.catch(() => this.nodes.get(address) === node && this.nodes.delete(address));
      this.nodes.set(address, node);
    }
    return node;
  }

  private drop(address: string): void {
    const node = this.nodes.get(address);
    this.nodes.delete(address);
    void node?.then(
      (n) => n.close(),
      () => undefined,
    );
  }
}

function hostPort(target: RedisTarget): string {
  const url = new URL(target.url);
  return `${url.hostname.replace(/^\[|\]$/g, '')}:${url.port || 6379}`;
}

/** The seed's URL (scheme, user, password) pointed at another node; a cluster has database 0 only. */
function withAddress(seed: RedisTarget, address: string): RedisTarget {
  const url = new URL(seed.url);
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  url.hostname = host.includes(':') ? `[${host}]` : host;
  url.port = address.slice(at + 1);
  url.pathname = '';
  return { ...seed, url: url.toString() };
}
