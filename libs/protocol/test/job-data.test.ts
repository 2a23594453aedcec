import { describe, expect, it } from 'vitest';
import { parseBatchJobData, ProtocolError } from '../src/index.js';

describe('job data', () => {
  it('accepts the references a producer writes', () => {
    expect(parseBatchJobData({ run: 'r-1', seq: 3, shape: [2, 3, 4, 5], bytes: 500 }, 'job r-1.3')).toEqual({
      run: 'r-1',
      seq: 3,
      shape: [2, 3, 4, 5],
      bytes: 500,
    });
  });

  it.each([
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: 9, code: 'process.exit()' }, 'Unrecognized key'],
    [{ run: '../../etc', seq: 1, shape: [1, 1, 1, 2], bytes: 9 }, 'run'],
    [{ run: 'r', seq: -1, shape: [1, 1, 1, 2], bytes: 9 }, 'seq'],
    [{ run: 'r', seq: 1, shape: [1, 1, 2], bytes: 9 }, 'shape'],
    [{ run: 'r', seq: 1, shape: [1, 1, 1, 2], bytes: '9' }, 'bytes'],
    ['a string', 'bad job data'],
  ])('refuses %j, naming what is wrong', (raw, what) => {
    expect(() => parseBatchJobData(raw, 'job x')).toThrow(ProtocolError);
    expect(() => parseBatchJobData(raw, 'job x')).toThrow(what);
  });
});
