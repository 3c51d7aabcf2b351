import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CommandFailedError,
  Connection,
  deployRelease,
  isCommandFailedError,
  isDeployError,
  listReleases,
  rollback,
  serviceStatus,
  signArtifact,
  startService,
  VERIFY_SNIPPET,
  stopService,
  withDeployLock,
} from '../src/index.js';
import { isStaleHolder } from '../src/lock.js';
import { hostname } from 'node:os';
import { spawnSync } from 'node:child_process';

const root = mkdtempSync(join(tmpdir(), 'flo-local-'));
let n = 0;
function host(): { c: Connection; dir: string } {
  const dir = join(root, `host${++n}`);
  return { c: Connection.localDir(dir, { name: `host${n}` }), dir };
}
const open: Connection[] = [];
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  rmSync(root, { recursive: true, force: true });
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tarball(dir: string, files: Record<string, string>, name: string): string {
  const src = mkdtempSync(join(dir, 'src-'));
  for (const [f, body] of Object.entries(files)) writeFileSync(join(src, f), body, { mode: 0o755 });
  const out = join(dir, name);
  execFileSync('tar', ['-C', src, '-czf', out, '.']);
  return out;
}

const hasSshKeygen = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v ssh-keygen'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('Connection on the local transport', { timeout: 90_000 }, () => {
  it('runs commands in the host directory with $HOME set to it', async () => {
    const { c, dir } = host();
    const r = await c.run('pwd; echo "$HOME"; echo err >&2');
    expect(r).toMatchObject({ stdout: `${dir}\n${dir}\n`, stderr: 'err\n', exitCode: 0, signal: null, host: c.host });
  });

  it('throws CommandFailedError carrying the result, unless warn', async () => {
    const { c } = host();
    const e = await c.run('echo out; exit 3').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandFailedError);
    expect(isCommandFailedError(e) && e.result).toMatchObject({ exitCode: 3, stdout: 'out\n' });
    expect((await c.run('exit 4', { warn: true })).exitCode).toBe(4);
  });

  it('quotes env values and cwd; streams output lines', async () => {
    const lines: string[] = [];
    const dir = join(root, 'streamed');
    const c = Connection.localDir(dir, { onOutput: (l, s) => lines.push(`${s}:${l}`) });
    await c.run("mkdir -p 'a dir'");
    const r = await c.run('pwd; printf "%s\\n" "$V"', { cwd: 'a dir', env: { V: "it's $(not) `run`" } });
    expect(r.stdout).toBe(`${dir}/a dir\nit's $(not) \`run\`\n`);
    expect(lines).toContain("stdout:it's $(not) `run`");
  });

  it('times out and aborts', async () => {
    const { c } = host();
    await expect(c.run('sleep 30', { timeoutMs: 100 })).rejects.toMatchObject({ code: 'timeout' });
    const ctl = new AbortController();
    const p = c.run('sleep 30', { signal: ctl.signal });
    ctl.abort();
    await expect(p).rejects.toMatchObject({ code: 'aborted' });
  });

  it('put is atomic, keeps the mode, and skips a file whose sha256 matches', async () => {
    const { c, dir } = host();
    await c.run('true');
    const src = join(root, 'payload.txt');
    writeFileSync(src, 'payload\n');
    const progress: [number, number][] = [];
    const first = await c.put(src, 'p.txt', { mode: 0o640, onProgress: (a, b) => progress.push([a, b]) });
    expect(progress.at(-1)).toEqual([8, 8]);
    expect(first.skipped).toBe(false);
    expect(readFileSync(join(dir, 'p.txt'), 'utf8')).toBe('payload\n');
    expect(statSync(join(dir, 'p.txt')).mode & 0o777).toBe(0o640);
    expect((await c.put(src, 'p.txt')).skipped).toBe(true);
    const streamed = await c.put(src, 's.txt', { method: 'stream', mode: 0o600 });
    expect(streamed.skipped).toBe(false);
    expect(statSync(join(dir, 's.txt')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 's.txt'), 'utf8')).toBe('payload\n');
    expect((await c.run('ls -a')).stdout).not.toMatch(/flotilla-/);
    await c.get('p.txt', join(root, 'back.txt'));
    expect(readFileSync(join(root, 'back.txt'), 'utf8')).toBe('payload\n');
  });

  it('putDir sends a directory as one tar stream', async () => {
    const { c, dir } = host();
    const src = mkdtempSync(join(root, 'tree-'));
    mkdirSync(join(src, 'sub'));
    writeFileSync(join(src, 'sub', 'f'), 'x');
    // Several times: the local tar often exits before the transport reads its output.
    for (let i = 0; i < 8; i++) {
      await c.putDir(src, `site${i}`);
      expect(readFileSync(join(dir, `site${i}`, 'sub', 'f'), 'utf8')).toBe('x');
    }
  });

  it('local() runs on the operator machine', async () => {
    const { c } = host();
    expect((await c.local('pwd', { cwd: root })).stdout).toBe(`${root}\n`);
  });
});

describe('deploy lock', { timeout: 90_000 }, () => {
  it('a second deploy on the same host fails fast and names the holder; the lock is released after', async () => {
    const { c } = host();
    let release!: () => void;
    const holding = withDeployLock(c, () => new Promise<void>((r) => (release = r)), { owner: 'alice@laptop' });
    await until('the lock', async () => (await c.run('test -f .flotilla/locks/deploy', { warn: true })).exitCode === 0);
    const e = await withDeployLock(c, () => Promise.resolve(1)).catch((x: unknown) => x);
    expect(isDeployError(e) && e.code).toBe('deploy-locked');
    expect((e as Error).message).toMatch(/alice@laptop/);
    release();
    await holding;
    expect(await withDeployLock(c, () => Promise.resolve(2))).toBe(2);
  });
});

describe('stale deploy locks', { timeout: 90_000 }, () => {
  const here = { host: 'ops1', probe: { exists: (pid: number) => pid === 4242, stat: () => undefined } };
  it.each([
    ['a dead pid of this machine', 'ann@ops1 pid 999 since 2026-01-01T00:00:00.000Z', true],
    ['a live pid of this machine', 'ann@ops1 pid 4242 since 2026-01-01T00:00:00.000Z', false],
    ['another machine', 'ann@ops2 pid 999 since 2026-01-01T00:00:00.000Z', false],
    ['an unreadable holder', 'someone, somewhere', false],
    ['an empty holder', '', false],
    ['pid 0', 'ann@ops1 pid 0 since 2026-01-01T00:00:00.000Z', false],
  ])('%s: stale = %s', (_what, holder, stale) => {
    expect(isStaleHolder(holder, here)).toBe(stale);
  });

  const deadPid = (): number => {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  };

  it('a lock left by a flo of this machine that no longer runs is removed with a warning, and taken', async () => {
    const { c } = host();
    const holder = `ann@${hostname()} pid ${deadPid()} since 2026-01-01T00:00:00.000Z`;
    await c.run(`mkdir -p .flotilla/locks && printf '%s\\n' '${holder}' > .flotilla/locks/deploy`);
    const warnings: string[] = [];
    expect(await withDeployLock(c, () => c.run('cat .flotilla/locks/deploy', { hide: true }).then((r) => r.stdout), { owner: 'me@here pid 1 since now', onWarning: (w) => warnings.push(w) })).toBe(
      'me@here pid 1 since now\n',
    );
    expect(warnings).toEqual([expect.stringMatching(/removed a stale deploy lock \(ann@.* pid \d+ .*that process no longer runs\)/)]);
    expect((await c.run('test -e .flotilla/locks/deploy', { warn: true })).exitCode).toBe(1);
  });

  it('a lock of a live process, or of another machine, is left alone', async () => {
    const { c } = host();
    for (const holder of [`ann@${hostname()} pid ${process.ppid} since 2026-01-01T00:00:00.000Z`, `ann@elsewhere pid ${deadPid()} since 2026-01-01T00:00:00.000Z`]) {
      await c.run(`mkdir -p .flotilla/locks && printf '%s\\n' '${holder}' > .flotilla/locks/deploy`);
      const e = await withDeployLock(c, () => Promise.resolve(1)).catch((x: unknown) => x);
      expect(isDeployError(e) && e.code).toBe('deploy-locked');
      expect((await c.run('cat .flotilla/locks/deploy', { hide: true })).stdout).toBe(`${holder}\n`);
    }
  });
});

describe('releases', { timeout: 90_000 }, () => {
  it('deploys, switches current atomically, keeps N releases, and rolls back', async () => {
    const { c, dir } = host();
    const base = join(dir, '.flotilla/apps/web');
    const arts = [1, 2, 3].map((i) => tarball(root, { 'run.sh': `echo v${i}\n` }, `web-${i}.tar.gz`));
    const r1 = await deployRelease(c, { app: 'web', artifact: arts[0]!, keep: 2 });
    expect(r1.previous).toBeNull();
    expect(readlinkSync(join(base, 'current'))).toBe(`releases/${r1.sha256}`);
    expect(readFileSync(join(base, 'current', 'run.sh'), 'utf8')).toBe('echo v1\n');
    const r2 = await deployRelease(c, { app: 'web', artifact: arts[1]!, keep: 2 });
    expect(r2.previous).toBe(r1.sha256);
    const again = await deployRelease(c, { app: 'web', artifact: arts[1]!, keep: 2 });
    expect(again.uploaded).toBe(false);
    const r3 = await deployRelease(c, { app: 'web', artifact: arts[2]!, keep: 2 });
    const list = await listReleases(c, 'web');
    expect(list).toEqual({ current: r3.sha256, releases: [r3.sha256, r2.sha256] });
    expect(existsSync(join(base, 'releases', r1.sha256))).toBe(false);
    expect(await rollback(c, 'web')).toEqual({ from: r3.sha256, to: r2.sha256 });
    expect(readFileSync(join(base, 'current', 'run.sh'), 'utf8')).toBe('echo v2\n');
    await expect(rollback(c, 'web')).rejects.toThrow(/no earlier release/);
    await expect(rollback(c, 'web', { to: r1.sha256 })).rejects.toThrow(/not on the host/);
  });

  it('an interrupted deploy leaves current untouched', async () => {
    const { c, dir } = host();
    const good = tarball(root, { v: 'good' }, 'good.tar.gz');
    const r = await deployRelease(c, { app: 'app', artifact: good });
    const ctl = new AbortController();
    ctl.abort();
    const bad = tarball(root, { v: 'new' }, 'new.tar.gz');
    await expect(deployRelease(c, { app: 'app', artifact: bad, signal: ctl.signal })).rejects.toThrow();
    const broken = join(root, 'broken.tar.gz');
    writeFileSync(broken, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    await expect(deployRelease(c, { app: 'app', artifact: broken })).rejects.toMatchObject({ code: 'release' });
    expect(readlinkSync(join(dir, '.flotilla/apps/app/current'))).toBe(`releases/${r.sha256}`);
    expect(readFileSync(join(dir, '.flotilla/apps/app/current/v'), 'utf8')).toBe('good');
  });

  it.skipIf(!hasSshKeygen)('refuses unsigned and badly signed artifacts where the host trusts signers', async () => {
    const { c, dir } = host();
    const keys = mkdtempSync(join(root, 'keys-'));
    for (const k of ['trusted', 'stranger']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(keys, k)]);
    mkdirSync(join(dir, '.flotilla'), { recursive: true });
    writeFileSync(join(dir, '.flotilla/allowed_signers'), `ops@example ${readFileSync(join(keys, 'trusted.pub'), 'utf8')}`);
    const art = tarball(root, { v: '1' }, 'signed.tar.gz');
    await expect(deployRelease(c, { app: 's', artifact: art })).rejects.toMatchObject({ code: 'signature', message: expect.stringMatching(/no signature/) });
    await signArtifact(art, { key: join(keys, 'stranger') });
    await expect(deployRelease(c, { app: 's', artifact: art })).rejects.toMatchObject({ code: 'signature', message: expect.stringMatching(/not from a signer/) });
    expect(existsSync(join(dir, '.flotilla/apps/s/current'))).toBe(false);
    const sig = await signArtifact(art, { key: join(keys, 'trusted') });
    expect(sig).toBe(`${art}.sig`);
    const ok = await deployRelease(c, { app: 's', artifact: art });
    expect(readlinkSync(join(dir, '.flotilla/apps/s/current'))).toBe(`releases/${ok.sha256}`);
    // A signature of other content by the trusted key is refused too.
    const other = tarball(root, { v: '2' }, 'other.tar.gz');
    writeFileSync(`${other}.sig`, readFileSync(sig));
    await expect(deployRelease(c, { app: 's', artifact: other })).rejects.toMatchObject({ code: 'signature', message: expect.stringMatching(/bad signature/) });
    expect(readlinkSync(join(dir, '.flotilla/apps/s/current'))).toBe(`releases/${ok.sha256}`);
  });
});

describe('VERIFY_SNIPPET on its own (as other packages embed it)', () => {
  it.skipIf(!hasSshKeygen)('exits 0 without allowed_signers and 65 for an unsigned or foreign-signed file under set -e', async () => {
    const { c, dir } = host();
    const keys = mkdtempSync(join(root, 'vkeys-'));
    for (const k of ['trusted', 'stranger']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(keys, k)]);
    const file = join(root, 'plain.bin');
    writeFileSync(file, 'payload');
    const check = (): Promise<number | null> =>
      c.run(`set -e; art=${JSON.stringify(file)}\n${VERIFY_SNIPPET}\necho verified`, { warn: true, hide: true }).then((r) => r.exitCode);
    expect(await check()).toBe(0);
    mkdirSync(join(dir, '.flotilla'), { recursive: true });
    writeFileSync(join(dir, '.flotilla/allowed_signers'), `ops@example ${readFileSync(join(keys, 'trusted.pub'), 'utf8')}`);
    expect(await check()).toBe(65);
    await signArtifact(file, { key: join(keys, 'stranger') });
    expect(await check()).toBe(65);
    await signArtifact(file, { key: join(keys, 'trusted') });
    expect(await check()).toBe(0);
  });
});

describe('the sh supervisor', { timeout: 90_000 }, () => {
  it('records pids, restarts with backoff, and stops with SIGTERM', async () => {
    const { c, dir } = host();
    const st = await startService(c, { name: 'web', command: 'sleep 300', runtime: 'supervisor', gracePeriodSeconds: 2 });
    expect(st).toMatchObject({ runtime: 'supervisor', running: true, restarts: 0 });
    const svc = join(dir, '.flotilla/services/web');
    expect(Number(readFileSync(join(svc, 'pid'), 'utf8'))).toBe(st.pid);
    // The recorded pid is the command itself (exec), not a wrapper shell.
    expect(readFileSync(`/proc/${st.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
    // Starting again is a no-op.
    expect((await startService(c, { name: 'web', command: 'sleep 300', runtime: 'supervisor' })).pid).toBe(st.pid);
    process.kill(st.pid!, 'SIGKILL');
    const restarted = await until('a restart', async () => {
      const s = await serviceStatus(c, 'web', 'supervisor');
      return s.running && s.pid !== st.pid ? s : undefined;
    });
    expect(restarted.restarts).toBe(1);
    expect(readFileSync(join(svc, 'log'), 'utf8')).toMatch(/exited with status 137/);
    await stopService(c, 'web', { runtime: 'supervisor', gracePeriodSeconds: 2 });
    const stopped = await serviceStatus(c, 'web', 'supervisor');
    expect(stopped).toMatchObject({ running: false, pid: null, supervisorPid: null, state: 'stopped' });
    expect(existsSync(`/proc/${restarted.pid}`)).toBe(false);
  });

  it('sends SIGKILL after the grace period to a command that ignores SIGTERM', async () => {
    const { c, dir } = host();
    const st = await startService(c, { name: 'stubborn', command: "trap '' TERM; while :; do sleep 1; done", runtime: 'supervisor', gracePeriodSeconds: 1 });
    expect(st.running).toBe(true);
    await stopService(c, 'stubborn', { runtime: 'supervisor', gracePeriodSeconds: 1 });
    expect(readFileSync(join(dir, '.flotilla/services/stubborn/log'), 'utf8')).toMatch(/still running after 1s; sending SIGKILL/);
    expect(existsSync(`/proc/${st.pid}`)).toBe(false);
  });

  it('rotates the output log past logMaxBytes (log -> log.1), the command writing on', async () => {
    const { c, dir } = host();
    // ~1.1 KB a line, a line every 10 ms: past 32 KiB within a second or two, rotated at the next check.
    const line = 'x'.repeat(1100);
    await startService(c, { name: 'chatty', command: `i=0; while :; do echo "$i ${line}"; i=$((i+1)); sleep 0.01; done`, runtime: 'supervisor', logMaxBytes: 32 * 1024, gracePeriodSeconds: 1 });
    const svc = join(dir, '.flotilla/services/chatty');
    await until('a rotated log', () => Promise.resolve(existsSync(join(svc, 'log.1')) ? true : undefined));
    const first = readFileSync(join(svc, 'log.1'), 'utf8').split('\n')[0]!.split(' ')[0];
    // The command keeps writing into the truncated file, from where it had got to.
    const later = await until('new lines in log', () => {
      const l = readFileSync(join(svc, 'log'), 'utf8').split('\n').filter((x) => /^\d+ x/.test(x));
      return Promise.resolve(l.length > 3 ? l : undefined);
    });
    expect(Number(later[0]!.split(' ')[0])).toBeGreaterThan(Number(first));
    // Bounded: each file stays near the limit (a check every 2 s lets it pass by what 2 s write).
    await new Promise((r) => setTimeout(r, 5000));
    expect(statSync(join(svc, 'log')).size).toBeLessThan(32 * 1024 + 400 * 1100);
    expect(statSync(join(svc, 'log.1')).size).toBeLessThan(32 * 1024 + 400 * 1100);
    await stopService(c, 'chatty', { runtime: 'supervisor', gracePeriodSeconds: 1 });
    await expect(startService(c, { name: 'bad', command: 'true', runtime: 'supervisor', logMaxBytes: -1 })).rejects.toThrow(/logMaxBytes/);
  });

  it('restart: never stops supervising after the command exits', async () => {
    const { c } = host();
    await startService(c, { name: 'once', command: 'echo done; sleep 0.3', runtime: 'supervisor', restart: 'never', env: { X: '1' } });
    const s = await until('exit', async () => {
      const v = await serviceStatus(c, 'once', 'supervisor');
      return v.state === 'exited' ? v : undefined;
    });
    expect(s).toMatchObject({ running: false, restarts: 0 });
  });
});
