import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: each error names the flag's expectation and the value given. */
export function parseShape(value: string): [number, number, number, number] {
  const parts = value.split(',').map((p) => p.trim());
  const dims = parts.map(Number);
  if (dims.length !== 4 || !dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InvalidArgumentError(`expected N,C,H,W (four positive integers), got "${value}"`);
  }
  return dims as [number, number, number, number];
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  }
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = parseNonNegativeInt(value);
  if (n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}
