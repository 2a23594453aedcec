import { describe, expect, it } from 'vitest';
import { parseBatchJobData, ProtocolError } from '../src/index.js';

describe('job data', () => {
  it('accepts the references a producer writes', () => {
    const redis = { run: 'r-1', seq: 3, shape: [2, 3, 4, 5], bytes: 500, plane: 'redis' };
    expect(parseBatchJobData(redis, 'job r-1.3')).toEqual(redis);
    const direct = { ...redis, plane: 'direct', secret: 'a'.repeat(43) };
    expect(parseBatchJobData(direct, 'job r-1.3')).toEqual(direct);
  });

  it.each([
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: 9, plane: 'redis', code: 'x' }, 'Unrecognized key'],
    [{ run: '../../etc', seq: 1, shape: [1, 1, 1, 2], bytes: 9, plane: 'redis' }, 'run'],
    [{ run: 'r', seq: -1, shape: [1, 1, 1, 2], bytes: 9, plane: 'redis' }, 'seq'],
    [{ run: 'r', seq: 1, shape: [1, 1, 2], bytes: 9, plane: 'redis' }, 'shape'],
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: '9', plane: 'redis' }, 'bytes'],
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: 9, plane: 'carrier-pigeon' }, 'plane'],
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: 9, plane: 'direct' }, 'secret'],
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: 9, plane: 'direct', secret: 'short' }, 'secret'],
    ['a string', 'bad job data'],
  ])('refuses %j, naming what is wrong', (raw, what) => {
    expect(() => parseBatchJobData(raw, 'job x')).toThrow(ProtocolError);
    expect(() => parseBatchJobData(raw, 'job x')).toThrow(what);
  });
});
