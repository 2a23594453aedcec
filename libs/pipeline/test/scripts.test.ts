import { describe, expect, it } from 'vitest';
import { loadScript, SCRIPT_FILES } from '../src/index.js';

describe('Lua scripts (lua/NAME-NUMKEYS.lua)', () => {
  it.each(SCRIPT_FILES)('%s: its header documents every KEYS and ARGV it uses, and its key count', (file) => {
    const { lua, numberOfKeys } = loadScript(file);
    const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1] ?? '';
    const body = lua.slice(lua.indexOf(']]') + 2);
    expect(header, 'a --[[ ... ]] header first').not.toBe('');
    const used = (kind: 'KEYS' | 'ARGV', text: string): number[] =>
      [...new Set([...text.matchAll(new RegExp(`${kind}\\[(\\d+)\\]`, 'g'))].map((m) => Number(m[1])))].sort(
        (a, b) => a - b,
      );
    // The file name's key count is exactly the keys the body touches, and the header names each.
    expect(used('KEYS', body)).toEqual(Array.from({ length: numberOfKeys }, (_, i) => i + 1));
    expect(used('KEYS', header)).toEqual(used('KEYS', body));
    for (const i of used('ARGV', body)) expect(header, `ARGV[${i}] documented`).toContain(`ARGV[${i}]`);
    expect(header).toMatch(/Returns /);
  });
});
