import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/index.js';

// The repository stands alone: everything its commands and tests read is in it. The golden cases,
// the PyTorch reference and the documents once lived in a directory beside the checkout; CI still
// has one there, so these checks (and .ci/run, which runs the suite from a clone with nothing
// beside it) are what prove nothing outside is read.

/** What a commit of the working tree would hold: tracked files and untracked ones not ignored. */
function repoFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return out
    .split('\0')
    .filter(Boolean)
    .filter((f) => existsSync(join(REPO_ROOT, f)));
}

/** Built, not written, so that this file does not name what it looks for. */
const BESIDE = ['..', 'shared'].join('/');

/** Files whose bytes mention the directory that used to sit beside the checkout. */
export function mentionsBeside(files: Array<{ path: string; bytes: Buffer }>): string[] {
  return files.filter((f) => f.bytes.includes(BESIDE)).map((f) => f.path);
}

/** `new URL('REL', import.meta.url)` that resolve outside the repository, as "file: REL". */
export function urlsOutside(root: string, files: Array<{ path: string; text: string }>): string[] {
  const found: string[] = [];
  for (const f of files)
    for (const m of f.text.matchAll(/new URL\(\s*'([^']+)',\s*import\.meta\.url\s*\)/g)) {
      const target = resolve(dirname(join(root, f.path)), m[1] as string);
      if (!inside(root, target)) found.push(`${f.path}: ${m[1]}`);
    }
  return found;
}

/** Python's `Path(__file__)...parents[N]` (and `HERE.parents[N]`, HERE the file's folder) outside. */
export function parentsOutside(root: string, files: Array<{ path: string; text: string }>): string[] {
  const found: string[] = [];
  for (const f of files)
    for (const line of f.text.split('\n'))
      for (const m of line.matchAll(/(__file__|HERE)\S*?\.parents\[(\d+)\]/g)) {
        // parents[0] of a file is its folder; HERE is that folder already.
        const up = Number(m[2]) + (m[1] === 'HERE' ? 2 : 1);
        const target = resolve(join(root, f.path), ...Array<string>(up).fill('..'));
        if (!inside(root, target)) found.push(`${f.path}: ${m[0]}`);
      }
  return found;
}

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..');
}

const files = repoFiles();
const text = (ext: RegExp): Array<{ path: string; text: string }> =>
  files.filter((f) => ext.test(f)).map((f) => ({ path: f, text: readFileSync(join(REPO_ROOT, f), 'utf8') }));

describe('the repository stands alone', () => {
  it('holds its golden cases, reference and documents', () => {
    for (const f of [
      'testdata/golden/manifest.json',
      'testdata/golden/README.md',
      'tools/reference/cnsn_reference.py',
      'docs/cli.md',
      'docs/python.md',
      'docs/design.md',
    ])
      expect(files, f).toContain(f);
    expect(files.filter((f) => f.startsWith('testdata/golden/') && f.endsWith('.f32'))).toHaveLength(153);
  });

  it(`no file refers to ${BESIDE}`, () => {
    const all = files.map((f) => ({ path: f, bytes: readFileSync(join(REPO_ROOT, f)) }));
    expect(all.length).toBeGreaterThan(300);
    expect(mentionsBeside(all), `files naming ${BESIDE}: point them at the repository's copies`).toEqual([]);
  });

  it('no source resolves a path outside the repository', () => {
    expect(urlsOutside(REPO_ROOT, text(/\.(ts|mts|mjs|js)$/))).toEqual([]);
    expect(parentsOutside(REPO_ROOT, text(/\.py$/))).toEqual([]);
  });

  it('the checks can fail', () => {
    const bad = Buffer.from(`x = "${BESIDE}/golden"`);
    expect(mentionsBeside([{ path: 'a.ts', bytes: bad }])).toEqual(['a.ts']);
    const url = `new URL('${'../'.repeat(4)}beside-the-checkout', import.meta.url)`;
    expect(urlsOutside(REPO_ROOT, [{ path: 'apps/cli/src/a.ts', text: url }])).toHaveLength(1);
    expect(urlsOutside(REPO_ROOT, [{ path: 'apps/cli/src/b/a.ts', text: url }])).toEqual([]);
    const py = 'REPO = Path(__file__).resolve().parents[3]\nA = HERE.parents[2] / "x"\nB = HERE.parents[3]';
    expect(parentsOutside(REPO_ROOT, [{ path: 'clients/python/tests/c.py', text: py }])).toEqual([
      'clients/python/tests/c.py: HERE.parents[3]',
    ]);
  });
});
