// Issue 12 §1: the Raft peer port of real `flo server` processes under attack. A member with
// client authentication (--token-file, HTTPS) used to serve its peer port as plain TCP with no
// authentication: a forged hello plus a `prop` frame wrote a key, a forged `{"op":"txn"}`
// killed every member on every restart, and one frame header made a member buffer 512 MiB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { KvClient } from '@flotilla/raft/client';
import { FloCluster, floCommand, freePortRange, freePorts, runFlo, until } from './kv-harness.js';
import { isProcessAlive } from '@flotilla/sys';

const fixtures = fileURLToPath(new URL('../../../../packages/raft/test/fixtures/tls/', import.meta.url));
const secrets = mkdtempSync(path.join(tmpdir(), 'flo-peer-attack-'));
/** Test-only material, private as real key and token files must be. */
function privateFile(name: string, content?: Buffer | string): string {
  const to = path.join(secrets, name);
  if (content === undefined) copyFileSync(path.join(fixtures, name), to);
  else writeFileSync(to, content);
  chmodSync(to, 0o600);
  return to;
}
const caFile = privateFile('ca.crt');
const certFile = privateFile('member.crt');
const keyFile = privateFile('member.key');
const token = randomBytes(18).toString('base64url');
const tokenFile = privateFile('client.token', `${token}\n`);
const peerTokenFile = privateFile('peer.token', `${randomBytes(24).toString('base64url')}\n`);
const ca = readFileSync(caFile);
const clientAuth = ['--token-file', tokenFile, '--tls-cert', certFile, '--tls-key', keyFile];

afterAll(() => rmSync(secrets, { recursive: true, force: true }));

function framed(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

function controlFrame(json: unknown): Buffer {
  return framed(Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(json))]));
}

/** The hello of the code before the change: 12 bytes, "FLO1" and any member id. */
function helloV1(id: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(0x464c4f31, 0);
  b.writeDoubleLE(id, 4);
  return framed(b);
}

/** Today's hello, claiming member `from`, without knowing the secret. */
function helloV2(from: number, to: number): Buffer {
  const b = Buffer.alloc(52);
  b.writeUInt32LE(0x464c4f32, 0);
  b.writeDoubleLE(from, 4);
  b.writeDoubleLE(to, 12);
  randomBytes(32).copy(b, 20);
  return framed(b);
}

/** Connects to a peer port (plain TCP, or TLS without a client certificate) and reports when the member hangs up. */
async function connect(port: number, useTls: boolean): Promise<{ sock: net.Socket; closed: Promise<void>; isClosed: () => boolean; received: () => number }> {
  const sock: net.Socket = useTls ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : net.connect({ host: '127.0.0.1', port });
  let closed = false;
  let received = 0;
  const closedP = new Promise<void>((r) =>
    sock.once('close', () => {
      closed = true;
      r();
    }),
  );
  sock.on('error', () => undefined);
  sock.on('data', (d: Buffer) => (received += d.length));
  await new Promise<void>((r) => {
    sock.once(useTls ? 'secureConnect' : 'connect', () => r());
    sock.once('close', () => r());
  });
  return { sock, closed: closedP, isClosed: () => closed, received: () => received };
}

function write(sock: net.Socket, data: Buffer): void {
  if (!sock.destroyed) sock.write(data);
}

async function closedWithin(c: { closed: Promise<void> }, ms: number): Promise<boolean> {
  return Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Is a process alive (a zombie is not)? @flotilla/sys's one liveness check. */
const alive = (pid: number): boolean => isProcessAlive(pid);

/** The forged frames of the issue: a write without the token, and the poison transaction. */
const forgedWrite = (r: string) => [
  { t: 'prop', r, e: JSON.stringify({ r, c: { op: 'put', key: 'forged', value: 'no token needed' } }) },
  { t: 'prop', r: `${r}n`, c: { op: 'put', key: 'forged', value: 'no token needed' } },
];
const poison = (r: string) => [
  { t: 'prop', r, e: JSON.stringify({ r, c: { op: 'txn' } }) },
  { t: 'prop', r: `${r}n`, c: { op: 'txn' } },
];

async function attackAll(cluster: FloCluster, useTls: boolean): Promise<void> {
  const ids = [...cluster.members.keys()];
  for (const id of ids) {
    const port = cluster.members.get(id)!.peerPort;
    const other = ids.find((x) => x !== id)!;
    for (const frames of [forgedWrite(`w${id}`), poison(`p${id}`)]) {
      // The old 12-byte hello, then the frames at once (as the attack that worked).
      const v1 = await connect(port, useTls);
      write(v1.sock, Buffer.concat([helloV1(other), ...frames.map(controlFrame)]));
      expect(await closedWithin(v1, 15_000), `member ${id} closes a v1 hello`).toBe(true);
      // Today's hello claiming a member, a made-up proof, then the frames.
      const v2 = await connect(port, useTls);
      write(v2.sock, helloV2(other, id));
      await new Promise((r) => setTimeout(r, 100));
      write(v2.sock, Buffer.concat([framed(Buffer.concat([Buffer.from([0x32, 0x4f, 0x4c, 0x46]), randomBytes(32)])), ...frames.map(controlFrame)]));
      expect(await closedWithin(v2, 15_000), `member ${id} closes a hello without the secret`).toBe(true);
    }
    // A hello from an id that is no member is refused before any challenge.
    const stranger = await connect(port, useTls);
    write(stranger.sock, helloV2(99, id));
    expect(await closedWithin(stranger, 15_000)).toBe(true);
    expect(stranger.received()).toBe(0);
  }
}

async function hugeFrame(cluster: FloCluster, id: number, useTls: boolean): Promise<{ before: number; after: number; closed: boolean }> {
  const pid = cluster.pid(id);
  const before = rssKiB(pid);
  const c = await connect(cluster.members.get(id)!.peerPort, useTls);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(512 * 1024 * 1024 - 1, 0);
  write(c.sock, head);
  // Stream up to 256 MiB of the announced frame, as fast as the member takes it.
  const chunk = Buffer.alloc(1024 * 1024, 0x41);
  for (let sent = 0; sent < 256 && !c.isClosed(); sent++) {
    if (!c.sock.write(chunk)) await Promise.race([new Promise((r) => c.sock.once('drain', r)), c.closed, new Promise((r) => setTimeout(r, 2000))]);
  }
  const closed = await closedWithin(c, 15_000);
  c.sock.destroy();
  return { before, after: rssKiB(pid), closed };
}

async function assertHealthy(cluster: FloCluster, tag: string): Promise<void> {
  for (const id of cluster.members.keys()) expect(alive(cluster.pid(id)), `member ${id} is alive`).toBe(true);
  const client = cluster.client();
  try {
    const rev = await client.put(`healthy/${tag}`, 'yes');
    expect(rev).toBeGreaterThan(1);
    for (const url of cluster.urls()) {
      const one = new KvClient({ endpoints: [url], ...cluster.auth, retryWindowMs: 10_000 });
      try {
        await until(`healthy/${tag} on ${url}`, async () => (await one.get(`healthy/${tag}`, { serializable: true }))?.value === 'yes');
        // The forged write never landed anywhere.
        expect(await one.get('forged', { serializable: true })).toBeUndefined();
      } finally {
        one.close();
      }
    }
  } finally {
    client.close();
  }
  await cluster.waitForLeader();
}

for (const variant of [
  { name: 'peers share --peer-token-file', args: ['--peer-token-file', peerTokenFile], tls: false },
  { name: 'peers use mutual TLS (--tls-ca)', args: ['--tls-ca', caFile], tls: true },
]) {
  describe(`flo server with --token-file and HTTPS, ${variant.name}: forged peer frames are refused`, () => {
    const cluster = new FloCluster({ extraArgs: [...clientAuth, ...variant.args], auth: { token, ca } });
    beforeAll(async () => {
      await cluster.start(3);
    });
    afterAll(async () => {
      await cluster.stop();
    });

    it('a forged write and the poison transaction reach no member, and the cluster stays healthy', async () => {
      await assertHealthy(cluster, 'before');
      await attackAll(cluster, variant.tls);
      await assertHealthy(cluster, 'after');
      // The refusals are logged (the secret is never in the logs).
      const logs = [...cluster.members.keys()].map((id) => cluster.log(id)).join('\n');
      expect(logs).toMatch(variant.tls ? /TLS handshake .* failed/ : /closed the connection from .*(not a Flotilla peer hello|did not prove the peer secret)/);
      expect(logs).toMatch(/claims id 99, which is not a member|TLS handshake/);
      expect(logs).not.toContain(readFileSync(peerTokenFile, 'utf8').trim());
      expect(logs).not.toContain(token);
      // And the members survive a restart: nothing poisoned is in their logs to replay.
      await cluster.kill(1);
      cluster.spawn(1);
      await cluster.waitForLeader();
      await assertHealthy(cluster, 'restarted');
    });

    it('a frame header announcing 512 MiB closes the connection at once; the member does not buffer it', async () => {
      const leader = await cluster.waitForLeader();
      const r = await hugeFrame(cluster, leader, variant.tls);
      expect(r.closed).toBe(true);
      // Before the change the member's RSS grew by the frame it buffered (55 → 466 MB).
      expect(r.after - r.before).toBeLessThan(64 * 1024);
      await assertHealthy(cluster, 'huge');
    });
  });
}

describe('flo server refuses an open peer port when clients must authenticate', () => {
  it('exits 2 naming --peer-token-file and --tls-ca, and starts with either', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-open-peer-'));
    try {
      const [c, p] = await freePorts(2);
      const args = ['server', '--id', '1', '--listen', `127.0.0.1:${c}`, '--peer-listen', `127.0.0.1:${p}`, '--peers', `1=127.0.0.1:${p}`, '--data', path.join(dir, 'm1'), ...clientAuth];
      const refused = await runFlo(args);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/peer port would accept anyone/);
      expect(refused.stderr).toMatch(/--peer-token-file/);
      expect(refused.stderr).toMatch(/--tls-ca/);
      // Nothing listens on the peer port.
      await expect(
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: p! });
          s.on('connect', () => (s.destroy(), reject(new Error('the peer port is open'))));
          s.on('error', resolve);
        }),
      ).resolves.toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--dev-cluster with --token-file still runs: its members share a random peer secret', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-dev-peer-'));
    const base = await freePortRange(6);
    const dev = spawn(process.execPath, [...floCommand(), 'server', '--dev-cluster', '3', '--data', dir, '--listen', `127.0.0.1:${base}`, '--tick-ms', '50', '--token-file', tokenFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    dev.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await until('the dev cluster', () => log.includes('dev cluster of 3 up') || dev.exitCode !== null);
      expect(dev.exitCode, log).toBeNull();
      expect(log).toMatch(/random peer secret/);
      const client = new KvClient({ endpoints: [0, 2, 4].map((i) => `http://127.0.0.1:${base + i}`), token, retryWindowMs: 30_000 });
      try {
        expect(await client.put('dev', 'ok')).toBeGreaterThan(1);
      } finally {
        client.close();
      }
    } finally {
      dev.kill('SIGKILL');
      await new Promise((r) => (dev.exitCode !== null ? r(undefined) : dev.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
