// `flo` (the built CLI, as users run it) against a fleet of real OpenSSH servers. Needs root
// and sshd; without them it says so and skips, except under CI=true, where it must run.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@flotilla/deploy';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const bin = join(repo, 'node_modules/.bin/flo');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function flo(args: string[], options: { cwd: string; input?: string; onSpawn?: (pid: number) => void; env?: Record<string, string> } = { cwd: repo }): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(repo, 'apps/cli/bin/flo.js'), ...args], { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1', ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.stdin.end(options.input ?? '');
  });
}

describe('the flo launcher', () => {
  it('node_modules/.bin/flo --version works after the build', () => {
    expect(existsSync(bin)).toBe(true);
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
    const pkg = JSON.parse(readFileSync(join(repo, 'apps/cli/package.json'), 'utf8')) as { version: string };
    expect(out).toBe(`${pkg.version}\n`);
  });
  it('an unknown word exits 2 with the nearest names, not "no deployfile" (issue 17); flo help get is get --help', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flo-words-e2e-'));
    try {
      let failure: { status: number; stderr: string; stdout: string } | undefined;
      try {
        execFileSync(bin, ['gett', 'hosts'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        failure = e as { status: number; stderr: string; stdout: string };
      }
      expect(failure?.status).toBe(2);
      expect(failure?.stderr).toMatch(/^flo: unknown command or task "gett"\ndid you mean: get(, [a-z:-]+)*\n/);
      expect(failure?.stdout).toBe('');
      const help = execFileSync(bin, ['help', 'get'], { cwd: dir, encoding: 'utf8' });
      expect(help).toBe(execFileSync(bin, ['get', '--help'], { cwd: dir, encoding: 'utf8' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const avail = fleetAvailability();
const skip = !avail.ok && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING flo ssh end-to-end tests: ${avail.reason} (they run under CI=true) ***\n`);

describe.skipIf(skip)('flo over real OpenSSH', () => {
  let fleet: Fleet;
  let proj: string;
  let base: string[];
  const user = (i: number) => fleet.hosts[i]!.user;

  beforeAll(async () => {
    fleet = await startFleet({ size: 5, subnet: 62, userPrefix: 'fltce', sudo: 'password', labels: (i) => ({ role: i < 3 ? 'web' : 'db' }) });
    proj = mkdtempSync(join(tmpdir(), 'flo-e2e-cli-'));
    base = ['-i', fleet.inventoryFile, '--ssh-config', fleet.sshConfigFile];
    writeFileSync(
      join(proj, 'flotilla.config.ts'),
      `import { task, deployRelease, rollback, startService, shellQuote } from '@flotilla/deploy';
export const echoArg = task(async (c, arg: string) => {
  await c.run('printf "%s\\\\n" ' + shellQuote(arg));
}, { help: 'print an argument verbatim' });
export const deploy = task(async (c, app: string, opts?: Record<string, string>) => {
  const r = await deployRelease(c, { app, artifact: opts?.artifact ?? './app.tar.gz' });
  await startService(c, { name: app, command: './run.sh', cwd: r.dir, gracePeriodSeconds: 1 });
  await c.run('echo deployed ' + r.sha256.slice(0, 12) + (opts?.canary ? ' canary' : ''));
}, { help: 'deploy an app release and (re)start it' });
export const undo = task(async (c, app: string) => { await rollback(c, app); });
export const failOn = task(async (c, who: string) => { await c.run('test "$(whoami)" != ' + shellQuote(who)); });
`,
    );
    const src = mkdtempSync(join(proj, 'app-'));
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    execFileSync('tar', ['-C', src, '-czf', join(proj, 'app.tar.gz'), '.']);
  });
  afterAll(async () => {
    await fleet?.stop();
    if (proj) rmSync(proj, { recursive: true, force: true });
  });

  it('flo run: prefixed results on stdout, JSON summary with -o json', async () => {
    const r = await flo([...base, 'run', '-R', 'web', 'whoami'], { cwd: proj });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([0, 1, 2].map((i) => `h0${i + 1}: ${user(i)}`));
    expect(r.stderr).toMatch(/3\/3 hosts ok/);
    const j = await flo([...base, 'run', '-H', 'h04,h05', '-o', 'json', 'true'], { cwd: proj });
    expect(JSON.parse(j.stdout)).toEqual({ hosts: [
      { host: 'h04', status: 'ok', durationMs: expect.any(Number), stdout: '', stderr: '' },
      { host: 'h05', status: 'ok', durationMs: expect.any(Number), stdout: '', stderr: '' },
    ] });
  });

  it('an argument full of shell metacharacters reaches the host verbatim', async () => {
    const marker = join(tmpdir(), `flo-pwned-${randomBytes(4).toString('hex')}`);
    const nasty = `$(touch ${marker}); \`touch ${marker}\` ' " | & > < * ~ $HOME`;
    const escaped = nasty.replace(/[\\,:=]/g, (m) => `\\${m}`);
    const r = await flo([...base, '-H', 'h01', `echo-arg:${escaped}`], { cwd: proj });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`h01: ${nasty}\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it('--threads 2 runs tasks and fact gathering in host worker threads', async () => {
    const r = await flo([...base, '--threads', '2', '-l', 'role in (web,db)', 'echo-arg:threaded'], { cwd: proj });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['h01', 'h02', 'h03', 'h04', 'h05'].map((h) => `${h}: threaded`));
    const l = await flo([...base, '--threads', '2', 'lowest-loadaverage'], { cwd: proj });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout.split('\n').filter(Boolean).sort()).toEqual(['h01', 'h02', 'h03', 'h04', 'h05']);
    const bad = await flo([...base, '--threads', '2', '-H', 'h01,h02,h03', '--serial', `fail-on:${user(1)}`], { cwd: proj });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/h02\s+failed.*command failed on h02/);
    expect(bad.stderr).toMatch(/h03\s+skipped/);
  });

  it('sudo with the password read once from stdin', async () => {
    const r = await flo([...base, 'run', '--sudo', '--sudo-password-stdin', '-H', 'h01,h02', 'id -un'], { cwd: proj, input: `${fleet.sudoPassword}\n` });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['h01: root', 'h02: root']);
    expect(r.stdout + r.stderr).not.toContain(fleet.sudoPassword!);
  });

  it('put with the checksum skip, and download', async () => {
    const file = join(proj, 'payload.bin');
    writeFileSync(file, randomBytes(256 << 10));
    const first = await flo([...base, 'put', '-R', 'db', file, 'payload.bin'], { cwd: proj });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/h04: uploaded payload.bin/);
    const again = await flo([...base, 'put', '-R', 'db', file, 'payload.bin'], { cwd: proj });
    expect(again.stdout).toMatch(/h04: unchanged payload.bin/);
    expect(again.stdout).toMatch(/h05: unchanged payload.bin/);
    const dl = join(proj, 'dl');
    const d = await flo([...base, 'download', '-R', 'db', 'payload.bin', dl], { cwd: proj });
    expect(d.code).toBe(0);
    expect(readFileSync(join(dl, 'h05', 'payload.bin')).equals(readFileSync(file))).toBe(true);
  });

  it('rolling batches with a failing host: --max-fail decides whether the rollout continues', async () => {
    const stop = await flo([...base, '-l', 'role in (web,db)', '--batch', '2', '-o', 'json', `fail-on:${user(2)}`], { cwd: proj });
    expect(stop.code).toBe(1);
    expect((JSON.parse(stop.stdout) as { hosts: { status: string }[] }).hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'failed', 'ok', 'skipped']);
    const go = await flo([...base, '-l', 'role in (web,db)', '--batch', '2', '--max-fail', '1', '-o', 'json', `fail-on:${user(2)}`], { cwd: proj });
    expect(go.code).toBe(1);
    expect((JSON.parse(go.stdout) as { hosts: { status: string }[] }).hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'failed', 'ok', 'ok']);
  });

  it('refuses an unknown host key unless --accept-new-host-keys, and a changed one always', async () => {
    const h = fleet.hosts[0]!;
    const kh = join(proj, 'kh-empty');
    writeFileSync(kh, '');
    const cfg = join(proj, 'cfg-unknown');
    writeFileSync(cfg, `Host h01\n  HostName ${h.address}\n  User ${h.user}\n  IdentityFile ${fleet.identityFile}\n  UserKnownHostsFile ${kh}\n`);
    const refused = await flo(['--ssh-config', cfg, 'run', '-H', 'h01', 'true'], { cwd: proj });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/unreachable.*unknown host key/);
    const accepted = await flo(['--ssh-config', cfg, '--accept-new-host-keys', 'run', '-H', 'h01', 'echo in'], { cwd: proj });
    expect(accepted.code).toBe(0);
    expect(readFileSync(kh, 'utf8')).toContain(h.hostPublicKey);
    // Now pretend the host was replaced: known_hosts holds another key for it.
    const other = join(proj, 'otherkey');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    writeFileSync(kh, `${h.address} ${readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    const changed = await flo(['--ssh-config', cfg, '--accept-new-host-keys', 'run', '-H', 'h01', 'true'], { cwd: proj });
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/HOST KEY CHANGED/);
  });

  it('lowest-loadaverage asks every host; -o json has the documented shape', async () => {
    const r = await flo([...base, 'lowest-loadaverage'], { cwd: proj });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['h01', 'h02', 'h03', 'h04', 'h05']);
    const j = await flo([...base, 'lowest-loadaverage', '-o', 'json', '-R', 'web'], { cwd: proj });
    const rows = JSON.parse(j.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(Object.keys(row)).toEqual(['host', 'load1', 'cores', 'loadPerCore']);
  });

  it('deploy:app,canary=true releases and starts the app; undo rolls back; --place lowest-load picks one host', async () => {
    const r = await flo([...base, '-H', 'h01,h02', 'deploy:app,canary=true'], { cwd: proj });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/h01: deployed [0-9a-f]{12} canary/);
    const ps = await flo([...base, 'run', '-H', 'h01', 'cat ~/.flotilla/services/app/pid | xargs ps -o args= -p'], { cwd: proj });
    expect(ps.stdout).toBe('h01: sleep 600\n');
    const placed = await flo([...base, '-R', 'db', '--place', 'lowest-load', 'deploy:app'], { cwd: proj });
    expect(placed.code, placed.stderr).toBe(0);
    expect(placed.stdout.match(/deployed/g)).toHaveLength(1);
    // A second release, then back.
    const src = mkdtempSync(join(proj, 'v2-'));
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\nexec sleep 601\n', { mode: 0o755 });
    execFileSync('tar', ['-C', src, '-czf', join(proj, 'app2.tar.gz'), '.']);
    expect((await flo([...base, '-H', 'h01', 'deploy:app,artifact=./app2.tar.gz'], { cwd: proj })).code).toBe(0);
    expect((await flo([...base, '-H', 'h01', 'undo:app'], { cwd: proj })).code).toBe(0);
    const cur = await flo([...base, 'run', '-H', 'h01', 'cat ~/.flotilla/apps/app/current/run.sh'], { cwd: proj });
    expect(cur.stdout).toMatch(/sleep 600/);
  });

  it('flo sign; a host that trusts signers refuses unsigned and badly signed artifacts', async () => {
    const key = join(proj, 'signer');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops', '-f', key]);
    const trust = `ops@example ${readFileSync(`${key}.pub`, 'utf8')}`;
    writeFileSync(join(proj, 'allowed_signers'), trust);
    await flo([...base, 'run', '-H', 'h03', 'mkdir -p .flotilla'], { cwd: proj });
    expect((await flo([...base, 'put', '-H', 'h03', join(proj, 'allowed_signers'), '.flotilla/allowed_signers'], { cwd: proj })).code).toBe(0);
    const unsigned = await flo([...base, '-H', 'h03', 'deploy:signed'], { cwd: proj });
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/refused: .*no signature/);
    const signDir = mkdtempSync(join(proj, 'sig-'));
    mkdirSync(join(signDir, 'x'));
    const art = join(signDir, 'app.tar.gz');
    writeFileSync(art, readFileSync(join(proj, 'app.tar.gz')));
    const s = await flo(['sign', '--key', key, art], { cwd: proj });
    expect(s.code).toBe(0);
    expect(s.stdout).toBe(`${art}.sig\n`);
    // A valid signature by the trusted key, but of other content: refused, current untouched.
    const other = join(signDir, 'other.bin');
    writeFileSync(other, 'not the artifact');
    expect((await flo(['sign', '--key', key, other], { cwd: proj })).code).toBe(0);
    const sig = readFileSync(`${art}.sig`);
    writeFileSync(`${art}.sig`, readFileSync(`${other}.sig`));
    const bad = await flo([...base, '-H', 'h03', `deploy:signed,artifact=${art}`], { cwd: proj });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/refused: bad signature/);
    writeFileSync(`${art}.sig`, sig);
    const good = await flo([...base, '-H', 'h03', `deploy:signed,artifact=${art}`], { cwd: proj });
    expect(good.code, good.stderr).toBe(0);
  });

  it('--persist: later flo processes reuse the ssh connections; host keys are still checked; disconnect closes them', async () => {
    const controlDir = join(mkdtempSync(join(tmpdir(), 'flo-e2e-ctl-')), 'ctl');
    const env = { FLO_CONTROL_DIR: controlDir };
    // A big log from earlier daemons is rotated when the next one starts.
    mkdirSync(controlDir, { mode: 0o700 });
    writeFileSync(join(controlDir, 'daemon.log'), 'x'.repeat(1_500_000), { mode: 0o600 });
    try {
      // $SSH_CONNECTION names the client's source port: the same port twice = the same connection.
      const where = async (extra: string[]): Promise<string[]> => {
        const r = await flo([...base, ...extra, 'run', '-H', 'h01,h02', 'echo "$SSH_CONNECTION"'], { cwd: proj, env });
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean).sort();
      };
      const first = await where(['--persist', '30s']);
      expect(first).toHaveLength(2);
      expect(statSync(join(controlDir, 'daemon.log.1')).size).toBe(1_500_000);
      expect(readFileSync(join(controlDir, 'daemon.log'), 'utf8')).toMatch(/^\S+ \[\d+\] listening on /);
      expect(await where(['--persist', '30s'])).toEqual(first);
      // FLO_PERSIST does the same; without either, flo connects afresh.
      expect(await flo([...base, 'run', '-H', 'h01,h02', 'echo "$SSH_CONNECTION"'], { cwd: proj, env: { ...env, FLO_PERSIST: '30s' } }).then((r) => r.stdout.split('\n').filter(Boolean).sort())).toEqual(first);
      expect(await where([])).not.toEqual(first);
      const listed = await flo(['disconnect', '--list', '-o', 'json'], { cwd: proj, env });
      expect((JSON.parse(listed.stdout) as { label: string; open: boolean }[]).map((c) => [c.label, c.open]).sort()).toEqual([
        ['h01', true],
        ['h02', true],
      ]);
      // Uploads (streamed through the daemon) with the checksum skip, and sudo with its password on stdin.
      const file = join(proj, 'persist.bin');
      writeFileSync(file, randomBytes(3 << 20));
      expect((await flo([...base, '--persist', '30s', 'put', '-H', 'h01', file, 'persist.bin'], { cwd: proj, env })).stdout).toMatch(/h01: uploaded persist.bin/);
      expect((await flo([...base, '--persist', '30s', 'put', '-H', 'h01', file, 'persist.bin'], { cwd: proj, env })).stdout).toMatch(/h01: unchanged persist.bin/);
      const sudo = await flo([...base, '--persist', '30s', 'run', '--sudo', '--sudo-password-stdin', '-H', 'h02', 'id -un'], { cwd: proj, input: `${fleet.sudoPassword}\n`, env });
      expect(sudo.stdout).toBe('h02: root\n');
      expect(readFileSync(join(controlDir, 'daemon.log'), 'utf8')).not.toContain(fleet.sudoPassword!);
      // An unknown host key is refused through the daemon as well, and accepted only when asked.
      const h = fleet.hosts[2]!;
      const kh = join(proj, 'kh-persist');
      writeFileSync(kh, '');
      const cfg = join(proj, 'cfg-persist');
      writeFileSync(cfg, `Host h03\n  HostName ${h.address}\n  User ${h.user}\n  IdentityFile ${fleet.identityFile}\n  UserKnownHostsFile ${kh}\n`);
      const refused = await flo(['--ssh-config', cfg, '--persist', '30s', 'run', '-H', 'h03', 'true'], { cwd: proj, env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/unreachable.*unknown host key/);
      const accepted = await flo(['--ssh-config', cfg, '--persist', '30s', '--accept-new-host-keys', 'run', '-H', 'h03', 'echo in'], { cwd: proj, env });
      expect(accepted.stdout).toBe('h03: in\n');
      expect(accepted.stderr).toMatch(/accepted new host key/);
      expect(readFileSync(kh, 'utf8')).toContain(h.hostPublicKey);
      // ProxyJump through the daemon: both hops are held, and reused by the next process.
      const h4 = fleet.hosts[3]!;
      const jumpCfg = join(proj, 'cfg-persist-jump');
      writeFileSync(
        jumpCfg,
        [`Host via-jump`, `  HostName ${h4.address}`, `  User ${h4.user}`, `  IdentityFile ${fleet.identityFile}`, `  UserKnownHostsFile ${fleet.knownHostsFile}`, `  ProxyJump h01`, readFileSync(fleet.sshConfigFile, 'utf8')].join('\n'),
      );
      const viaJump = () => flo(['--ssh-config', jumpCfg, '--persist', '30s', 'run', '-H', 'via-jump', 'echo "$(whoami) $SSH_CONNECTION"'], { cwd: proj, env });
      const j1 = await viaJump();
      expect(j1.code, j1.stderr).toBe(0);
      expect(j1.stdout).toMatch(new RegExp(`^via-jump: ${h4.user} \\S+ \\d+ ${h4.address.replace(/\./g, '\\.')} 22\\n$`));
      expect((await viaJump()).stdout).toBe(j1.stdout);
      // The lowest-load query through held connections.
      const load = await flo([...base, '--persist', '30s', 'lowest-loadaverage', '-o', 'json'], { cwd: proj, env });
      expect((JSON.parse(load.stdout) as { host: string }[]).map((x) => x.host).sort()).toEqual(['h01', 'h02', 'h03', 'h04', 'h05']);
      const bye = await flo(['disconnect'], { cwd: proj, env });
      expect(bye.stderr).toMatch(/closed the persisted connections/);
      expect(existsSync(join(controlDir, 'mux.sock'))).toBe(false);
      expect((await flo(['disconnect'], { cwd: proj, env })).stderr).toMatch(/no connection daemon is running/);
      // After disconnect, the next --persist run connects afresh.
      expect(await where(['--persist', '30s'])).not.toEqual(first);
    } finally {
      await flo(['disconnect'], { cwd: proj, env });
    }
  });

  // --timeout against a host whose sshd is frozen (SIGSTOP). Correctness bounds with seconds of
  // slack — "ended by the timeout, not by the keepalive (~75 s) or the connect timeout (20 s)" —
  // not speed measurements.
  const slackMs = 5000;
  const timedFlo = async (args: string[], env?: Record<string, string>): Promise<Run & { ms: number }> => {
    const start = performance.now();
    const r = await flo(args, { cwd: proj, ...(env ? { env } : {}) });
    return { ...r, ms: performance.now() - start };
  };

  it('--timeout bounds a run: a host frozen before flo starts fails (unreachable) at the timeout, the others finish, exit 1 with per-host results', async () => {
    type Summary = { hosts: { host: string; status: string; durationMs: number; error?: string; stdout?: string }[] };
    // The whole host frozen: its listener accepts TCP, but no ssh greeting follows.
    const frozen = fleet.freeze('h05', { listener: true });
    try {
      const r = await timedFlo([...base, 'run', '--timeout', '3', '-o', 'json', '-H', 'h05,h04', 'sleep 1; echo hi']);
      expect(r.code, r.stderr).toBe(1);
      const s = JSON.parse(r.stdout) as Summary;
      expect(s.hosts.map((h) => [h.host, h.status])).toEqual([
        ['h05', 'unreachable'],
        ['h04', 'ok'],
      ]);
      expect(s.hosts[0]!.error).toMatch(/timed out after 3000 ms on h05 while connecting/);
      expect(s.hosts[0]!.durationMs).toBeGreaterThanOrEqual(3000);
      expect(s.hosts[0]!.durationMs).toBeLessThan(3000 + slackMs);
      // With -o json the hosts' output is part of the summary (apps/cli README, Output).
      expect(s.hosts[1]!.stdout).toBe('hi\n');
      expect(r.ms).toBeLessThan(3000 + slackMs);
    } finally {
      frozen.thaw();
    }
  });

  it('--timeout bounds a run through --persist: the command on the frozen host fails at the timeout, the daemon drops its connection, the next flo gets a fresh one', async () => {
    // The daemon holds a connection to h05, whose sshd then freezes.
    const controlDir = join(mkdtempSync(join(tmpdir(), 'flo-e2e-ctl-')), 'ctl');
    mkdirSync(controlDir, { mode: 0o700 });
    const env = { FLO_CONTROL_DIR: controlDir };
    const where = async (): Promise<string> => {
      const r = await flo([...base, '--persist', '30s', 'run', '-H', 'h05', 'echo "$SSH_CONNECTION"'], { cwd: proj, env });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    try {
      const before = await where();
      const frozen = fleet.freeze('h05');
      try {
        const r = await timedFlo([...base, '--persist', '30s', 'run', '--timeout', '3', '-H', 'h05,h04', 'sleep 1; echo hi'], env);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stdout).toBe('h04: hi\n');
        expect(r.stderr).toMatch(/h05\s+failed.*command timed out after 3000 ms on h05: sleep 1; echo hi/);
        expect(r.stderr).toMatch(/h04\s+ok/);
        expect(r.ms).toBeLessThan(3000 + slackMs);
        // The daemon drops the wedged connection while the host is still frozen.
        const deadline = performance.now() + 60_000;
        for (;;) {
          const listed = await flo(['disconnect', '--list', '-o', 'json'], { cwd: proj, env });
          const h05 = (JSON.parse(listed.stdout) as { label: string; open: boolean }[]).find((c) => c.label === 'h05');
          if (h05?.open === false) break;
          if (performance.now() > deadline) throw new Error(`the daemon still holds h05 as open: ${listed.stdout}`);
          await new Promise((res) => setTimeout(res, 100));
        }
      } finally {
        frozen.thaw();
      }
      // Once h05 answers again, the next flo gets a fresh connection through the daemon.
      expect(await where()).not.toBe(before);
    } finally {
      await flo(['disconnect'], { cwd: proj, env });
    }
  });

  it('a flo killed in the middle of an upload leaves current intact', async () => {
    const before = await flo([...base, 'run', '-H', 'h05', 'readlink ~/.flotilla/apps/app/current || echo none'], { cwd: proj });
    const bigSrc = mkdtempSync(join(proj, 'big-'));
    writeFileSync(join(bigSrc, 'blob'), randomBytes(100 << 20));
    writeFileSync(join(bigSrc, 'run.sh'), '#!/bin/sh\nexec sleep 602\n', { mode: 0o755 });
    execFileSync('tar', ['-C', bigSrc, '-cf', join(proj, 'big.tar'), '.']);
    let pid = 0;
    let exited = false;
    const running = flo([...base, '-H', 'h05', 'deploy:app,artifact=./big.tar'], { cwd: proj, onSpawn: (p) => (pid = p) }).finally(() => (exited = true));
    // Kill it once the upload has started (a temporary file exists in incoming/), watched over one open connection.
    const watch = Connection.ssh('h05', { sshConfigFiles: [fleet.sshConfigFile] });
    const deadline = performance.now() + 60_000;
    let seen = false;
    while (!seen && !exited && performance.now() < deadline) {
      const r = await watch.run('ls -a ~/.flotilla/apps/app/incoming 2>/dev/null | grep -c flotilla- || true', { hide: true });
      seen = Number(r.stdout.trim()) > 0;
    }
    await watch.close();
    expect(seen, 'the upload was never observed in progress').toBe(true);
    process.kill(pid, 'SIGKILL');
    const killed = await running;
    expect(killed.code).toBeNull();
    const after = await flo([...base, 'run', '-H', 'h05', 'readlink ~/.flotilla/apps/app/current || echo none'], { cwd: proj });
    expect(after.stdout).toBe(before.stdout);
    // The killed flo left its deploy lock; its process is gone, so the next deploy removes it (saying so) and goes ahead.
    const next = await flo([...base, '-H', 'h05', 'deploy:app'], { cwd: proj });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/h05: removed a stale deploy lock \(.* pid \d+ since .*that process no longer runs\)/);
  });
});
