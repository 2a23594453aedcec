import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { workerCommand } from '#cnsn/worker-command';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { cnsnProgram } from '../src/program.js';

// docs/cli.md is the command line's documentation: every command of the code has a section there
// (a heading naming `npm run cnsn -- PATH`), and every flag of a command is named in its section,
// or, for a command whose section refers to run's flags ("every flag of `run`", "the CrossNorm
// options of `run`"), in run's section.

const root = new URL('../../../', import.meta.url);
const doc = readFileSync(new URL('docs/cli.md', root), 'utf8');

/** Each heading's text and the lines under it, up to the next heading. */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  let heading = '';
  for (const line of markdown.split('\n')) {
    if (/^#{2,3} /.test(line)) heading = line;
    out.set(heading, `${out.get(heading) ?? ''}${line}\n`);
  }
  return out;
}

const bySection = sections(doc);
const sectionOf = (title: string): string => {
  const found = [...bySection].filter(([h]) => h.includes(title));
  expect(
    found.map(([h]) => h),
    `one section of docs/cli.md titled "${title}"`,
  ).toHaveLength(1);
  return (found[0] as [string, string])[1];
};

/** Every command under `cmd`, with its path (`bench kernel`), leaving out commander's `help`. */
function commands(cmd: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  return cmd.commands
    .filter((c) => c.name() !== 'help')
    .flatMap((c) => {
      const p = [...path, c.name()];
      return c.commands.length ? commands(c, p) : [{ path: p.join(' '), cmd: c }];
    });
}

const flags = (cmd: Command): string[] => cmd.options.map((o) => o.long ?? '').filter(Boolean);

const missing = (names: string[], ...texts: string[]): string[] =>
  names.filter((f) => !texts.some((t) => new RegExp(`${f}(?![\\w-])`).test(t)));

describe('docs/cli.md documents every command and flag', () => {
  const runSection = sectionOf('`npm run cnsn -- run');

  it.each(commands(cnsnProgram()).map((c) => [c.path, c.cmd] as const))('cnsn %s', (path, cmd) => {
    const title = path === 'start' ? '`npm start`' : `\`npm run cnsn -- ${path}`;
    const text = sectionOf(title);
    const withRun = text.replace(/\s+/g, ' ').includes(' of `run`') ? [runSection] : [];
    expect(missing(flags(cmd), text, ...withRun), `flags of cnsn ${path} not in docs/cli.md`).toEqual([]);
  });

  it('npm run worker', () => {
    expect(missing(flags(workerCommand()), sectionOf('`npm run worker'))).toEqual([]);
  });

  it('npm run dashboard', () => {
    const help = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('apps/dashboard/src/main.ts', root)), '--help'],
      { encoding: 'utf8', cwd: fileURLToPath(root) },
    );
    expect(help.status, help.stderr).toBe(0);
    const names = [...help.stdout.matchAll(/^\s+(--[\w-]+)/gm)].map((m) => m[1] as string);
    expect(names).toContain('--read-only');
    expect(missing(names, sectionOf('`npm run dashboard'))).toEqual([]);
  });

  it('the check can fail: a flag named nowhere is found missing', () => {
    expect(missing(['--no-such-flag', '--seed'], runSection)).toEqual(['--no-such-flag']);
  });
});
