// Issue 17, secured stores: the built `flo` against real secured stores — `flo server` with
// --token-file (plain http, then https with --tls-*), etcd with TLS and client certificates,
// and etcd with authentication on (user root) — through --store-token-file, --store-ca,
// --store-cert/--store-key, their FLO_STORE_* variables, and etcd://user:password@ URLs.
// A missing or wrong credential is one line and exit 1 (never a hang); a secret is never printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FloCluster, freePorts, runFlo, until } from './kv-harness.js';

const fixtures = fileURLToPath(new URL('../../../../packages/raft/test/fixtures/tls/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'flo-store-secured-'));
function privateFile(name: string, content?: string): string {
  const to = path.join(dir, name);
  if (content === undefined) copyFileSync(path.join(fixtures, name), to);
  else writeFileSync(to, content);
  chmodSync(to, 0o600);
  return to;
}
const ca = privateFile('ca.crt');
const cert = privateFile('member.crt');
const key = privateFile('member.key');
const token = randomBytes(18).toString('base64url');
const tokenFile = privateFile('client.token', `${token}\n`);
const wrongToken = randomBytes(18).toString('base64url');
const wrongTokenFile = privateFile('wrong.token', `${wrongToken}\n`);
const peerTokenFile = privateFile('peer.token', `${randomBytes(24).toString('base64url')}\n`);
const manifest = path.join(dir, 'hosts.yaml');
writeFileSync(manifest, 'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: secured-h1, labels: {zone: a}}\nspec: {local: {dir: ./h1}}\n');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every line flo wrote, with the request timeout short so that a hang would show as a failure, not a stall. */
async function flo(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runFlo([...args, '--request-timeout', '20'], { env });
}

function hostNames(stdout: string): string[] {
  return (JSON.parse(stdout) as { items: { name: string }[] }).items.map((i) => i.name);
}

describe('flo against a flo server with --token-file (http) and with --token-file and TLS (https)', () => {
  const plain = new FloCluster({ extraArgs: ['--token-file', tokenFile, '--peer-token-file', peerTokenFile], auth: { token } });
  const tls = new FloCluster({ extraArgs: ['--token-file', tokenFile, '--peer-token-file', peerTokenFile, '--tls-cert', cert, '--tls-key', key], auth: { token, ca: readFileSync(ca) } });
  beforeAll(async () => {
    await plain.start(1);
    await tls.start(1);
  });
  afterAll(async () => {
    await plain.stop();
    await tls.stop();
  });
  const storeOf = (c: FloCluster) => `flotilla://127.0.0.1:${c.members.get(1)!.clientPort}`;

  it('the token from --store-token-file (http), or $FLO_STORE_TOKEN_FILE: apply, get, kv', async () => {
    const applied = await flo(['apply', '-f', manifest, '--store', storeOf(plain), '--store-token-file', tokenFile]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const got = await flo(['get', 'hosts', '-o', 'json', '--store', storeOf(plain)], { FLO_STORE_TOKEN_FILE: tokenFile });
    expect(got.code).toBe(0);
    expect(hostNames(got.stdout)).toEqual(['secured-h1']);
    expect(await flo(['kv', 'put', 'k', 'v', '--endpoints', plain.url(1), '--store-token-file', tokenFile])).toMatchObject({ code: 0 });
    expect(await flo(['kv', 'get', 'k', '--endpoints', plain.url(1)], { FLO_STORE_TOKEN_FILE: tokenFile })).toMatchObject({ code: 0, stdout: 'v\n' });
    // the older spelling keeps working
    expect(await flo(['kv', 'get', 'k', '--endpoints', plain.url(1), '--token-file', tokenFile])).toMatchObject({ code: 0, stdout: 'v\n' });
  });

  it('https with --store-ca (or $FLO_STORE_CA), and a client certificate with --store-cert/--store-key', async () => {
    const applied = await flo(['apply', '-f', manifest, '--store', storeOf(tls), '--store-token-file', tokenFile, '--store-ca', ca]);
    expect(applied.code).toBe(0);
    const got = await flo(['get', 'hosts', '-o', 'json', '--store', storeOf(tls)], { FLO_STORE_TOKEN_FILE: tokenFile, FLO_STORE_CA: ca, FLO_STORE_CERT: cert, FLO_STORE_KEY: key });
    expect(got.code).toBe(0);
    expect(hostNames(got.stdout)).toEqual(['secured-h1']);
    // flo kv: a bare HOST:PORT is https when a CA is given
    const hostPort = tls.url(1).slice('https://'.length);
    expect(await flo(['kv', 'put', 'k', 'tls', '--endpoints', hostPort, '--store-ca', ca, '--store-token-file', tokenFile])).toMatchObject({ code: 0 });
    expect(await flo(['kv', 'get', 'k', '--endpoints', tls.url(1), '--tls-ca', ca, '--store-token-file', tokenFile])).toMatchObject({ code: 0, stdout: 'tls\n' });
    const check = await flo(['store', 'check', '--store', storeOf(tls), '--store-token-file', tokenFile, '--store-ca', ca]);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/status\s+ok/);
  });

  it.each([
    ['no token', [] as string[], /a valid bearer token is required.*Give the store's token: --store-token-file FILE/],
    ['a wrong token', ['--store-token-file', wrongTokenFile], /bearer token is required/],
  ])('%s: one line on stderr, exit 1, for cluster commands and flo kv', async (_what, extra, message) => {
    for (const args of [
      ['get', 'hosts', '--store', storeOf(plain), ...extra],
      ['kv', 'get', 'k', '--endpoints', plain.url(1), ...extra],
      ['get', 'hosts', '--store', storeOf(tls), '--store-ca', ca, ...extra],
    ]) {
      const r = await flo(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr + r.stdout).not.toContain(wrongToken);
      expect(r.stderr + r.stdout).not.toContain(token);
    }
  });

  it('https without the CA: the certificate is not trusted, said at once with the fix', async () => {
    const r = await flo(['get', 'hosts', '--store', storeOf(tls), '--store-token-file', tokenFile, '--store-cert', cert, '--store-key', key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TLS handshake failed: .*--store-ca FILE/);
    const k = await flo(['kv', 'get', 'k', '--endpoints', tls.url(1), '--store-token-file', tokenFile]);
    expect(k.code).toBe(1);
    expect(k.stderr).toMatch(/TLS handshake failed: .*--store-ca FILE/);
  });

  it('plain http to the https member: the hint says to give the CA', async () => {
    const r = await runFlo(['kv', 'get', 'k', '--endpoints', `http://127.0.0.1:${tls.members.get(1)!.clientPort}`, '--store-token-file', tokenFile, '--request-timeout', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/If the store is served over https, give its CA: --store-ca FILE/);
  });

  it('credential files: a readable key or token is refused (exit 2); a missing file or a lone --store-cert is a usage error naming the option', async () => {
    const open = path.join(dir, 'open.token');
    writeFileSync(open, token);
    chmodSync(open, 0o644);
    const r = await flo(['get', 'hosts', '--store', storeOf(plain), '--store-token-file', open]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--store-token-file: .* too open: .*chmod 600/);
    expect(r.stderr).not.toContain(token);
    const env = await flo(['get', 'hosts', '--store', storeOf(plain)], { FLO_STORE_KEY: open, FLO_STORE_CERT: cert });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/\$FLO_STORE_KEY: .* too open/);
    expect(await flo(['get', 'hosts', '--store', storeOf(tls), '--store-ca', path.join(dir, 'missing.crt')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--store-ca .*missing\.crt: no such file/) });
    expect(await flo(['kv', 'get', 'k', '--store-cert', cert])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--store-cert needs --store-key/) });
  });
});

interface Etcd {
  endpoint: string;
  proc: ChildProcess;
  log: () => string;
}

const etcdMissing = spawnSync('etcd', ['--version']).status !== 0;
if (etcdMissing && process.env.CI === 'true') throw new Error('CI=true but etcd is not installed (apt-get install -y etcd-server)');
if (etcdMissing) process.stderr.write('\n*** etcd is not installed (apt-get install -y etcd-server): SKIPPING the secured etcd tests ***\n\n');

/** A real etcd on 127.0.0.1 (the fixtures' certificate names it), never on etcd's default ports. */
async function startEtcd(name: string, tls: boolean): Promise<Etcd> {
  const [client, peer] = await freePorts(2);
  const scheme = tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${client}`;
  const args = [
    '--name', name,
    '--data-dir', path.join(dir, `etcd-${name}`),
    '--listen-client-urls', url,
    '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `${name}=http://127.0.0.1:${peer}`,
    '--log-level', 'error',
    ...(tls ? ['--cert-file', cert, '--key-file', key, '--trusted-ca-file', ca, '--client-cert-auth'] : []),
  ];
  const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const endpoint = `127.0.0.1:${client}`;
  await until(`etcd ${name} on ${endpoint}`, async () => {
    if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${log}`);
    if (tls) return (await runFlo(['store', 'check', '--store', `etcd://${endpoint}`, '--store-ca', ca, '--store-cert', cert, '--store-key', key, '--request-timeout', '5'])).code === 0;
    try {
      return (await fetch(`${url}/health`)).ok;
    } catch {
      return false;
    }
  });
  return { endpoint, proc, log: () => log };
}

async function stopEtcd(e: Etcd | undefined): Promise<void> {
  if (e?.proc.exitCode !== null || e.proc.signalCode !== null) return;
  const exited = new Promise((r) => e.proc.once('exit', r));
  e.proc.kill('SIGTERM');
  await exited;
}

describe.skipIf(etcdMissing)('flo against etcd with TLS (client certificates required) and with authentication', () => {
  let tlsEtcd: Etcd | undefined;
  let authEtcd: Etcd | undefined;
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  beforeAll(async () => {
    tlsEtcd = await startEtcd('tls', true);
    authEtcd = await startEtcd('auth', false);
    // etcdctl user add root; etcdctl auth enable — through the etcd3 client (Debian's etcd-server has no etcdctl)
    const { Etcd3 } = await import('etcd3');
    const admin = new Etcd3({ hosts: `http://${authEtcd.endpoint}` });
    try {
      await admin.role('root').create();
      await admin.user('root').create(password);
      await admin.user('root').addRole('root');
      await admin.auth.authEnable({});
    } finally {
      admin.close();
    }
  });
  afterAll(async () => {
    await stopEtcd(tlsEtcd);
    await stopEtcd(authEtcd);
  });

  it('TLS: --store-ca with --store-cert/--store-key (or FLO_STORE_*): apply and get; nothing on stderr', async () => {
    const store = `etcd://${tlsEtcd!.endpoint}`;
    const applied = await flo(['apply', '-f', manifest, '--store', store, '--store-ca', ca, '--store-cert', cert, '--store-key', key]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const got = await flo(['get', 'hosts', '-o', 'json', '--store', store], { FLO_STORE_CA: ca, FLO_STORE_CERT: cert, FLO_STORE_KEY: key });
    expect(got.code).toBe(0);
    expect(hostNames(got.stdout)).toEqual(['secured-h1']);
  });

  it('TLS: without a client certificate, or without the CA, one line and exit 1 with the fix', async () => {
    const store = `etcd://${tlsEtcd!.endpoint}`;
    const noCert = await flo(['get', 'hosts', '--store', store, '--store-ca', ca]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr.trim().split('\n')).toHaveLength(1);
    expect(noCert.stderr).toMatch(/client certificate .*--store-cert FILE --store-key FILE/);
    const noTls = await flo(['get', 'hosts', '--store', store]);
    expect(noTls.code).toBe(1);
    expect(noTls.stderr).toMatch(/If etcd serves TLS, give its CA: --store-ca FILE/);
  });

  it('auth: etcd://root:PASSWORD@ (or in $FLO_STORE) works; the password is never printed', async () => {
    const store = `etcd://root:${password}@${authEtcd!.endpoint}`;
    const applied = await flo(['apply', '-f', manifest, '--store', store]);
    expect(applied.code).toBe(0);
    expect(applied.stdout + applied.stderr).not.toContain(password);
    const got = await flo(['get', 'hosts', '-o', 'json'], { FLO_STORE: store });
    expect(got.code).toBe(0);
    expect(hostNames(got.stdout)).toEqual(['secured-h1']);
    const check = await flo(['store', 'check', '--store', store]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`etcd://root:***@${authEtcd!.endpoint}`);
    expect(check.stdout + check.stderr).not.toContain(password);
  });

  it('auth: a wrong password or none is one line and exit 1; the password given is not printed', async () => {
    const wrong = `nope-${randomBytes(6).toString('hex')}`;
    for (const store of [`etcd://root:${wrong}@${authEtcd!.endpoint}`, `etcd://${authEtcd!.endpoint}`]) {
      const r = await flo(['get', 'hosts', '--store', store]);
      expect(r.code, store).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/Check the user and password in the store URL/);
      expect(r.stderr + r.stdout).not.toContain(wrong);
    }
    const bad = await flo(['get', 'hosts', '--store', `etcd://root:${wrong}@`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('etcd://root:***@');
    expect(bad.stderr).not.toContain(wrong);
  });
});
