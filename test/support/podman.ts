import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { which } from './tools.js';

const exec = promisify(execFile);

/** Why the image tests cannot run here, or null: root, podman, runc and debootstrap are needed. */
export function podmanUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'podman builds and debootstrap need root';
  const missing = ['podman', 'runc', 'debootstrap'].filter((t) => !which(t));
  if (missing.length) return `${missing.join(', ')} not installed (apt-get install podman runc debootstrap)`;
  return null;
}

/** `podman ARGS`: its stdout, or an error with its stderr (podman's own systemd notices dropped). */
export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    return (await exec('podman', args, { timeout: timeoutMs, maxBuffer: 64 << 20 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    const stderr = (e.stderr ?? '')
      .split('\n')
      .filter((l) => l && !l.includes('systemd'))
      .join('\n');
    throw new Error(`podman ${args.slice(0, 4).join(' ')} ...: ${stderr || e.message}`);
  }
}

/** Its exit status and output, for commands whose failure is the answer (health checks). */
export function podmanStatus(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile('podman', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/**
 * Limits given explicitly: here runc refuses podman's defaults ("error setting rlimit type 7") and
 * even this shell's own hard nproc (type 6); these are accepted and ample for a few Node processes.
 */
const ULIMITS = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];

/**
 * A test's containers on a podman network of their own, named `cnsn-test-PID-HEX-...` so that a
 * later run removes what a killed one left (`sweep`). `dispose` removes every container, the
 * network and the images tagged for the test.
 */
export class PodmanLab {
  readonly name: string;
  readonly tag: string;

  private constructor(readonly id: string) {
    this.name = `cnsn-test-${id}`;
    this.tag = `test-${id}`;
  }

  static async start(): Promise<PodmanLab> {
    await PodmanLab.sweep();
    const lab = new PodmanLab(`${process.pid}-${randomBytes(3).toString('hex')}`);
    await podman(['network', 'create', lab.name]);
    return lab;
  }

  /** Removes containers, networks and test-tagged images of test runs whose process is gone. */
  static async sweep(): Promise<void> {
    const dead = (pid: string): boolean => {
      try {
        process.kill(Number(pid), 0);
        return false;
      } catch {
        return true;
      }
    };
    const stale = (s: string): boolean => {
      const pid = /(?:cnsn-test|test)-(\d+)-[0-9a-f]{6}/.exec(s)?.[1];
      return pid !== undefined && dead(pid);
    };
    const names = (await podman(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(stale);
    if (names.length) await podman(['rm', '-f', '-t', '0', ...names]);
    const nets = (await podman(['network', 'ls', '--format', '{{.Name}}'])).split('\n').filter(stale);
    if (nets.length) await podman(['network', 'rm', '-f', ...nets]);
    const images = (await podman(['images', '--format', '{{.Repository}}:{{.Tag}}']))
      .split('\n')
      .filter((i) => /:test-\d+-[0-9a-f]{6}$/.test(i) && stale(i));
    if (images.length) await podman(['rmi', '-f', ...images]);
  }

  /** A container's full name in this lab. */
  container(short: string): string {
    return `${this.name}-${short}`;
  }

  /**
   * `podman run` on the lab's network, detached unless `wait`; `options` are podman's own flags.
   * Returns the container's name (detached) or its output (with `wait`).
   */
  async run(
    short: string,
    image: string,
    args: string[],
    o: { options?: string[]; alias?: string; wait?: boolean; timeoutMs?: number } = {},
  ): Promise<string> {
    const name = this.container(short);
    const out = await podman(
      [
        'run',
        ...(o.wait ? [] : ['-d']),
        '--name',
        name,
        '--hostname',
        name,
        '--network',
        this.name,
        // crun, where installed, refuses this kernel's hybrid cgroups; runc works.
        '--runtime',
        'runc',
        ...(o.alias ? ['--network-alias', o.alias] : []),
        ...ULIMITS,
        ...(o.options ?? []),
        image,
        ...args,
      ],
      o.timeoutMs,
    );
    return o.wait ? out : name;
  }

  /** A published port's address on this host (`-p 127.0.0.1::PORT`). */
  async hostPort(short: string, port: number): Promise<number> {
    const out = await podman(['port', this.container(short), String(port)]).catch((e: Error) => e.message);
    const published = Number(/:(\d+)\s*$/.exec(out.trim())?.[1]);
    if (!published)
      throw new Error(`${this.container(short)} publishes no port ${port}: ${await this.logs(short)}`);
    return published;
  }

  async inspect<T>(short: string, format: string): Promise<T> {
    return JSON.parse(
      await podman(['inspect', '--format', `{{json ${format}}}`, this.container(short)]),
    ) as T;
  }

  async logs(short: string): Promise<string> {
    return (await podmanStatus(['logs', this.container(short)])).output;
  }

  /** Removes what the lab made and says what, if anything, is left (an empty list when clean). */
  async dispose(): Promise<string[]> {
    const mine = (s: string): boolean => s.includes(this.name) || s.endsWith(`:${this.tag}`);
    const containers = (await podman(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(mine);
    if (containers.length) await podman(['rm', '-f', '-t', '0', ...containers]);
    await podman(['network', 'rm', '-f', this.name]).catch(() => undefined);
    const images = (await podman(['images', '--format', '{{.Repository}}:{{.Tag}}']))
      .split('\n')
      .filter(mine);
    if (images.length) await podman(['rmi', '-f', ...images]);
    const left = [
      ...(await podman(['ps', '-a', '--format', '{{.Names}}'])).split('\n'),
      ...(await podman(['network', 'ls', '--format', '{{.Name}}'])).split('\n'),
      ...(await podman(['images', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n'),
    ];
    return left.filter(mine);
  }
}
