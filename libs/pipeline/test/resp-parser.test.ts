import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespParser, type RespReply } from '../src/index.js';

/** A reply as RESP2 bytes. */
function encode(reply: RespReply): Buffer {
  if (reply === null) return Buffer.from('$-1\r\n');
  if (typeof reply === 'number') return Buffer.from(`:${reply}\r\n`);
  if (typeof reply === 'string') return Buffer.from(`+${reply}\r\n`);
  if (reply instanceof Error) return Buffer.from(`-${reply.message}\r\n`);
  if (reply instanceof Uint8Array)
    return Buffer.concat([Buffer.from(`$${reply.length}\r\n`), reply, Buffer.from('\r\n')]);
  return Buffer.concat([Buffer.from(`*${reply.length}\r\n`), ...reply.map(encode)]);
}

/** Comparable form: errors by message, bytes as arrays. */
function plain(reply: RespReply): unknown {
  if (reply instanceof Uint8Array) return { bulk: Array.from(reply) };
  if (reply instanceof Error) return { error: reply.message };
  if (Array.isArray(reply)) return reply.map(plain);
  return reply;
}

const line = fc.string({ unit: fc.constantFrom(...'abcXYZ 019:_-'.split('')), maxLength: 12 });
const reply: fc.Arbitrary<RespReply> = fc.letrec<{ reply: RespReply }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small' },
    line,
    fc.integer({ min: -1e9, max: 1e9 }),
    fc.constant(null),
    // Bulk payloads that contain CR, LF and the other RESP markers.
    fc
      .uint8Array({ maxLength: 40 })
      .map((b) => Uint8Array.from(b, (x) => [13, 10, 36, 42, x][x % 5] as number)),
    line.map((m) => new (class RespErrorLike extends Error {})(`ERR ${m}`) as unknown as RespReply),
    fc.array(tie('reply'), { maxLength: 4 }),
  ),
})).reply;

function parseAll(chunks: Buffer[], sinkFor?: (n: number) => Uint8Array): RespReply[] {
  const out: RespReply[] = [];
  const parser = new RespParser(
    (r) => out.push(r),
    () => sinkFor,
  );
  for (const c of chunks) parser.feed(c);
  return out;
}

describe('RespParser', () => {
  it('gives the same replies however the bytes are split: at every single byte boundary', () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 4 }), (replies) => {
        const bytes = Buffer.concat(replies.map(encode));
        const want = replies.map(plain);
        for (let cut = 0; cut <= bytes.length; cut++) {
          const got = parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
          expect(got.map(plain)).toEqual(want);
        }
        // And one byte at a time.
        const bytewise = parseAll(Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)));
        expect(bytewise.map(plain)).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });

  it('lands a top-level bulk reply in the buffer the sink gives, split anywhere', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (payload, cuts) => {
          const bytes = encode(payload);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let at = 0;
          for (const p of [...points, bytes.length]) {
            chunks.push(bytes.subarray(at, p));
            at = p;
          }
          const target = new Uint8Array(payload.length + 8);
          const got = parseAll(chunks, (n) => target.subarray(0, n));
          expect(got).toHaveLength(1);
          expect((got[0] as Uint8Array).buffer).toBe(target.buffer);
          expect(Array.from(got[0] as Uint8Array)).toEqual(Array.from(payload));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the pull side (a socket reading where the parser says) gives the same replies, bulks landing in their sinks', () => {
    fc.assert(
      fc.property(
        fc.array(reply, { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        (replies, reads) => {
          const bytes = Buffer.concat(replies.map(encode));
          const out: RespReply[] = [];
          const sunk: Uint8Array[] = [];
          const parser = new RespParser(
            (r) => out.push(r),
            () => (n) => {
              const b = new Uint8Array(n);
              sunk.push(b);
              return b;
            },
          );
          // The "kernel" copies at most each read's size into whatever the parser points at.
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const target = parser.readTarget();
            const n = Math.min(target.length, reads[i % reads.length] as number, bytes.length - at);
            target.set(bytes.subarray(at, at + n));
            parser.read(n);
            at += n;
          }
          expect(out.map(plain)).toEqual(replies.map(plain));
          // Top-level bulk replies are the sinks' own buffers.
          const topBulks = out.filter((r): r is Uint8Array => r instanceof Uint8Array);
          for (const b of topBulks) expect(sunk.some((s) => s.buffer === b.buffer)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a byte that starts no RESP reply', () => {
    expect(() => parseAll([Buffer.from('?what\r\n')])).toThrow(/RESP protocol error: unexpected byte 63/);
  });
});
