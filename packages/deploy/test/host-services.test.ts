// What happens on a host that the cluster's runtime asks deploy for (issue 18 §3): installing
// a content-addressed artifact, and a service's ports, observation, signal, log and removal —
// on the local transport, with real processes.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Connection, artifactReleaseDir, connectHostAddress, installArtifact, isCommandFailedError, observeServices, removeService, serviceLogPath, signalService, startService, stopService } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'flo-host-services-'));
const open: Connection[] = [];
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  rmSync(root, { recursive: true, force: true });
});
function host(name: string): { c: Connection; dir: string } {
  const dir = join(root, name);
  const c = Connection.localDir(dir, { name });
  open.push(c);
  return { c, dir };
}
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('installArtifact', () => {
  it('unpacks a tarball once into its release directory, refuses a wrong checksum, and copies any other file as an executable', async () => {
    const { c, dir } = host('a');
    const src = mkdtempSync(join(root, 'src-'));
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const tgz = join(root, 'app.tgz');
    execFileSync('tar', ['-C', src, '-czf', tgz, '.']);
    const sha = sha256(tgz);
    expect(await installArtifact(c, { path: tgz, sha256: sha })).toBe(artifactReleaseDir(sha));
    expect(readFileSync(join(dir, artifactReleaseDir(sha), 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    // installed once: a second install finds the release and uploads nothing (the file is gone)
    rmSync(join(dir, '.flotilla/artifacts/incoming', sha));
    expect(await installArtifact(c, { path: join(root, 'no-such-file'), sha256: sha })).toBe(artifactReleaseDir(sha));
    const bad = await installArtifact(c, { path: tgz, sha256: '0'.repeat(64) }).catch((e: unknown) => e);
    expect(isCommandFailedError(bad) && bad.result.stderr).toContain('artifact checksum mismatch');
    expect(existsSync(join(dir, artifactReleaseDir('0'.repeat(64))))).toBe(false);
    const bin = join(root, 'tool');
    writeFileSync(bin, 'not a tarball');
    const binSha = sha256(bin);
    await installArtifact(c, { path: bin, sha256: binSha });
    expect(readFileSync(join(dir, artifactReleaseDir(binSha), 'artifact'), 'utf8')).toBe('not a tarball');
  });
});

describe('a service seen from outside: observeServices, signalService, serviceLogPath, removeService', () => {
  it('reports running with pid and ports, a restart after a signal, exited after stop, absent after removal', async () => {
    const { c } = host('b');
    const ports = { http: 20001, admin: 20002 };
    await startService(c, { name: 'web', command: 'sh -c "echo started; exec sleep 300"', ports, runtime: 'supervisor', restart: 'always', gracePeriodSeconds: 1 });
    const running = await until('web running', async () => {
      const st = (await observeServices(c, ['web', 'nothing'])).get('web');
      return st?.state === 'running' && st.pid !== undefined ? st : undefined;
    });
    expect(running).toMatchObject({ state: 'running', restarts: 0, ports });
    expect((await observeServices(c, ['nothing'])).get('nothing')).toEqual({ state: 'absent', restarts: 0 });
    await signalService(c, 'web');
    const restarted = await until('web restarted', async () => {
      const st = (await observeServices(c, ['web'])).get('web');
      return st?.state === 'running' && st.pid !== undefined && st.pid !== running.pid ? st : undefined;
    });
    expect(restarted.restarts).toBeGreaterThanOrEqual(1);
    // Started again while it runs (a controller that looked a moment too early): the running
    // process keeps its ports, the record says so, and startService reports them.
    const again = await startService(c, { name: 'web', command: 'sh -c "echo started; exec sleep 300"', ports: { http: 29001, admin: 29002 }, runtime: 'supervisor', restart: 'always', gracePeriodSeconds: 1 });
    expect(again).toMatchObject({ running: true, pid: restarted.pid, ports });
    expect((await observeServices(c, ['web'])).get('web')).toMatchObject({ pid: restarted.pid, ports });
    expect((await c.run(`cat ${serviceLogPath('web')}`, { hide: true })).stdout).toContain('started');
    await stopService(c, 'web', { gracePeriodSeconds: 1, runtime: 'supervisor' });
    const stopped = (await observeServices(c, ['web'])).get('web');
    expect(stopped?.state === 'running').toBe(false);
    expect(stopped?.ports).toEqual(ports);
    await removeService(c, 'web');
    expect((await observeServices(c, ['web'])).get('web')).toEqual({ state: 'absent', restarts: 0 });
    expect(() => serviceLogPath('../x')).toThrow(TypeError);
  });
});

describe('connectHostAddress: the one way from a Host to a Connection (inventory and cluster)', () => {
  it('a local host is its directory, named after the host; a host with neither address nor local is a TypeError', async () => {
    const dir = join(root, 'c');
    const c = connectHostAddress('h1', { local: { dir } });
    open.push(c);
    expect(c.host).toBe('h1');
    await c.writeFile('marker', 'here');
    expect(readFileSync(join(dir, 'marker'), 'utf8')).toBe('here');
    expect(() => connectHostAddress('h2', { user: 'x' })).toThrow(/host h2: expected spec.address or spec.local.dir/);
  });
});
