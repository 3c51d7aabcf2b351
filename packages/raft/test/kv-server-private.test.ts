// flo server's data directory holds user values: 0700 directories and 0600 files whatever
// the umask (issue 12 §4: it was 0755 with a 0644 WAL, snapshots and LOCK).
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KvClient } from '../src/client/index.js';
import { startKvServer } from '../src/server/index.js';
import { freePort } from '../src/testing/index.js';

const root = mkdtempSync(join(tmpdir(), 'flo-kv-private-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const mode = (p: string): number => statSync(p).mode & 0o777;
const walk = (d: string): string[] => readdirSync(d, { recursive: true }).map((f) => join(d, String(f)));

async function member(data: string, log: (l: string) => void = () => undefined) {
  const peerPort = await freePort();
  return startKvServer({ id: 1, listen: '127.0.0.1:0', peerListen: `127.0.0.1:${peerPort}`, peers: new Map([[1, `127.0.0.1:${peerPort}`]]), data, tickMs: 10, snapshotEntries: 4, log });
}

describe('KV member data directory (umask 022)', { timeout: 60_000 }, () => {
  it('is created 0700 with every directory 0700 and every file (WAL, snapshots, LOCK) 0600', async () => {
    const umask = process.umask(0o022);
    const data = join(root, 'new', 'm1');
    try {
      const s = await member(data);
      const client = new KvClient({ endpoints: [s.clientUrl], retryWindowMs: 20_000 });
      for (let i = 0; i < 12; i++) await client.put(`k${i}`, 'a user value');
      client.close();
      const paths = walk(data);
      expect(paths.some((p) => p.endsWith('.wal'))).toBe(true);
      expect(paths.some((p) => p.endsWith('LOCK'))).toBe(true);
      expect(mode(data)).toBe(0o700);
      for (const p of paths) expect(mode(p), p).toBe(statSync(p).isDirectory() ? 0o700 : 0o600);
      await s.close();
    } finally {
      process.umask(umask);
    }
  });

  it('an existing 0755 data directory with 0644 files is tightened on start, and the log says so', async () => {
    const data = join(root, 'old');
    const s0 = await member(data);
    await s0.close();
    for (const p of [data, ...walk(data)]) chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
    const lines: string[] = [];
    const s = await member(data, (l) => lines.push(l));
    for (const p of [data, ...walk(data)]) expect(mode(p), p).toBe(statSync(p).isDirectory() ? 0o700 : 0o600);
    expect(lines.filter((l) => l.startsWith('warning: ')).join('\n')).toMatch(/0755[\s\S]*0644|0644[\s\S]*0755/);
    await s.close();
  });
});
