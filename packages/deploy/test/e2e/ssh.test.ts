// @flotilla/deploy against real OpenSSH servers (the test fleet: one sshd per loopback
// address, one unix user per host). Needs root and sshd; without them it says so and skips,
// except under CI=true, where it must run.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Connection,
  Group,
  SudoPassword,
  deployRelease,
  gatherFacts,
  isGroupError,
  listReleases,
  rollback,
  serviceStatus,
  shellQuote,
  startService,
  stopService,
  type SshOptions,
} from '../../src/index.js';
import { fleetAvailability, startFleet, type Fleet } from '../../src/testing/index.js';

const avail = fleetAvailability();
const skip = !avail.ok && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy ssh end-to-end tests: ${avail.reason} (they run under CI=true) ***\n`);

describe.skipIf(skip)('deploy over real OpenSSH', () => {
  let fleet: Fleet;
  let work: string;
  let ssh: SshOptions;
  const open: Connection[] = [];
  const connect = (name: string, extra: SshOptions & { sudoPassword?: SudoPassword } = {}): Connection => {
    const c = Connection.ssh(name, { ...ssh, ...extra });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    fleet = await startFleet({ size: 4, subnet: 61, userPrefix: 'fltde', sudo: 'password' });
    work = mkdtempSync(join(tmpdir(), 'flo-e2e-deploy-'));
    ssh = { sshConfigFiles: [fleet.sshConfigFile] };
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs on every host as its own user; arguments full of metacharacters arrive verbatim', async () => {
    const nasty = `$(touch /tmp/pwned-${randomBytes(4).toString('hex')}); \`id\` 'q' "d" \\ | & > < * ~ $HOME\nline2`;
    const g = new Group(fleet.hosts.map((h) => connect(h.name)));
    const r = await g.run(`whoami; printf '%s' ${shellQuote(nasty)}`);
    expect(r.hosts.map((h) => h.value!.stdout)).toEqual(fleet.hosts.map((h) => `${h.user}\n${nasty}`));
  });

  it('sudo: the password is asked once for the whole run and fed on stdin', async () => {
    let asks = 0;
    const sudoPassword = new SudoPassword(() => {
      asks++;
      return Promise.resolve(fleet.sudoPassword!);
    });
    const g = new Group(fleet.hosts.slice(0, 3).map((h) => connect(h.name, { sudoPassword })));
    const r = await g.sudo('id -un; ps -o args= -p $PPID');
    expect(r.hosts.map((h) => h.value!.stdout.split('\n')[0])).toEqual(['root', 'root', 'root']);
    expect(asks).toBe(1);
    // The password is nowhere in the command lines.
    for (const h of r.hosts) expect(h.value!.stdout).not.toContain(fleet.sudoPassword!);
    const wrong = connect(fleet.hosts[3]!.name, { sudoPassword: new SudoPassword(() => Promise.resolve('not-it')) });
    await expect(wrong.sudo('true')).rejects.toMatchObject({ code: 'sudo-failed' });
  });

  it('put/get over SFTP with the checksum skip', async () => {
    const c = connect(fleet.hosts[0]!.name);
    const src = join(work, 'blob.bin');
    writeFileSync(src, randomBytes(1 << 20));
    const progress: number[] = [];
    expect((await c.put(src, 'blob.bin', { mode: 0o640, onProgress: (sent, total) => progress.push(sent / total) })).skipped).toBe(false);
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.length).toBeGreaterThan(1);
    expect((await c.put(src, 'blob.bin', { mode: 0o640 })).skipped).toBe(true);
    expect((await c.run('stat -c %a blob.bin')).stdout.trim()).toBe('640');
    await c.get('blob.bin', join(work, 'back.bin'));
    expect(readFileSync(join(work, 'back.bin')).equals(readFileSync(src))).toBe(true);
    await c.putDir(work, 'copy');
    expect((await c.run('cmp copy/blob.bin blob.bin && echo same')).stdout).toBe('same\n');
  });

  it('gathers facts from every host', async () => {
    const facts = await Promise.all(fleet.hosts.map((h) => gatherFacts(connect(h.name))));
    for (const f of facts) {
      expect(f.os).toBe('Linux');
      expect(f.cores).toBeGreaterThanOrEqual(1);
      expect(f.load1).toBeGreaterThanOrEqual(0);
      expect(f.memTotalBytes).toBeGreaterThan(0);
      expect(f.diskFreeBytes).toBeGreaterThan(0);
    }
    expect(facts.map((f) => f.host)).toEqual(fleet.hosts.map((h) => h.name));
  });

  it('ProxyJump through one host to another; the jump host key is verified too', async () => {
    const [h1, h2] = fleet.hosts;
    const cfg = join(work, 'jump_config');
    const kh = join(work, 'jump_known_hosts');
    writeFileSync(kh, readFileSync(fleet.knownHostsFile, 'utf8').split('\n').filter((l) => !l.startsWith(`${h1!.address} `)).join('\n'));
    writeFileSync(
      cfg,
      [
        `Host via-jump`,
        `  HostName ${h2!.address}`,
        `  ProxyJump ${h1!.name}`,
        `  UserKnownHostsFile ${fleet.knownHostsFile}`,
        `Host via-unknown-jump`,
        `  HostName ${h2!.address}`,
        `  UserKnownHostsFile ${kh}`,
        `  ProxyJump jump-unknown`,
        `Host jump-unknown`,
        `  HostName ${h1!.address}`,
        `  User ${h1!.user}`,
        `  IdentityFile ${fleet.identityFile}`,
        `  UserKnownHostsFile ${kh}`,
        readFileSync(fleet.sshConfigFile, 'utf8'),
      ].join('\n'),
    );
    const via = connect('via-jump', { sshConfigFiles: [cfg], user: h2!.user, identityFiles: [fleet.identityFile] });
    expect((await via.run('whoami')).stdout).toBe(`${h2!.user}\n`);
    const bad = connect('via-unknown-jump', { sshConfigFiles: [cfg], user: h2!.user, identityFiles: [fleet.identityFile] });
    await expect(bad.run('true')).rejects.toMatchObject({ code: 'host-key-unknown', message: expect.stringContaining(h1!.address) });
  });

  it('authenticates through ssh-agent when no identity file is configured', async () => {
    const sock = join(work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      const end = performance.now() + 60_000;
      while (!existsSync(sock) && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
      execFileSync('ssh-add', ['-q', fleet.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const h = fleet.hosts[3]!;
      const cfg = join(work, 'agent_config');
      writeFileSync(cfg, `Host via-agent\n  HostName ${h.address}\n  User ${h.user}\n  UserKnownHostsFile ${fleet.knownHostsFile}\n  IdentityAgent ${sock}\n`);
      const c = connect('via-agent', { sshConfigFiles: [cfg], home: work });
      expect((await c.run('whoami')).stdout).toBe(`${h.user}\n`);
      await c.close();
    } finally {
      agent.kill();
    }
  });

  it('releases, rollback, and an interrupted upload that leaves current intact', async () => {
    const c = connect(fleet.hosts[1]!.name);
    const mk = (name: string, body: string): string => {
      const d = mkdtempSync(join(work, 'rel-'));
      writeFileSync(join(d, 'version'), body);
      const out = join(work, name);
      execFileSync('tar', ['-C', d, '-czf', out, '.']);
      return out;
    };
    const v1 = await deployRelease(c, { app: 'web', artifact: mk('v1.tgz', 'v1') });
    const v2 = await deployRelease(c, { app: 'web', artifact: mk('v2.tgz', 'v2') });
    expect((await c.run('cat ~/.flotilla/apps/web/current/version')).stdout).toBe('v2');
    expect(await rollback(c, 'web')).toEqual({ from: v2.sha256, to: v1.sha256 });
    expect((await c.run('cat ~/.flotilla/apps/web/current/version')).stdout).toBe('v1');

    // A 30 MB artifact, aborted while it uploads.
    const bigDir = mkdtempSync(join(work, 'big-'));
    writeFileSync(join(bigDir, 'data'), randomBytes(30 << 20));
    writeFileSync(join(bigDir, 'version'), 'v3');
    const big = join(work, 'big.tar');
    execFileSync('tar', ['-C', bigDir, '-cf', big, '.']);
    const ctl = new AbortController();
    const started = deployRelease(c, { app: 'web', artifact: big, signal: ctl.signal });
    // Abort once the upload has begun (a temporary file exists in incoming/).
    const end = performance.now() + 60_000;
    for (;;) {
      const r = await c.run('ls -a ~/.flotilla/apps/web/incoming | grep -c flotilla- || true', { hide: true });
      if (Number(r.stdout.trim()) > 0 || performance.now() > end) break;
    }
    ctl.abort();
    await expect(started).rejects.toThrow();
    const after = connect(fleet.hosts[1]!.name);
    expect((await after.run('cat ~/.flotilla/apps/web/current/version')).stdout).toBe('v1');
    expect((await listReleases(after, 'web')).current).toBe(v1.sha256);
  });

  it('the sh supervisor runs a service as the host user and stops it', async () => {
    const c = connect(fleet.hosts[2]!.name);
    const st = await startService(c, { name: 'sleeper', command: 'sleep 600', gracePeriodSeconds: 2 });
    expect(st).toMatchObject({ runtime: 'supervisor', running: true });
    expect((await c.run(`ps -o user= -p ${st.pid}`)).stdout.trim()).toBe(fleet.hosts[2]!.user);
    await stopService(c, 'sleeper', { gracePeriodSeconds: 2 });
    expect((await serviceStatus(c, 'sleeper')).running).toBe(false);
  });

  it('a group with a failing host reports every host; max-fail lets the others run', async () => {
    const g = new Group(
      fleet.hosts.map((h) => connect(h.name)),
      { serial: true, maxFail: 1 },
    );
    const e = await g.run(`test "$(whoami)" != ${fleet.hosts[1]!.user}`).catch((x: unknown) => x);
    expect(isGroupError(e)).toBe(true);
    if (isGroupError(e)) expect(e.result.hosts.map((h) => h.status)).toEqual(['ok', 'failed', 'ok', 'ok']);
  });
});
