import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './support/index.js';

// What can be checked of the images, the compose file and the Kubernetes manifests without a
// Docker engine or a cluster: pinned bases, sources that exist, non-root users, health checks,
// and every manifest valid against the Kubernetes, KEDA and Prometheus Operator schemas.
const DOCKERFILES = ['worker', 'worker-gpu', 'dashboard'].map((n) => `infra/docker/${n}.Dockerfile`);
const PINNED = /^[\w.\-/]+:\d+\.\d+\.\d+[\w.-]*$|@sha256:[a-f0-9]{64}$/;
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function ignored(path: string): boolean {
  return dockerignore.some(
    (p) => path === p || path.startsWith(`${p}/`) || (p.startsWith('**/*') && path.endsWith(p.slice(4))),
  );
}

describe.each(DOCKERFILES)('%s', (file) => {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const doc = DockerfileParser.parse(text);
  const instructions = doc.getInstructions();
  const froms = doc.getFROMs();
  const finalStart = instructions.indexOf(froms.at(-1) as (typeof instructions)[number]);
  const final = instructions.slice(finalStart);
  const args = (i: (typeof instructions)[number]): string[] => i.getArguments().map((a) => a.getValue());

  it('is multi-stage, on base images pinned by exact version or digest', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const stages = new Set<string>();
    for (const f of froms) {
      const image = args(f)[0] as string;
      if (!stages.has(image)) expect(image, 'FROM').toMatch(PINNED);
      const stage = f.getBuildStage();
      if (stage) stages.add(stage);
    }
  });

  it('copies only sources that exist and that .dockerignore lets through', () => {
    for (const copy of doc.getCOPYs()) {
      if (copy.getFromFlag()) continue;
      const parts = args(copy).filter((a) => !a.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(REPO_ROOT, source)), `${file}: COPY ${source}`).toBe(true);
        expect(ignored(source), `${file}: COPY ${source} is in .dockerignore`).toBe(false);
      }
    }
    // What the later COPY --from=build takes is made by that stage.
    expect(text).toMatch(/RUN node tools\/bundle-apps\.mjs \/out/);
  });

  it('runs lean and non-root, with a health check and an entry point script it copied', () => {
    const keyword = (k: string) => final.filter((i) => i.getKeyword() === k);
    const user = keyword('USER').at(-1);
    expect(user && args(user)[0]).toBeTruthy();
    expect(args(user as (typeof instructions)[number])[0]).not.toMatch(/^(root|0)$/);
    expect(keyword('HEALTHCHECK').length).toBe(1);
    const install = keyword('RUN').find((r) => args(r).includes('ci'));
    expect(install && args(install)).toEqual(expect.arrayContaining(['--omit=dev']));
    expect(keyword('STOPSIGNAL').map((i) => args(i)[0])).toEqual(['SIGTERM']);
    const entry = JSON.parse(keyword('ENTRYPOINT')[0]?.getArgumentsContent() ?? '[]') as string[];
    expect(entry[0]).toBe('/srv/cnsn/entrypoint.sh');
    expect(text).toMatch(/COPY infra\/docker\/entrypoint\.sh/);
    accessSync(join(REPO_ROOT, 'infra/docker/entrypoint.sh'), constants.X_OK);
    const cmd = JSON.parse(keyword('CMD').at(-1)?.getArgumentsContent() ?? '[]') as string[];
    expect(['worker', 'dashboard', 'cnsn']).toContain(cmd[0]);
    const health = keyword('HEALTHCHECK')[0]?.getArgumentsContent() ?? '';
    if (health.includes('healthcheck.mjs'))
      expect(text).toMatch(/COPY infra\/docker\/entrypoint\.sh infra\/docker\/healthcheck\.mjs/);
  });
});

it('the GPU image asks the NVIDIA runtime for graphics (the Vulkan ICD) and carries the loader and EGL', () => {
  const text = readFileSync(join(REPO_ROOT, 'infra/docker/worker-gpu.Dockerfile'), 'utf8');
  expect(text).toMatch(/NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics/);
  expect(text).toMatch(/libvulkan1=\S+ libegl1=\S+/);
  expect(text).toMatch(/CMD \["worker", "--backend", "auto"\]/);
});

it('the compose file builds what exists and mounts what exists', () => {
  const file = join(REPO_ROOT, 'infra/docker/compose.yaml');
  const compose = parse(readFileSync(file, 'utf8')) as {
    services: Record<
      string,
      {
        image?: string;
        build?: { context: string; dockerfile: string };
        volumes?: string[];
        command?: string[];
        environment?: Record<string, string>;
      }
    >;
  };
  const here = dirname(file);
  const built = new Set<string>();
  for (const [name, s] of Object.entries(compose.services)) {
    if (s.build) {
      const context = join(here, s.build.context);
      expect(existsSync(join(context, s.build.dockerfile)), `${name}: ${s.build.dockerfile}`).toBe(true);
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
