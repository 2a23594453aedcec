import { RUN_OPTIONS, type RunOptionDeclaration } from './run-option-declarations.js';

/** The README's table of run options, rendered from RUN_OPTIONS (a test keeps the README equal). */
export function runOptionTable(): string {
  const rows = RUN_OPTIONS.map((o) => {
    const flag =
      o.kind === 'negatable' ? `\`${o.flag}\` / \`${o.flag.replace(/^--/, '--no-')}\`` : `\`${o.flag}\``;
    const api = o.group === 'crossnorm' ? `crossnorm.${o.key}` : o.key;
    return `| \`${api}\` | ${flag} | \`${o.python}\` | ${shown(o)} | ${o.description} |`;
  });
  return [
    '| openRun | command line | Python | default | what it does |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

function shown(o: RunOptionDeclaration): string {
  const value = (v: unknown): string => (v === null ? 'none' : `\`${String(v)}\``);
  const choices = o.choices ? ` (${o.choices.join(', ')})` : '';
  const cli = o.cliDefault !== undefined ? `; CLI ${value(o.cliDefault)}` : '';
  return `${value(o.default)}${cli}${choices}`;
}
