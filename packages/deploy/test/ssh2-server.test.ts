// The ssh2 adapter against an in-process ssh2 server on an ephemeral port (fast; the real
// OpenSSH server is exercised by the end-to-end suites).
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection, formatKnownHostsLine, isHostKeyError, knownHostsName, parseSshConfig, withDeployLock } from '../src/index.js';

const { Server, utils } = ssh2;
const dir = mkdtempSync(join(tmpdir(), 'flo-ssh2-'));
const hostKey = utils.generateKeyPairSync('ed25519');
const otherHostKey = utils.generateKeyPairSync('ed25519');
const clientKey = utils.generateKeyPairSync('ed25519', { passphrase: 'open sesame', cipher: 'aes256-ctr', rounds: 4 });
const identity = join(dir, 'id');
writeFileSync(identity, clientKey.private, { mode: 0o600 });
const allowed = utils.parseKey(clientKey.public) as ssh2.ParsedKey;
const hostBlob = (utils.parseKey(hostKey.public) as ssh2.ParsedKey).getPublicSSH();
const otherBlob = (utils.parseKey(otherHostKey.public) as ssh2.ParsedKey).getPublicSSH();

let port = 0;
let connections = 0;
/** The server side of every connection, newest last (tests cut them to simulate a lost link). */
const serverSides: ssh2.Connection[] = [];
const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
  connections++;
  serverSides.push(client);
  client.on('error', () => undefined);
  client.on('authentication', (ctx) => {
    if (ctx.method === 'publickey' && ctx.key.data.equals(allowed.getPublicSSH())) {
      if (ctx.signature && allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject();
      return ctx.accept();
    }
    ctx.reject(['publickey']);
  });
  client.on('ready', () => {
    client.on('session', (accept) => {
      const session = accept();
      // No sftp subsystem: uploads must fall back to the streamed copy.
      session.on('sftp', (_accept, reject) => reject());
      session.on('exec', (acceptExec, _reject, info) => {
        const stream = acceptExec();
        const child = spawn('/bin/sh', ['-c', info.command], { cwd: dir, env: { ...process.env, HOME: dir } });
        stream.pipe(child.stdin);
        child.stdout.pipe(stream, { end: false });
        child.stderr.pipe(stream.stderr, { end: false });
        child.on('close', (code) => {
          stream.exit(code ?? 255);
          stream.end();
        });
      });
    });
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server.close();
});

let passphraseAsks = 0;
const passphrase = (file: string): Promise<string> => {
  passphraseAsks++;
  expect(file).toBe(identity);
  return Promise.resolve('open sesame');
};

function conn(knownHosts: string, extra: Record<string, unknown> = {}, config = '') {
  const kh = join(dir, `kh-${Math.random().toString(36).slice(2)}`);
  writeFileSync(kh, knownHosts);
  const sshConfig = parseSshConfig(`Host 127.0.0.1\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n${config}`, { home: dir });
  const warnings: string[] = [];
  const c = Connection.ssh(`tester@127.0.0.1:${port}`, { sshConfig, identityFiles: [identity], home: dir, passphrase, onWarning: (w) => warnings.push(w), ...extra });
  return { c, kh, warnings };
}

// Generous limits: on a loaded shared machine a handshake can stall for seconds.
describe('ssh2 adapter: host keys', { timeout: 90_000 }, () => {
  it('refuses an unknown host key and leaves known_hosts alone', async () => {
    const { c, kh } = conn('');
    const e = await c.run('true').catch((x: unknown) => x);
    expect(isHostKeyError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'host-key-unknown', message: expect.stringMatching(/--accept-new-host-keys/) });
    expect(readFileSync(kh, 'utf8')).toBe('');
  });

  it('--accept-new-host-keys records the key as [host]:port; later connections verify against it', async () => {
    const { c, kh, warnings } = conn('', { acceptNewHostKeys: true });
    expect((await c.run('echo ok')).stdout).toBe('ok\n');
    await c.close();
    expect(readFileSync(kh, 'utf8')).toBe(`${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`);
    expect(warnings.join()).toMatch(/accepted new host key/);
    const again = Connection.ssh(`tester@127.0.0.1:${port}`, {
      sshConfig: parseSshConfig(`Host *\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n`, { home: dir }),
      identityFiles: [identity],
      home: dir,
      passphrase,
    });
    expect((await again.run('echo again')).stdout).toBe('again\n');
    await again.close();
  });

  it('refuses a changed host key, even with --accept-new-host-keys or StrictHostKeyChecking no', async () => {
    for (const [extra, cfg] of [[{ acceptNewHostKeys: true }, ''], [{}, '  StrictHostKeyChecking no\n']] as const) {
      const { c } = conn(`${formatKnownHostsLine(knownHostsName('127.0.0.1', port), otherBlob)}\n`, extra, cfg);
      await expect(c.run('true')).rejects.toMatchObject({ code: 'host-key-changed', message: expect.stringMatching(/HOST KEY CHANGED/) });
    }
  });

  it('StrictHostKeyChecking no accepts a new key with a warning', async () => {
    const { c, warnings } = conn('', {}, '  StrictHostKeyChecking no\n');
    expect((await c.run('echo hi')).exitCode).toBe(0);
    expect(warnings.join()).toMatch(/StrictHostKeyChecking no/);
    await c.close();
  });
});

describe('ssh2 adapter: commands and transfers', { timeout: 90_000 }, () => {
  it('reuses one connection for every command and returns exit codes and stderr', async () => {
    const { c } = conn(`${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`);
    const before = connections;
    const results = await Promise.all([c.run('echo a'), c.run('echo b >&2; exit 2', { warn: true }), c.run('cat', { input: 'in' })]);
    expect(results.map((r) => [r.stdout, r.stderr, r.exitCode])).toEqual([
      ['a\n', '', 0],
      ['', 'b\n', 2],
      ['in', '', 0],
    ]);
    expect(connections - before).toBe(1);
    await c.close();
  });

  it('falls back to a streamed upload when the server has no SFTP', async () => {
    const { c } = conn(`${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`);
    const src = join(dir, 'upload.txt');
    writeFileSync(src, 'streamed\n');
    const r = await c.put(src, 'dest.txt', { mode: 0o600 });
    expect(r.skipped).toBe(false);
    expect(readFileSync(join(dir, 'dest.txt'), 'utf8')).toBe('streamed\n');
    expect((await c.put(src, 'dest.txt')).skipped).toBe(true);
    await expect(c.put(src, 'x.txt', { method: 'sftp' })).rejects.toMatchObject({ code: 'transfer-failed' });
    await c.get('dest.txt', join(dir, 'back.txt'));
    expect(readFileSync(join(dir, 'back.txt'), 'utf8')).toBe('streamed\n');
    await c.close();
  });

  it('an encrypted private key: the passphrase is asked once per key file for the whole process', () => {
    expect(passphraseAsks).toBe(1);
  });

  it('the deploy lock falls back to sh (set -C) when SFTP is unavailable', async () => {
    const { c } = conn(`${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`);
    let release!: () => void;
    const holding = withDeployLock(c, () => new Promise<void>((r) => (release = r)), { owner: 'first-owner' });
    for (let i = 0; i < 200 && (await c.run('test -f .flotilla/locks/deploy', { warn: true })).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    await expect(withDeployLock(c, () => Promise.resolve(1))).rejects.toMatchObject({ code: 'deploy-locked', message: expect.stringMatching(/first-owner/) });
    release();
    await holding;
    expect(await withDeployLock(c, () => Promise.resolve(2))).toBe(2);
    await c.close();
  });

  it('reports a refused identity as a connect failure', async () => {
    const stranger = join(dir, 'stranger');
    writeFileSync(stranger, utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    const kh = join(dir, 'kh-auth');
    writeFileSync(kh, `${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`);
    const c = Connection.ssh(`tester@127.0.0.1:${port}`, {
      sshConfig: parseSshConfig(`Host *\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n  IdentitiesOnly yes\n`, { home: dir }),
      identityFiles: [stranger],
      home: dir,
    });
    await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed', message: expect.stringMatching(/authentication failed/) });
  });

  it('skips an identity file that group or others can read, with the chmod 600 fix, as OpenSSH does', async () => {
    const loose = join(dir, 'loose');
    writeFileSync(loose, clientKey.private);
    chmodSync(loose, 0o644);
    const kh = join(dir, 'kh-loose');
    writeFileSync(kh, `${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`);
    const open = (warnings: string[], key = loose) =>
      Connection.ssh(`tester@127.0.0.1:${port}`, {
        sshConfig: parseSshConfig(`Host *\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n  IdentitiesOnly yes\n`, { home: dir }),
        identityFiles: [key],
        home: dir,
        passphrase: 'open sesame',
        onWarning: (w) => warnings.push(w),
      });
    const warnings: string[] = [];
    await expect(open(warnings).run('true')).rejects.toMatchObject({ code: 'connect-failed' });
    expect(warnings.join('\n')).toContain(`skipping identity ${loose}`);
    expect(warnings.join('\n')).toContain(`chmod 600 ${loose}`);
    // the same key, private (a fresh name: a process reads each identity file once)
    const tight = join(dir, 'tight');
    writeFileSync(tight, clientKey.private, { mode: 0o600 });
    const c = open([], tight);
    expect((await c.run('echo ok')).stdout).toBe('ok\n');
    await c.close();
  });
});

describe('ssh2 adapter: lost connections', { timeout: 90_000 }, () => {
  const knownHosts = (): string => `${formatKnownHostsLine(knownHostsName('127.0.0.1', port), hostBlob)}\n`;
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    if (!ok()) throw new Error(`timed out waiting for ${what}`);
  };

  it('a host that accepts TCP but never answers: the connect fails once, and the later ssh2 errors are handled', async () => {
    const held: Socket[] = [];
    const silent = createServer((sock) => held.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const silentPort = (silent.address() as { port: number }).port;
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const c = Connection.ssh(`tester@127.0.0.1:${silentPort}`, {
        sshConfig: parseSshConfig(`Host *\n  GlobalKnownHostsFile none\n`, { home: dir }),
        identityFiles: [identity],
        home: dir,
        passphrase,
        connectTimeoutMs: 200,
      });
      await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed', message: expect.stringMatching(/handshake/) });
      // ssh2 follows the timeout with "Connection lost before handshake" once the socket closes.
      await new Promise((r) => setTimeout(r, 300));
      expect(uncaught).toEqual([]);
      // The next command tries again (and fails the same way).
      await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed' });
      await c.close();
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  // The TCP connection is started before ssh2 is loaded (so the server works while the module
  // loads); a socket that fails or closes before ssh2 takes it over must still fail the connect
  // promptly with ssh2's own words, and leave nothing behind.
  it('a refused port fails the connect at once (ECONNREFUSED), not after the connect timeout', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const c = Connection.ssh(`tester@127.0.0.1:${closedPort}`, {
      sshConfig: parseSshConfig(`Host *\n  GlobalKnownHostsFile none\n`, { home: dir }),
      identityFiles: [identity],
      home: dir,
      passphrase,
      connectTimeoutMs: 60_000,
    });
    const started = process.hrtime.bigint();
    await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed', message: expect.stringMatching(/ECONNREFUSED/) });
    // Well under the 60 s connect timeout: the failure was not left to the timer.
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(30);
    await c.close();
  });

  it('a server that closes the TCP connection at once fails the connect, and the next command retries', async () => {
    let accepted = 0;
    const closer = createServer((sock) => {
      accepted++;
      sock.destroy();
    });
    await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', () => resolve()));
    const closerPort = (closer.address() as { port: number }).port;
    try {
      const c = Connection.ssh(`tester@127.0.0.1:${closerPort}`, {
        sshConfig: parseSshConfig(`Host *\n  GlobalKnownHostsFile none\n`, { home: dir }),
        identityFiles: [identity],
        home: dir,
        passphrase,
        connectTimeoutMs: 60_000,
      });
      await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed' });
      await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed' });
      expect(accepted).toBeGreaterThanOrEqual(2);
      await c.close();
    } finally {
      closer.close();
    }
  });

  it('an abort while connecting closes the early TCP connection', async () => {
    const held: Socket[] = [];
    let serverSawClose = false;
    const silent = createServer((sock) => {
      held.push(sock);
      sock.resume();
      sock.on('error', () => undefined);
      sock.on('close', () => (serverSawClose = true));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const ac = new AbortController();
      const c = Connection.ssh(`tester@127.0.0.1:${silentPort}`, {
        sshConfig: parseSshConfig(`Host *\n  GlobalKnownHostsFile none\n`, { home: dir }),
        identityFiles: [identity],
        home: dir,
        passphrase,
        connectTimeoutMs: 60_000,
        signal: ac.signal,
      });
      const running = c.run('true').catch((e: unknown) => e);
      await until('the server to accept', () => held.length === 1);
      ac.abort();
      expect(await running).toMatchObject({ code: 'aborted' });
      await until('the client side to close', () => serverSawClose);
      await c.close();
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('after the connection dies, the next command opens a new one; a command in flight fails with connection-lost', async () => {
    const { c } = conn(knownHosts());
    expect((await c.run('echo one')).stdout).toBe('one\n');
    const first = serverSides.at(-1)!;
    const before = connections;
    // The link dies between commands.
    first.end();
    const t1 = await c.transport();
    await until('the client to notice the closed connection', () => t1.isOpen?.() === false);
    expect((await c.run('echo two')).stdout).toBe('two\n');
    expect(connections - before).toBe(1);
    // The link dies while a command runs.
    const running = c.run('sleep 30', { hide: true });
    await until('the command to start', () => serverSides.length > 0 && connections - before === 1);
    await new Promise((r) => setTimeout(r, 100));
    serverSides.at(-1)!.end();
    const e = await running.catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'connection-lost', message: expect.stringMatching(/lost while running: sleep 30/) });
    expect((await c.run('echo three')).stdout).toBe('three\n');
    expect(connections - before).toBe(2);
    await c.close();
  });
});
