import { Redis } from 'ioredis';

/** Every key matching any of `patterns` (SCAN, never KEYS), sorted, without duplicates. */
export async function scanKeys(url: string, patterns: string[]): Promise<string[]> {
  const client = new Redis(url);
  try {
    const out = new Set<string>();
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, found] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const k of found) out.add(k);
      } while (cursor !== '0');
    }
    return [...out].sort();
  } finally {
    client.disconnect();
  }
}
