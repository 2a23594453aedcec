// The images' base where no registry can be reached: Debian bookworm minbase made by debootstrap
// from the mirror apt uses here, this machine's Node.js 20 at /usr/local/bin/node and the user
// `node` (uid 1000), as node:20-bookworm-slim has them. Made once, then cached twice: the root file
// system as a tarball in the cache directory (CNSN_IMAGE_CACHE, default /var/cache/cnsn-images: it
// survives a wiped container store) and the imported image localhost/cnsn-base:KEY in podman's.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SUITE = 'bookworm';
/** Raise when the recipe below changes: the key, and so the cache, change with it. */
const RECIPE = 1;
export const DEFAULT_CACHE_DIR = '/var/cache/cnsn-images';
/** What a container needs of Debian's docs, manuals, translations and apt's indexes: nothing. */
const TRIM = [
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'var/cache/apt',
  'var/lib/apt/lists',
  'var/log',
];

/** Runs a command; a failure throws with its output's tail. */
export function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} ... exited ${r.status}:\n${tail}`);
  }
  return r.stdout ?? '';
}

/** The Debian mirror apt uses for SUITE here (deb822 .sources or one-line .list), or the override. */
export function aptMirror(env = process.env) {
  if (env.CNSN_DEBIAN_MIRROR) return env.CNSN_DEBIAN_MIRROR;
  const dir = '/etc/apt/sources.list.d';
  const files = [
    '/etc/apt/sources.list',
    ...(existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : []),
  ];
  for (const file of files.filter((f) => existsSync(f) && /\.(list|sources)$/.test(f))) {
    const text = readFileSync(file, 'utf8');
    for (const block of text.split(/\n\s*\n/)) {
      const field = (name) =>
        block
          .match(new RegExp(`^${name}:\\s*(.+)$`, 'mi'))?.[1]
          .trim()
          .split(/\s+/) ?? [];
      if (field('Suites').includes(SUITE) && field('Types').includes('deb')) return field('URIs')[0];
    }
    for (const line of text.split('\n')) {
      const m = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/);
      if (m?.[2] === SUITE) return m[1];
    }
  }
  throw new Error(
    `no apt source for ${SUITE} in /etc/apt/sources.list*: set CNSN_DEBIAN_MIRROR to your Debian mirror`,
  );
}

/** This machine's Node.js, which goes into the base: it must be 20.x, as the images' engines say. */
function hostNode() {
  const version = process.version;
  if (!version.startsWith('v20.'))
    throw new Error(
      `the base takes this machine's Node.js and it is ${version}: run npm run images with Node.js 20`,
    );
  const hash = createHash('sha256').update(readFileSync(process.execPath)).digest('hex');
  return { path: process.execPath, version: version.slice(1), hash };
}

function baseKey(node) {
  const what = JSON.stringify({ RECIPE, SUITE, variant: 'minbase', node: node.version, binary: node.hash });
  return `${SUITE}-node${node.version}-${createHash('sha256').update(what).digest('hex').slice(0, 10)}`;
}

/** debootstrap, Node and the user into a fresh root, trimmed, as a tarball (renamed into place). */
function makeTarball(tarball, node, cacheDir, log) {
  const mirror = aptMirror();
  const rootfs = join(cacheDir, `rootfs-${process.pid}`);
  const logFile = join(cacheDir, 'debootstrap.log');
  rmSync(rootfs, { recursive: true, force: true });
  log(`base: debootstrap --variant=minbase ${SUITE} from ${mirror} (about a minute; log ${logFile})`);
  try {
    const r = spawnSync('sh', [
      '-c',
      `debootstrap --variant=minbase ${SUITE} "$1" "$2" >"$3" 2>&1`,
      'sh',
      rootfs,
      mirror,
      logFile,
    ]);
    if (r.status !== 0) {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`debootstrap failed (exit ${r.status}), see ${logFile}:\n${tail}`);
    }
    sh('cp', [node.path, join(rootfs, 'usr/local/bin/node')]);
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
    sh('chroot', [rootfs, 'groupadd', '--gid', '1000', 'node'], { env });
    sh(
      'chroot',
      [rootfs, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node'],
      { env },
    );
    // The binary must run on the base's own libraries (glibc, libstdc++), not only on this host's.
    const ran = sh('chroot', [rootfs, '/usr/local/bin/node', '-p', 'process.version'], { env }).trim();
    if (ran !== `v${node.version}`) throw new Error(`node in the base printed ${ran}, not v${node.version}`);
    for (const dir of TRIM) {
      rmSync(join(rootfs, dir), { recursive: true, force: true });
      mkdirSync(join(rootfs, dir), { recursive: true });
    }
    const partial = `${tarball}.${process.pid}`;
    sh('tar', ['--numeric-owner', '-C', rootfs, '-cf', partial, '.']);
    renameSync(partial, tarball);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/**
 * The base image, made or found: `made` says which cache answered ('storage': the image was
 * there; 'tarball': imported from the cache directory; 'debootstrap': made from the mirror).
 */
export function ensureBase({
  cacheDir = process.env.CNSN_IMAGE_CACHE || DEFAULT_CACHE_DIR,
  log = () => {},
} = {}) {
  const t0 = performance.now();
  const node = hostNode();
  const key = baseKey(node);
  const image = `localhost/cnsn-base:${key}`;
  const tarball = join(cacheDir, `cnsn-base-${key}.tar`);
  let made = 'storage';
  if (spawnSync('podman', ['image', 'exists', image]).status !== 0) {
    mkdirSync(cacheDir, { recursive: true });
    made = 'tarball';
    if (!existsSync(tarball)) {
      made = 'debootstrap';
      makeTarball(tarball, node, cacheDir, log);
      // Older bases (another Node, another recipe) are of no use to this checkout any more.
      for (const f of readdirSync(cacheDir))
        if (/^cnsn-base-.*\.tar$/.test(f) && join(cacheDir, f) !== tarball) rmSync(join(cacheDir, f));
    }
    log(`base: podman import ${tarball} as ${image}`);
    sh('podman', [
      'import',
      '--change',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--change',
      `ENV NODE_VERSION=${node.version}`,
      '--change',
      'CMD ["node"]',
      tarball,
      image,
    ]);
  }
  const sizeMB = Number(sh('podman', ['image', 'inspect', '--format', '{{.Size}}', image]).trim()) / 1e6;
  return {
    image,
    key,
    made,
    cacheDir,
    tarballMB: existsSync(tarball) ? Math.round(statSync(tarball).size / 1e5) / 10 : null,
    sizeMB: Math.round(sizeMB * 10) / 10,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}
