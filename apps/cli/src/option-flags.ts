import { runOption, type RunOptionDeclaration } from '@cnsn/protocol';
import { type Command, Option } from 'commander';
import { parseNonNegativeInt, parseNumber, parsePositiveInt } from './parse-options.js';

/**
 * Adds the flags of run options `keys`, as RUN_OPTIONS (protocol) declares them: flag, meaning,
 * choices, parser and default. Commands never spell out a run option themselves.
 */
export function addOptionFlags(cmd: Command, keys: readonly string[]): Command {
  for (const key of keys) for (const option of flagsOf(runOption(key))) cmd.addOption(option);
  return cmd;
}

/** The command line's value of an option when the flag is not given (undefined: the API decides). */
export function cliDefault(key: string): string | number | boolean | undefined {
  const d = runOption(key);
  const value = d.cliDefault ?? d.default;
  return value === null ? undefined : value;
}

function flagsOf(d: RunOptionDeclaration): Option[] {
  const fallback = cliDefault(d.key);
  switch (d.kind) {
    case 'choice':
      return [new Option(d.flag, d.description).choices(d.choices ?? []).default(fallback)];
    case 'flag':
    case 'text':
      return [new Option(d.flag, d.description)];
    case 'negatable':
      // Both spellings; absent, the option is undefined and the API's default (true) applies.
      return [
        new Option(d.flag, `${d.description} (default)`),
        new Option(d.flag.replace(/^--/, '--no-'), d.negated ?? `not: ${d.description}`),
      ];
    case 'number':
      return [new Option(d.flag, d.description).argParser(parseNumber).default(fallback)];
    case 'optional-number':
      return [new Option(d.flag, d.description).argParser(parseNumber)];
    case 'count':
      return [new Option(d.flag, d.description).argParser(parseNonNegativeInt).default(fallback)];
    case 'positive':
      return [new Option(d.flag, d.description).argParser(parsePositiveInt)];
  }
}
