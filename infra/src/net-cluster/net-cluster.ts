import { type ChildProcess, execFile, spawn, type SpawnOptions, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { net, NetCommandError, netQuiet } from './ip-command.js';

/** A link's shape, both ways: rate, one-way delay, loss. */
export interface LinkShape {
  /** Mbit/s each way; absent: unshaped. */
  rateMbit?: number;
  /** Milliseconds added each way. @defaultValue 0 */
  delayMs?: number;
  /** Percent of packets dropped each way. @defaultValue 0 */
  lossPct?: number;
}

export interface NetHostSpec extends LinkShape {
  /** Short name (letters and digits): the host's name in the cluster and in its namespace's name. */
  name: string;
}

/** One host: a network namespace with one interface (`eth0`) on the cluster's switch. */
export interface NetHost {
  name: string;
  /** The namespace (`ip netns exec NS ...`). */
  ns: string;
  /** Its address on the switch, e.g. 10.77.0.2. */
  address: string;
}

const execFileAsync = promisify(execFile);

/** What the switch drops of one host's traffic. */
interface Filter {
  /** Percent of packets dropped each way. */
  loss: number;
  /** Everything the host sends, or everything it receives. */
  from: boolean;
  to: boolean;
}

/** The subnet of every cluster (each cluster has a switch of its own, so they never meet). */
const SUBNET = '10.77.0';
const PREFIX = 'cn';
let created = 0;
const live = new Set<NetCluster>();

/**
 * Hosts as network namespaces on a switch (a bridge in a namespace of its own), each link shaped
 * (rate, loss, delay where the kernel can) and cut at will; nothing is created in the machine's own namespace, and only the cluster's addresses
 * are used. Names carry this process's pid and a counter, so runs can share the machine; `create`
 * first removes what a dead process left, and `dispose` (also run at exit) removes everything.
 */
export class NetCluster {
  readonly hosts: ReadonlyMap<string, NetHost>;
  private readonly switchNs: string;
  private readonly children = new Set<ChildProcess>();
  private readonly filters = new Map<string, Filter>();
  private readonly blocked = new Set<string>();
  private disposed = false;

  private constructor(
    private readonly tag: string,
    hosts: NetHost[],
  ) {
    this.switchNs = `${tag}-sw`;
    this.hosts = new Map(hosts.map((h) => [h.name, h]));
  }

  static create(specs: readonly NetHostSpec[]): NetCluster {
    sweepStale();
    if (specs.length > 200) throw new Error(`NetCluster: at most 200 hosts, got ${specs.length}`);
    const tag = `${PREFIX}-${process.pid}-${created++}`;
    const hosts = specs.map((s, i) => {
      if (!/^[a-z][a-z0-9]{0,11}$/.test(s.name))
        throw new Error(
          `NetCluster: host name ${JSON.stringify(s.name)}: use up to 12 lowercase letters and digits`,
        );
      return { name: s.name, ns: `${tag}-${s.name}`, address: `${SUBNET}.${i + 2}` };
    });
    const cluster = new NetCluster(tag, hosts);
    live.add(cluster);
    try {
      cluster.build(specs);
    } catch (err) {
      cluster.dispose();
      throw err;
    }
    return cluster;
  }

  host(name: string): NetHost {
    const h = this.hosts.get(name);
    if (!h)
      throw new Error(`NetCluster: no host ${name}; the hosts are ${[...this.hosts.keys()].join(', ')}`);
    return h;
  }

  /** Starts `cmd` inside host `name`'s namespace; it is killed when the cluster is disposed. */
  spawn(name: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(name).ns, cmd, ...args], options);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs `cmd` inside host `name` to its end; resolves with its stdout, rejects as execFile does. */
  async exec(name: string, cmd: string, args: readonly string[]): Promise<string> {
    const { stdout } = await execFileAsync('ip', ['netns', 'exec', this.host(name).ns, cmd, ...args], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    return stdout;
  }

  /**
   * Shapes host `name`'s link both ways, replacing its shape: the rate with `tc tbf` on both ends,
   * loss with nftables in the host, delay with `tc netem` where the kernel has it (else an error
   * that says so).
   */
  shape(name: string, shape: LinkShape): void {
    const h = this.host(name);
    setRate(['-n', h.ns], 'eth0', shape);
    setRate(['-n', this.switchNs], portOf(h), shape);
    this.setFilter(h, { loss: shape.lossPct ?? 0, from: false, to: false });
  }

  /** Cuts host `name` off: both ways, or only what it sends (`from`) or receives (`to`). */
  cut(name: string, direction: 'both' | 'from' | 'to' = 'both'): void {
    const h = this.host(name);
    if (direction === 'both') net('ip', ['-n', this.switchNs, 'link', 'set', portOf(h), 'down']);
    else this.setFilter(h, { loss: 0, from: direction === 'from', to: direction === 'to' });
  }

  /** Drops every packet between hosts `a` and `b`, both ways (each still reaches the others). */
  block(a: string, b: string): void {
    this.blocked.add(pairKey(this.host(a), this.host(b)));
    this.loadFilters();
  }

  /** Undoes `block`. */
  unblock(a: string, b: string): void {
    this.blocked.delete(pairKey(this.host(a), this.host(b)));
    this.loadFilters();
  }

  /** Undoes `cut`, with the link's shape given (default: unshaped). */
  restore(name: string, shape: LinkShape = {}): void {
    const h = this.host(name);
    net('ip', ['-n', this.switchNs, 'link', 'set', portOf(h), 'up']);
    this.shape(name, shape);
  }

  /**
   * Host `h`'s packet filter at the switch (nftables, bridge family: a drop there is silent, as on a
   * wire, where a drop in the host would fail its send): random loss, or every packet one way.
   */
  private setFilter(h: NetHost, f: Filter): void {
    if (f.loss || f.from || f.to) this.filters.set(h.name, f);
    else this.filters.delete(h.name);
    this.loadFilters();
  }

  /** The switch's whole ruleset, from the hosts' filters and the blocked pairs. */
  private loadFilters(): void {
    netQuiet('ip', ['netns', 'exec', this.switchNs, 'nft', 'delete', 'table', 'bridge', 'cnsn']);
    if (!this.filters.size && !this.blocked.size) return;
    const rules: string[] = [];
    for (const pair of this.blocked) {
      const [p, q] = pair.split(' ');
      rules.push(`iifname "${p}" oifname "${q}" drop`, `iifname "${q}" oifname "${p}" drop`);
    }
    for (const [name, filter] of this.filters) {
      const port = portOf(this.host(name));
      const lossy = `numgen random mod 10000 < ${Math.round(filter.loss * 100)} drop`;
      rules.push(
        `iifname "${port}" ${filter.from ? 'drop' : lossy}`,
        `oifname "${port}" ${filter.to ? 'drop' : lossy}`,
      );
    }
    nft(
      this.switchNs,
      `table bridge cnsn {\n  chain links {\n    type filter hook forward priority 0;\n${rules.map((r) => `    ${r}\n`).join('')}  }\n}\n`,
    );
  }

  /** Bytes host `name` has sent and received on its link (its interface's counters). */
  linkBytes(name: string): { tx: number; rx: number } {
    const h = this.host(name);
    const stats = JSON.parse(net('ip', ['-n', h.ns, '-s', '-j', 'link', 'show', 'eth0'])) as Array<{
      stats64: { tx: { bytes: number }; rx: { bytes: number } };
    }>;
    const s = stats[0]?.stats64;
    if (!s) throw new Error(`NetCluster: no counters for ${name}'s eth0`);
    return { tx: s.tx.bytes, rx: s.rx.bytes };
  }

  /** Kills what runs inside, removes every namespace (their interfaces go with them). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    live.delete(this);
    for (const child of this.children) child.kill('SIGKILL');
    for (const ns of [...[...this.hosts.values()].map((h) => h.ns), this.switchNs]) removeNamespace(ns);
  }

  private build(specs: readonly NetHostSpec[]): void {
    net('ip', ['netns', 'add', this.switchNs]);
    net('ip', ['-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    net('ip', ['-n', this.switchNs, 'link', 'set', 'br0', 'up']);
    for (const [i, h] of [...this.hosts.values()].entries()) {
      net('ip', ['netns', 'add', h.ns]);
      // Both ends created straight in their namespaces: no name is ever taken in the machine's own.
      net('ip', [
        'link',
        'add',
        'eth0',
        'netns',
        h.ns,
        'type',
        'veth',
        'peer',
        'name',
        portOf(h),
        'netns',
        this.switchNs,
      ]);
      net('ip', ['-n', this.switchNs, 'link', 'set', portOf(h), 'master', 'br0', 'up']);
      net('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      net('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      net('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      this.shape(h.name, specs[i] as NetHostSpec);
    }
  }
}

/** A pair of hosts, as their switch ports, in a fixed order. */
function pairKey(a: NetHost, b: NetHost): string {
  return [portOf(a), portOf(b)].sort().join(' ');
}

/** The switch's port of host `h`. */
function portOf(h: NetHost): string {
  return `p${h.address.split('.').pop()}`;
}

/**
 * Replaces the egress qdisc of `dev`: a token bucket at the rate (its burst a hundredth of a
 * second of traffic), netem where a delay is asked; none when unshaped.
 */
function setRate(where: string[], dev: string, shape: LinkShape): void {
  netQuiet('tc', [...where, 'qdisc', 'del', 'dev', dev, 'root']);
  const addRoot = (qdisc: string[]): string =>
    net('tc', [...where, 'qdisc', 'add', 'dev', dev, 'root', ...qdisc]);
  if (shape.delayMs) {
    const rate = shape.rateMbit ? ['rate', `${shape.rateMbit}mbit`] : [];
    try {
      addRoot(['netem', 'delay', `${shape.delayMs}ms`, ...rate, 'limit', '100000']);
    } catch (err) {
      throw new Error(
        `a link delay needs tc's netem, which this kernel lacks (CONFIG_NET_SCH_NETEM; modprobe sch_netem): ${(err as Error).message}`,
      );
    }
    return;
  }
  if (!shape.rateMbit) return;
  const burstBytes = Math.max(64 * 1024, Math.ceil((shape.rateMbit * 1e6) / 8 / 100));
  addRoot(['tbf', 'rate', `${shape.rateMbit}mbit`, 'burst', String(burstBytes), 'latency', '100ms']);
}

/** Loads an nftables ruleset inside namespace `ns`. */
function nft(ns: string, rules: string): void {
  const done = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
  if (done.status !== 0)
    throw new NetCommandError(
      `nft -f - in ${ns}`,
      `${done.stderr || done.error?.message || 'failed'} (apt-get install nftables)`,
    );
}

function removeNamespace(ns: string): void {
  const pids = (netQuietOutput(['netns', 'pids', ns]) ?? '').split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  netQuiet('ip', ['netns', 'del', ns]);
}

function netQuietOutput(args: string[]): string | null {
  try {
    return net('ip', args);
  } catch {
    return null;
  }
}

/** Namespaces of this harness whose process is gone (killed before it could clean up). */
export function sweepStale(): string[] {
  const names = (netQuietOutput(['netns', 'list']) ?? '').split('\n').map((l) => l.split(' ')[0] ?? '');
  const stale = names.filter((n) => {
    const m = new RegExp(`^${PREFIX}-(\\d+)-\\d+-`).exec(n);
    if (!m) return false;
    try {
      process.kill(Number(m[1]), 0);
      return false;
    } catch {
      return true;
    }
  });
  for (const ns of stale) removeNamespace(ns);
  return stale;
}

// Whatever ends the process normally (or by an uncaught error), its clusters go with it.
process.once('exit', () => {
  for (const cluster of live) cluster.dispose();
});
