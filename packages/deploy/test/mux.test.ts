// --persist: the frame codec, and the connection daemon with its client in this process. The
// daemon's "ssh" connections here are local transports (a directory is the host), so these
// tests check the daemon's own guarantees; the end-to-end suite runs it against real sshd.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Connection, LocalTransport, withDeployLock, type SshTarget, type Transport } from '../src/index.js';
import { startMuxDaemon, type MuxDaemon } from '../src/mux/index.js';
import { ensureControlDir, listPersisted, openMuxTransport, stopPersisted } from '../src/mux/client.js';
import { encodeFrame, FrameError, FrameReader, type ToDaemon } from '../src/mux/frames.js';

describe('mux frames', () => {
  it('any split of a stream of frames decodes to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string(), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (msgs, cuts) => {
          const frames = msgs.map(([command, bytes], i) => ({ header: { op: 'exec', id: i, command } as unknown as ToDaemon, payload: Buffer.from(bytes) }));
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.header, f.payload)));
          const reader = new FrameReader<ToDaemon>();
          const got: { header: ToDaemon; payload: Buffer }[] = [];
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            got.push(...reader.push(stream.subarray(at, at + n)));
            at += n;
          }
          expect(got.map((g) => g.header)).toEqual(frames.map((f) => f.header));
          expect(got.map((g) => g.payload.toString('hex'))).toEqual(frames.map((f) => f.payload.toString('hex')));
        },
      ),
    );
  });
  it.each([
    ['a length below the header-length field', Buffer.from([0, 0, 0, 2, 0, 0])],
    ['a length over the limit', Buffer.from([0x7f, 0, 0, 0, 0, 0, 0, 0])],
    ['a header longer than its frame', Buffer.from([0, 0, 0, 5, 0, 0, 0, 9, 0x7b])],
    ['a header that is not JSON', Buffer.concat([Buffer.from([0, 0, 0, 6, 0, 0, 0, 2]), Buffer.from('{x')])],
    ['a header without an op', Buffer.concat([Buffer.from([0, 0, 0, 6, 0, 0, 0, 2]), Buffer.from('{}')])],
  ])('rejects %s', (_what, bytes) => {
    expect(() => new FrameReader().push(bytes)).toThrow(FrameError);
  });
});

const root = mkdtempSync(join(tmpdir(), 'flo-mux-'));
let n = 0;
const daemons: MuxDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.close()));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function target(label: string, extra: Partial<SshTarget> = {}): SshTarget {
  return {
    label,
    hostName: `${label}.example`,
    port: 22,
    user: 'deploy',
    identityFiles: [],
    identitiesOnly: false,
    agent: undefined,
    knownHostsFiles: [],
    globalKnownHostsFiles: [],
    strictHostKeyChecking: 'yes',
    connectTimeoutMs: 1000,
    jumps: [],
    ...extra,
  };
}

/** A daemon (started on demand by the client, in this process) whose hosts are directories. */
function setup(options: { failOpen?: (t: SshTarget) => Error | undefined; idleMs?: number; noFileProtocol?: boolean } = {}) {
  const dir = join(root, `ctl-${++n}`);
  const homes = join(root, `homes-${n}`);
  mkdirSync(homes);
  const opened: string[] = [];
  const transports: Transport[] = [];
  let starts = 0;
  const startDaemon = (socketPath: string, idleMs: number): void => {
    starts++;
    void startMuxDaemon({
      socketPath,
      idleMs: options.idleMs ?? idleMs,
      open: (t, o) => {
        opened.push(t.label);
        const err = options.failOpen?.(t);
        if (err) return Promise.reject(err);
        if (o.acceptNewHostKeys) o.onWarning?.(`accepted new host key for ${t.label}`);
        const home = join(homes, t.label);
        mkdirSync(home, { recursive: true });
        const tr: Transport = new LocalTransport(home);
        if (options.noFileProtocol) {
          // Like a server without SFTP: file operations fail with transfer-failed.
          const no = () => Promise.reject(Object.assign(new Error('no SFTP here'), { code: 'transfer-failed', host: t.label }));
          tr.putFile = no;
          tr.getFile = no;
          tr.files = { stat: no, mkdirExclusive: no, createExclusive: no, mkdirp: no, readFile: no, writeFile: no, remove: no };
        }
        transports.push(tr);
        return Promise.resolve(tr);
      },
    }).then((d) => daemons.push(d));
  };
  const connect = (label: string, extra: { acceptNewHostKeys?: boolean; onWarning?: (m: string) => void; signal?: AbortSignal } = {}) =>
    new Connection(label, (signal) => openMuxTransport(target(label), { controlDir: dir, persistMs: 60_000, startDaemon, ...extra }, signal ?? extra.signal));
  return { dir, homes, opened, transports, connect, starts: () => starts };
}

describe('connection daemon (--persist)', { timeout: 30_000 }, () => {
  it('runs commands: stdout, stderr, exit codes, stdin from a buffer and a stream', async () => {
    const s = setup();
    const c = s.connect('web1');
    expect(await c.run('echo out; echo err >&2', { hide: true })).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 0 });
    await expect(c.run('exit 3', { hide: true })).rejects.toMatchObject({ code: 'command-failed', result: { exitCode: 3 } });
    expect((await c.run('exit 4', { hide: true, warn: true })).exitCode).toBe(4);
    const big = Buffer.alloc(300_000, 'x');
    expect((await c.run('wc -c', { input: big, hide: true })).stdout.trim()).toBe('300000');
    // An argument full of metacharacters arrives verbatim (quoting happens before the daemon).
    const weird = `a'b"c $(touch pwned) ; | & \\ \``;
    expect((await c.run(`printf %s ${(await import('../src/index.js')).shellQuote(weird)}`, { hide: true })).stdout).toBe(weird);
    expect(existsSync(join(s.homes, 'web1', 'pwned'))).toBe(false);
    await c.close();
  });

  it('one daemon and one connection per target, reused by later connections; another host-key policy gets its own', async () => {
    const s = setup();
    const a = s.connect('web1');
    await a.run('true', { hide: true });
    await a.close();
    const b = s.connect('web1');
    await b.run('true', { hide: true });
    expect(s.opened).toEqual(['web1']);
    const warnings: string[] = [];
    const accepting = s.connect('web1', { acceptNewHostKeys: true, onWarning: (m) => warnings.push(m) });
    await accepting.run('true', { hide: true });
    expect(s.opened).toEqual(['web1', 'web1']);
    expect(warnings).toEqual(['accepted new host key for web1']);
    await s.connect('web2').run('true', { hide: true });
    expect(s.starts()).toBe(1);
    expect((await listPersisted({ controlDir: s.dir }))?.map((x) => x.label).sort()).toEqual(['web1', 'web1', 'web2']);
  });

  it('an open failure reaches the caller as the same error, and the next command tries again', async () => {
    let fail = true;
    const s = setup({ failOpen: () => (fail ? Object.assign(new Error('cannot connect to db1: connect ECONNREFUSED'), { code: 'connect-failed', host: 'db1' }) : undefined) });
    const c = s.connect('db1');
    await expect(c.run('true', { hide: true })).rejects.toMatchObject({ name: 'DeployError', code: 'connect-failed', host: 'db1', message: expect.stringMatching(/ECONNREFUSED/) });
    fail = false;
    expect((await c.run('echo ok', { hide: true })).stdout).toBe('ok\n');
    expect(s.opened).toEqual(['db1', 'db1']);
  });

  it.each([
    ['file operations run in the daemon (it reads and writes the local files itself)', false],
    ['without a file protocol on the host, commands carry the bytes (streamed cat, set -C)', true],
  ])('uploads, downloads and the deploy lock: %s', async (_what, noFileProtocol) => {
    const s = setup({ noFileProtocol });
    const c = s.connect('web1');
    const local = join(root, `art-${n}.bin`);
    writeFileSync(local, Buffer.alloc(200_000, 7));
    await c.run('mkdir -p app', { hide: true });
    const progress: number[] = [];
    expect(await c.put(local, 'app/art.bin', { onProgress: (b) => progress.push(b) })).toMatchObject({ skipped: false });
    expect(readFileSync(join(s.homes, 'web1', 'app/art.bin')).equals(readFileSync(local))).toBe(true);
    expect(progress.at(-1)).toBe(200_000);
    expect(await c.put(local, 'app/art.bin')).toMatchObject({ skipped: true });
    const back = join(root, `back-${n}.bin`);
    await c.get('app/art.bin', back);
    expect(readFileSync(back).equals(readFileSync(local))).toBe(true);
    // A file too big to hold in memory is streamed from disk.
    const large = join(root, `large-${n}.bin`);
    writeFileSync(large, Buffer.alloc(70 << 20, 3));
    expect(await c.put(large, 'app/large.bin')).toMatchObject({ skipped: false });
    expect(statSync(join(s.homes, 'web1', 'app/large.bin')).size).toBe(70 << 20);
    const other = s.connect('web1');
    let inside = false;
    await withDeployLock(c, async () => {
      inside = true;
      await expect(withDeployLock(other, () => Promise.resolve(1))).rejects.toMatchObject({ code: 'deploy-locked' });
    });
    expect(inside).toBe(true);
    expect(await withDeployLock(other, () => Promise.resolve(2))).toBe(2);
  });

  it('many streamed inputs at once share the socket without piling up listeners (putDir to 20 hosts)', async () => {
    const s = setup();
    const src = join(root, `tree-${n}`);
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'blob'), Buffer.alloc(2 << 20, 5));
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const hosts = Array.from({ length: 20 }, (_, i) => s.connect(`h${i}`));
      await Promise.all(hosts.map((c) => c.putDir(src, 'tree')));
      for (let i = 0; i < 20; i++) expect(statSync(join(s.homes, `h${i}`, 'tree', 'sub', 'blob')).size).toBe(2 << 20);
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('an abort kills the remote command', async () => {
    const s = setup();
    const ac = new AbortController();
    const c = s.connect('web1');
    await c.run('true', { hide: true });
    const running = c.run('echo started; sleep 20; touch late', { hide: true, signal: ac.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    expect(await running).toMatchObject({ code: 'aborted' });
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(join(s.homes, 'web1', 'late'))).toBe(false);
  });

  it('a connection that died is replaced on the next command; a command on it fails with connection-lost', async () => {
    const s = setup();
    const c = s.connect('web1');
    await c.run('true', { hide: true });
    // The daemon's connection dies (as on a keepalive timeout).
    const t = s.transports[0]!;
    (t as { isOpen?: () => boolean }).isOpen = () => false;
    await expect(c.run('true', { hide: true })).rejects.toMatchObject({ code: 'connection-lost' });
    expect((await c.run('echo again', { hide: true })).stdout).toBe('again\n');
    expect(s.opened).toEqual(['web1', 'web1']);
  });

  it('when the daemon goes away, commands in flight fail with connection-lost and the next one starts a new daemon', async () => {
    const s = setup();
    const c = s.connect('web1');
    await c.run('true', { hide: true });
    const running = c.run('sleep 20', { hide: true }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    expect(await stopPersisted({ controlDir: s.dir })).toBe(true);
    expect(await running).toMatchObject({ code: 'connection-lost' });
    expect((await c.run('echo back', { hide: true })).stdout).toBe('back\n');
    expect(s.starts()).toBe(2);
    expect(await stopPersisted({ controlDir: s.dir })).toBe(true);
    expect(await stopPersisted({ controlDir: s.dir })).toBe(false);
    expect(await listPersisted({ controlDir: s.dir })).toBeUndefined();
  });

  it('exits after idleMs with no client, closing its connections and removing its socket', async () => {
    const s = setup({ idleMs: 300 });
    const c = s.connect('web1');
    await c.run('true', { hide: true });
    await c.close();
    // The client's socket to the daemon stays open while this process lives; a new flo
    // process would have none. Drop it the way a process exit would.
    await stopPersisted({ controlDir: s.dir }).then(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(s.dir, 'mux.sock'))).toBe(false);
  });

  it('a daemon of another flo version is stopped (by its pid) and replaced; disconnect stops one too', async () => {
    const s = setup();
    ensureControlDir(s.dir);
    const socketPath = join(s.dir, 'mux.sock');
    // An "old" daemon in its own process: answers hello with version 0 and its pid, then closes;
    // exits on SIGTERM (removing its socket, as the real one does).
    const old = (): ChildProcess => {
      const child = spawn(process.execPath, [
        '-e',
        `const net = require('net'); const fs = require('fs');
         const frame = (h) => { const b = Buffer.from(JSON.stringify(h)); const o = Buffer.alloc(8 + b.length); o.writeUInt32BE(4 + b.length, 0); o.writeUInt32BE(b.length, 4); b.copy(o, 8); return o; };
         const srv = net.createServer((c) => { c.once('data', () => { c.end(frame({ op: 'hello', version: 0, pid: process.pid })); }); });
         srv.listen(${JSON.stringify(socketPath)}, () => process.stdout.write('up'));
         process.on('SIGTERM', () => { srv.close(); process.exit(0); });`,
      ]);
      return child;
    };
    const first = old();
    await new Promise((r) => first.stdout!.once('data', r));
    const exited = new Promise((r) => first.once('exit', r));
    const c = s.connect('web1');
    expect((await c.run('echo new', { hide: true })).stdout).toBe('new\n');
    await exited;
    expect(s.starts()).toBe(1);
    // disconnect against an old daemon stops it too.
    await stopPersisted({ controlDir: s.dir });
    const second = old();
    await new Promise((r) => second.stdout!.once('data', r));
    const exited2 = new Promise((r) => second.once('exit', r));
    await expect(listPersisted({ controlDir: s.dir })).rejects.toMatchObject({ code: 'connect-failed', message: expect.stringMatching(/speaks version 0.*flo disconnect/) });
    expect(await stopPersisted({ controlDir: s.dir })).toBe(true);
    await exited2;
  });

  it('a second daemon on a live socket is refused; a stale socket file is replaced', async () => {
    const dir = join(root, `ctl-${++n}`);
    ensureControlDir(dir);
    const socketPath = join(dir, 'mux.sock');
    const first = await startMuxDaemon({ socketPath, idleMs: 60_000, open: () => Promise.reject(new Error('unused')) });
    daemons.push(first);
    await expect(startMuxDaemon({ socketPath, idleMs: 60_000 })).rejects.toMatchObject({ code: 'connect-failed', message: expect.stringMatching(/already answers/) });
    // A daemon killed without cleaning up leaves its socket file behind.
    const stalePath = join(dir, 'stale.sock');
    const killed = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(stalePath)).toBe(true);
    const second = await startMuxDaemon({ socketPath: stalePath, idleMs: 60_000, open: () => Promise.reject(new Error('unused')) });
    daemons.push(second);
    await second.close();
    expect(existsSync(stalePath)).toBe(false);
    expect(await listPersisted({ controlDir: dir })).toEqual([]);
  });
});

describe('control directory checks', () => {
  it('creates a missing directory with mode 0700', () => {
    const dir = join(root, `fresh-${++n}`, 'ctl');
    ensureControlDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // Checking it again is fine.
    expect(() => ensureControlDir(dir)).not.toThrow();
  });
  it('refuses a directory other users can enter', () => {
    const dir = join(root, `open-${++n}`);
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    expect(() => ensureControlDir(dir)).toThrow(/open to other users \(mode 755\).*mode 700/);
  });
  it('refuses a symlink', () => {
    const real = join(root, `real-${++n}`);
    mkdirSync(real, { mode: 0o700 });
    const link = join(root, `link-${n}`);
    symlinkSync(real, link);
    expect(() => ensureControlDir(link)).toThrow(/not a directory/);
  });
  it.runIf(process.getuid?.() === 0)('refuses a directory owned by another user (needs root to chown; runs in CI)', () => {
    const dir = join(root, `theirs-${++n}`);
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    expect(() => ensureControlDir(dir)).toThrow(/belongs to uid 65534/);
  });
});
