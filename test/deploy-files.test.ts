import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { DockerfileStages } from './support/dockerfile-stages.js';
import { REPO_ROOT } from './support/index.js';

// What can be checked of the images, the compose file and the Kubernetes manifests without a
// container engine or a cluster: pinned bases, sources that exist, non-root users, health checks,
// the images the manifests name made by the build and run as its entry point expects, and every
// manifest valid against the Kubernetes, KEDA and Prometheus Operator schemas. test/images.e2e.test.ts
// builds and runs the images themselves.
const DOCKERFILE = 'infra/docker/Dockerfile';
const PINNED = /^[\w.\-/]+:\d+\.\d+\.\d+[\w.-]*$|@sha256:[a-f0-9]{64}$/;
const dockerfileText = readFileSync(join(REPO_ROOT, DOCKERFILE), 'utf8');
const stages = new DockerfileStages(dockerfileText);
const IMAGES = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'infra/docker/images.json'), 'utf8')) as {
    images: Array<{ name: string; target: string; local: boolean }>;
  }
).images;
/** The roles infra/docker/entrypoint.sh runs (its `case`), each an app bundle. */
const ROLES = (
  /^\s*([\w| ]+)\) exec node/m.exec(
    readFileSync(join(REPO_ROOT, 'infra/docker/entrypoint.sh'), 'utf8'),
  )?.[1] ?? ''
)
  .split('|')
  .map((r) => r.trim());
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function ignored(path: string): boolean {
  return dockerignore.some(
    (p) => path === p || path.startsWith(`${p}/`) || (p.startsWith('**/*') && path.endsWith(p.slice(4))),
  );
}

/** The image a manifest names, without its registry and tag: `ghcr.io/x/cnsn-worker:0.1.0` -> cnsn-worker. */
const imageName = (ref: string): string => (ref.split('/').pop() as string).split(':')[0] as string;

describe(DOCKERFILE, () => {
  it('is multi-stage, on base images pinned by exact version or digest, and takes the apps from `build` by default', () => {
    expect(stages.args.BASE).toMatch(PINNED);
    expect(stages.args.BUILD_BASE).toMatch(PINNED);
    expect(stages.args.APP_FROM).toBe('build');
    for (const [name, { from }] of stages.stages) {
      const image = stages.resolve(from);
      if (!stages.stages.has(image) && image !== 'scratch') expect(image, `${name}: FROM`).toMatch(PINNED);
    }
  });

  it('copies only sources that exist and that .dockerignore lets through, and prepares the apps with tools/image-context.mjs', () => {
    const build = stages.stages.get('build')?.instructions ?? [];
    for (const copy of build.filter((i) => i.getKeyword() === 'COPY')) {
      const parts = copy.getArguments().map((a) => a.getValue());
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(REPO_ROOT, source)), `COPY ${source}`).toBe(true);
        expect(ignored(source), `COPY ${source} is in .dockerignore`).toBe(false);
      }
    }
    expect(dockerfileText).toMatch(/RUN node tools\/image-context\.mjs \/context --gpu/);
    // What the prepared context holds is what the runtime stages copy.
    expect(dockerfileText).toMatch(/FROM scratch AS context\nCOPY \. \/context\//);
  });

  it.each(IMAGES)(
    'target $target ($name): non-root, its entry point script, a health check, SIGTERM',
    (i) => {
      const c = stages.config(i.target);
      expect(c.user, 'USER').toBeTruthy();
      expect(c.user).not.toMatch(/^(root|0)$/);
      expect(c.stopSignal).toBe('SIGTERM');
      expect(c.entrypoint).toEqual(['/srv/cnsn/entrypoint.sh']);
      accessSync(join(REPO_ROOT, 'infra/docker/entrypoint.sh'), constants.X_OK);
      expect(ROLES).toContain(c.cmd?.[0]);
      expect(c.env).toContain('NODE_ENV=production');
      const copies = c.instructions.filter((x) => x.getKeyword() === 'COPY').map((x) => x.getTextContent());
      expect(copies).toContain('COPY --from=app /context/cnsn/ /srv/cnsn/');
      if (c.cmd?.[0] === 'worker')
        expect(c.healthcheck).toContain('CMD ["node", "/srv/cnsn/healthcheck.mjs"]');
      if (c.cmd?.[0] === 'dashboard') expect(c.healthcheck).toMatch(/api\/health.*AbortSignal\.timeout/);
      if (c.cmd?.[0] === 'cnsn') expect(c.healthcheck).toBe('NONE');
      // Built here with no network: nothing to run in their stages, only files and settings.
      if (i.local) expect(c.instructions.filter((x) => x.getKeyword() === 'RUN')).toEqual([]);
    },
  );
});

it('the GPU image asks the NVIDIA runtime for graphics (the Vulkan ICD) and carries the loader, EGL and Dawn', () => {
  const gpu = stages.config('worker-gpu');
  expect(gpu.env).toContain('NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics');
  expect(dockerfileText).toMatch(/libvulkan1=\S+ libegl1=\S+/);
  expect(gpu.cmd).toEqual(['worker', '--backend', 'auto']);
  expect(gpu.instructions.map((x) => x.getTextContent())).toContain(
    'COPY --from=app /context/gpu/ /srv/cnsn/',
  );
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  volumes?: string[];
  command?: string[];
  entrypoint?: unknown;
  working_dir?: string;
  environment?: Record<string, string>;
}
const COMPOSE_FILE = join(REPO_ROOT, 'infra/docker/compose.yaml');
const compose = parse(readFileSync(COMPOSE_FILE, 'utf8')) as { services: Record<string, ComposeService> };

it('the compose file builds what exists and mounts what exists', () => {
  const here = dirname(COMPOSE_FILE);
  const built = new Set<string>();
  for (const [name, s] of Object.entries(compose.services)) {
    if (s.build) {
      const context = join(here, s.build.context);
      expect(existsSync(join(context, s.build.dockerfile)), `${name}: ${s.build.dockerfile}`).toBe(true);
      expect(stages.stages.has(s.build.target ?? ''), `${name}: build target`).toBe(true);
      if (s.image) built.add(s.image);
    } else expect(s.image, `${name}: image`).toBeTruthy();
    for (const v of s.volumes ?? []) {
      const host = v.split(':')[0] as string;
      if (host.startsWith('.')) expect(existsSync(join(here, host)), `${name}: volume ${host}`).toBe(true);
    }
    for (const value of Object.values(s.environment ?? {}))
      for (const ref of value.matchAll(/\$\{(\w+)(:-[^}]*)?\}/g))
        expect(ref[2], `${name}: \${${ref[1]}} needs a default`).toBeTruthy();
  }
  // Services without a build use an image that one with a build makes, or a pinned public one.
  for (const [name, s] of Object.entries(compose.services))
    if (!s.build) expect(built.has(s.image as string) || PINNED.test(s.image as string), name).toBe(true);
  expect(compose.services.worker?.environment?.REDIS_URL).toBe('redis://redis:6379');
  expect(compose.services.driver?.command?.[0]).toBe('cnsn');
});

it('compose keeps Redis data where infra/redis.conf puts it (Redis changes into `dir` as it reads the file)', () => {
  const dir = /^dir\s+(\S+)/m.exec(readFileSync(join(REPO_ROOT, 'infra/redis.conf'), 'utf8'))?.[1];
  const redis = compose.services.redis as ComposeService;
  expect(redis.volumes?.some((v) => v.split(':')[1] === dir)).toBe(true);
  expect(redis.working_dir).toBe(dir); // the image's entry point gives its working directory to redis
  expect(redis.command).not.toContain('--dir');
});

// Manifests are plain JSON: read through loosely, as the checks below go deep into them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Loads a kustomization the way kustomize does for the features used here. */
function render(dir: string): Array<Record<string, unknown>> {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as {
    resources?: string[];
    components?: string[];
    namespace?: string;
    labels?: Array<{ pairs: Record<string, string> }>;
    images?: Array<{ name: string; newName?: string; newTag?: string }>;
    patches?: Array<{ path: string; target: { kind: string; name: string } }>;
  };
  let objects: Array<Record<string, unknown>> = [];
  for (const r of [...(k.resources ?? []), ...(k.components ?? [])]) {
    const path = join(dir, r);
    if (statSync(path).isDirectory()) objects.push(...render(path));
    else
      objects.push(
        ...parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJSON() as Record<string, unknown>),
      );
  }
  for (const p of k.patches ?? []) {
    const ops = parse(readFileSync(join(dir, p.path), 'utf8')) as Operation[];
    const target = objects.find(
      (o) => o.kind === p.target.kind && (o.metadata as { name: string }).name === p.target.name,
    );
    expect(target, `${relative(REPO_ROOT, dir)}: patch ${p.path} finds its target`).toBeDefined();
    objects = objects.map((o) =>
      o === target ? fastJsonPatch.applyPatch(o, ops, true, false).newDocument : o,
    );
  }
  for (const o of objects) {
    const meta = o.metadata as { namespace?: string; labels?: Record<string, string> };
    if (k.namespace) meta.namespace = k.namespace;
    for (const l of k.labels ?? []) meta.labels = { ...meta.labels, ...l.pairs };
    const spec = o.spec as { template?: { spec: { containers: Array<{ image: string }> } } } | undefined;
    for (const c of spec?.template?.spec.containers ?? [])
      for (const img of k.images ?? [])
        if (c.image.split(':')[0] === img.name)
          c.image = `${img.newName ?? img.name}:${img.newTag ?? c.image.split(':')[1] ?? 'latest'}`;
  }
  return objects;
}

async function modelOf(o: Record<string, unknown>): Promise<{ validate(): void }> {
  const [group, version] = String(o.apiVersion).includes('/')
    ? String(o.apiVersion).split('/')
    : ['', o.apiVersion];
  const module =
    group === 'keda.sh'
      ? await import('@kubernetes-models/keda/keda.sh/v1alpha1')
      : group === 'monitoring.coreos.com'
        ? await import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1')
        : group === 'apps'
          ? await import('kubernetes-models/apps/v1')
          : await import(`kubernetes-models/${version}`);
  const Model = (module as Record<string, new (o: unknown) => { validate(): void }>)[String(o.kind)];
  if (!Model) throw new Error(`no schema for ${String(o.apiVersion)} ${String(o.kind)}`);
  return new Model(o);
}

describe.each([
  ['base', 'infra/k8s/base'],
  ['GPU overlay', 'infra/k8s/overlays/gpu'],
  ['ServiceMonitor component', 'infra/k8s/components/servicemonitor'],
])('Kubernetes: %s', (_name, dir) => {
  const objects = render(join(REPO_ROOT, dir));

  it('every object is valid against its schema (Kubernetes, KEDA, Prometheus Operator)', async () => {
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) (await modelOf(o)).validate();
  });

  it.runIf(dir !== 'infra/k8s/components/servicemonitor')(
    'workers drain, report readiness and scale on the queue',
    () => {
      const worker = objects.find(
        (o) => o.kind === 'Deployment' && (o.metadata as { name: string }).name === 'cnsn-worker',
      ) as {
        spec: {
          template: {
            spec: {
              terminationGracePeriodSeconds: number;
              containers: Array<Record<string, Json>>;
              tolerations?: unknown[];
            };
          };
        };
      };
      const pod = worker.spec.template.spec;
      const c = pod.containers[0] as Record<string, Json>;
      // Longer than BullMQ's 8 s lock plus a batch.
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(8 + 10);
      expect(c.readinessProbe.exec.command).toEqual(['node', '/srv/cnsn/healthcheck.mjs']);
      expect(c.lifecycle.preStop.exec.command).toContain('/tmp/cnsn-health');
      const scaled = objects.find((o) => o.kind === 'ScaledObject') as { spec: Record<string, Json> };
      expect(scaled.spec.scaleTargetRef.name).toBe('cnsn-worker');
      expect(scaled.spec.maxReplicaCount).toBeGreaterThan(scaled.spec.minReplicaCount);
      expect(
        objects.some(
          (o) =>
            o.kind === 'TriggerAuthentication' &&
            (o.metadata as { name: string }).name === scaled.spec.triggers[0].authenticationRef.name,
        ),
      ).toBe(true);
      if (dir.endsWith('gpu')) {
        expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
        expect(c.image).toMatch(/cnsn-worker-gpu:/);
        expect(c.args).toContain('auto');
        expect(pod.tolerations).toEqual([
          { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
        ]);
        expect(scaled.spec.minReplicaCount).toBe(0);
      }
    },
  );

  // Where kubectl (with kustomize v5) is installed, its rendering must agree with the one above.
  const kubectl = spawnSync('kubectl', ['kustomize', '--help'], { encoding: 'utf8' });
  it.runIf(kubectl.status === 0 && !dir.includes('components'))(
    'kubectl kustomize renders the same objects',
    () => {
      const out = spawnSync('kubectl', ['kustomize', join(REPO_ROOT, dir)], { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      const theirs = parseAllDocuments(out.stdout).map((d) => d.toJSON() as Record<string, unknown>);
      const key = (o: Record<string, unknown>) =>
        `${String(o.kind)}/${(o.metadata as { name: string }).name}`;
      const byKey = (list: Array<Record<string, unknown>>) =>
        Object.fromEntries(list.map((o) => [key(o), o]));
      expect(byKey(objects)).toEqual(byKey(theirs));
    },
  );
});

it('every Kubernetes file is part of a kustomization', () => {
  const listed = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name === 'kustomization.yaml') {
        const k = parse(readFileSync(path, 'utf8')) as {
          resources?: string[];
          patches?: Array<{ path: string }>;
        };
        for (const r of [...(k.resources ?? []), ...(k.patches ?? []).map((p) => p.path)])
          listed.add(join(dir, r));
        listed.add(path);
      }
    }
  };
  const root = join(REPO_ROOT, 'infra/k8s');
  walk(root);
  const files: string[] = [];
  const all = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) all(join(dir, e.name));
      else files.push(join(dir, e.name));
  };
  all(root);
  for (const f of files) expect(listed.has(f), relative(REPO_ROOT, f)).toBe(true);
});

it('every image the manifests name is one the build makes, run through its entry point as its target runs it', () => {
  type Use = { where: string; image: string; command?: unknown; args?: string[]; target?: string };
  const uses: Use[] = [];
  for (const dir of ['infra/k8s/base', 'infra/k8s/overlays/gpu'])
    for (const o of render(join(REPO_ROOT, dir)))
      for (const c of ((o.spec as Json)?.template?.spec?.containers ?? []) as Json[])
        uses.push({ where: `${dir}: ${String(o.kind)}/${(o.metadata as Json).name}`, ...c });
  for (const [name, s] of Object.entries(compose.services))
    if (s.build || s.image?.startsWith('cnsn-'))
      uses.push({
        where: `compose: ${name}`,
        image: s.image as string,
        command: s.entrypoint,
        ...(s.command ? { args: s.command } : {}),
        ...(s.build?.target ? { target: s.build.target } : {}),
      });
  expect(new Set(uses.map((u) => imageName(u.image)))).toEqual(
    new Set(['cnsn-worker', 'cnsn-worker-gpu', 'cnsn-dashboard', 'cnsn-driver']),
  );
  for (const u of uses) {
    const made = IMAGES.find((i) => i.name === imageName(u.image));
    expect(made, `${u.where}: ${u.image} is not an image the build makes (images.json)`).toBeDefined();
    const target = stages.config(made?.target as string);
    if (u.target) expect(u.target, `${u.where}: build target`).toBe(made?.target);
    // The manifest keeps the image's entry point and gives it the role its image is for.
    expect(u.command, `${u.where}: overrides the entry point`).toBeUndefined();
    expect((u.args ?? target.cmd)?.[0], `${u.where}: args`).toBe(target.cmd?.[0]);
  }
});
