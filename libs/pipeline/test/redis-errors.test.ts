import { describe, expect, it } from 'vitest';
import { RedisConnectionError } from '../src/errors.js';
import {
  isOutOfMemory,
  isRefusedForGood,
  isRetryLater,
  redirection,
  replyCode,
} from '../src/redis/redis-errors.js';
import { RespError } from '../src/redis/resp-parser.js';

/** An error reply as ioredis gives it. */
const reply = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' });

describe('Redis errors are told apart by their codes, not their wording', () => {
  it('reads the error code of a reply, from ioredis or from our own RESP parser', () => {
    expect(replyCode(reply('WRONGPASS invalid username-password pair or user is disabled.'))).toBe(
      'WRONGPASS',
    );
    expect(replyCode(new RespError('OOM command not allowed when used memory > maxmemory.'))).toBe('OOM');
    // Not a reply: no code, whatever it says.
    expect(replyCode(new Error('WRONGPASS but from elsewhere'))).toBeNull();
  });

  it('refused for good: authentication, permissions, TLS trust (Node codes), at any depth of cause', () => {
    expect(isRefusedForGood(reply('NOPERM this user has no permissions to run the command'))).toBe(true);
    expect(isRefusedForGood(Object.assign(new Error('x'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe(true);
    expect(isRefusedForGood(Object.assign(new Error('x'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }))).toBe(
      true,
    );
    expect(isRefusedForGood(new Error('wrapped', { cause: reply('NOAUTH Authentication required.') }))).toBe(
      true,
    );
    expect(isRefusedForGood(new RedisConnectionError('cannot connect'))).toBe(true);
    // A node that is down, or a message that merely mentions TLS, is not a refusal.
    expect(isRefusedForGood(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      false,
    );
    expect(isRefusedForGood(new Error('the TLS certificate of a self-signed WRONGPASS'))).toBe(false);
  });

  it('out of memory, redirections and a cluster in transition', () => {
    expect(isOutOfMemory(reply('OOM command not allowed when used memory > maxmemory.'))).toBe(true);
    expect(isOutOfMemory(new Error('OOM'))).toBe(false);
    expect(redirection(new RespError('MOVED 3999 127.0.0.1:6381'))).toEqual({
      kind: 'MOVED',
      slot: 3999,
      to: '127.0.0.1:6381',
    });
    expect(redirection(new RespError('ASK 12 10.0.0.2:7000'))).toEqual({
      kind: 'ASK',
      slot: 12,
      to: '10.0.0.2:7000',
    });
    expect(redirection(new RespError('ERR unknown command'))).toBeNull();
    expect(isRetryLater(new RespError('CLUSTERDOWN The cluster is down'))).toBe(true);
    expect(isRetryLater(new RespError('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe(true);
    expect(isRetryLater(new RespError('ERR wrong number of arguments'))).toBe(false);
  });
});
