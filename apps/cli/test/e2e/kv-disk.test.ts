import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KvClient } from '@flotilla/raft/client';
import { crc32c } from '@flotilla/raft';
import { FloCluster, until } from './kv-harness.js';

function walFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'raft', 'wal');
  return readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => path.join(dir, n));
}

describe('flo server on disk: torn WAL tails are repaired, corruption is reported', () => {
  const cluster = new FloCluster();
  let client: KvClient;
  beforeAll(async () => {
    await cluster.start(3);
    client = cluster.client();
    for (let i = 0; i < 30; i++) await client.put(`disk/${i}`, `v${i}`);
  });
  afterAll(async () => {
    client?.close();
    await cluster.stop();
  });

  it('a member whose WAL tail was torn by a crash restarts with the same command and catches up', async () => {
    const leader = await cluster.waitForLeader();
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.kill(victim);
    const files = walFiles(cluster.dataDir(victim));
    const last = files[files.length - 1]!;
    // What a crash mid-append leaves: a complete record header (u32 length, CRC-32C of the
    // length, CRC-32C of type + payload, u8 type) announcing 4 KiB, then only part of the payload.
    const head = Buffer.alloc(13);
    head.writeUInt32LE(4096, 0);
    head.writeUInt32LE(crc32c(head, 0, 4), 4);
    head.writeUInt32LE(0x12345678, 8);
    head[12] = 1;
    appendFileSync(last, Buffer.concat([head, Buffer.alloc(700, 7)]));
    await client.put('disk/after-tear', 'x');
    cluster.spawn(victim);
    await until('the torn member to serve every write', async () => {
      const res = await fetch(`${cluster.url(victim)}/v1/kv?prefix=disk/&serializable=true`);
      if (res.status !== 200) return false;
      const body = (await res.json()) as { items: { key: string }[] };
      return body.items.length === 31;
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- member ${victim} log ---\n${cluster.log(victim)}`);
    });
  });

  it('a corrupted WAL is refused with a message naming the file, and the cluster keeps serving', async () => {
    const leader = await cluster.waitForLeader();
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.kill(victim);
    const files = walFiles(cluster.dataDir(victim)).filter((f) => statSync(f).size > 200);
    const target = files[0]!;
    const buf = readFileSync(target);
    // Flip bits in the middle of the log: damage followed by more valid records is not a torn tail.
    const at = Math.floor(buf.length / 2);
    buf[at] = buf[at]! ^ 0xff;
    writeFileSync(target, buf);
    cluster.spawn(victim);
    const code = await cluster.exited(victim);
    expect(code).toBe(1);
    expect(cluster.log(victim)).toMatch(/corrupt/i);
    expect(cluster.log(victim)).toContain(path.basename(target));
    await client.put('disk/still-serving', 'y');
    expect((await client.get('disk/still-serving'))?.value).toBe('y');
  });
});
