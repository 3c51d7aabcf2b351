// The real runtime (@flotilla/deploy, local transport, sh supervisor, real processes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { API_VERSION, DeployRuntime, storeArtifact, type Host, type Instance } from '../src/index.js';
import { writeSampleArtifact } from '../src/demo/index.js';
import { isProcessAlive } from '@flotilla/sys';

const root = mkdtempSync(join(tmpdir(), 'flotilla-runtime-'));
const runtime = new DeployRuntime();
afterAll(async () => {
  await runtime.close();
  rmSync(root, { recursive: true, force: true });
});

/** Is a process alive (a zombie is not)? @flotilla/sys's one liveness check. */
const alive = (pid: number): boolean => isProcessAlive(pid);

async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('DeployRuntime on the local transport', () => {
  it('starts an instance from a content-addressed artifact with HOST/PORT set, health-checks, heals a killed command, stops it', async () => {
    const artifact = await storeArtifact(await writeSampleArtifact(join(root, 'build')), join(root, 'artifacts'));
    const host: Host = { apiVersion: API_VERSION, kind: 'Host', metadata: { name: 'local-1' }, spec: { local: { dir: join(root, 'h1') } } };
    const instance: Instance = {
      apiVersion: API_VERSION,
      kind: 'Instance',
      metadata: { name: 'web-abcde' },
      spec: {
        replicaSet: 'web',
        host: 'local-1',
        templateHash: 'x',
        template: { artifact, command: ['node', 'server.js'], env: { GREETING: 'hi' }, ports: [{ name: 'http' }], terminationGracePeriodSeconds: 2 },
      },
    };
    expect(await runtime.probeHost(host)).toMatchObject({ load1: expect.any(Number) });
    const started = await runtime.start(host, instance);
    expect(started.pid).toBeGreaterThan(0);
    expect(alive(started.pid!)).toBe(true);
    const port = started.ports.http!;
    expect(port).toBeGreaterThanOrEqual(20000);
    instance.status = { phase: 'Starting', ready: false, ports: started.ports, restarts: 0, pid: started.pid! };
    const check = { http: { path: '/healthz', port: 'http' } };
    await poll('healthy', async () => ((await runtime.healthCheck(host, instance, check)) ? true : undefined));
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(body).toBe(`hi from web-abcde (pid ${started.pid}) on 127.0.0.1:${port}\n`);
    // the pid is the command's own (node), not the supervisor's
    const observed = (await runtime.observe(host, [instance])).get('web-abcde')!;
    expect(observed).toMatchObject({ state: 'running', pid: started.pid, restarts: 0, ports: { http: port } });
    // the artifact was unpacked once, content-addressed
    const second = { ...instance, metadata: { name: 'web-fghij' } };
    const s2 = await runtime.start(host, second);
    expect(s2.ports.http).not.toBe(port);
    // SIGKILL the command: the supervisor restarts it, with a new pid
    process.kill(started.pid!, 'SIGKILL');
    const healed = await poll('restarted', async () => {
      const o = (await runtime.observe(host, [instance])).get('web-abcde')!;
      return o.restarts === 1 && o.pid !== undefined && o.pid !== started.pid ? o : undefined;
    });
    expect(alive(healed.pid!)).toBe(true);
    const logs: string[] = [];
    for await (const chunk of runtime.logs(host, instance)) logs.push(chunk);
    expect(logs.join('')).toContain(`web-abcde listening on 127.0.0.1:${port}`);
    // -f: follows new output until aborted
    const abort = new AbortController();
    const followed: string[] = [];
    const following = (async () => {
      for await (const chunk of runtime.logs(host, instance, { follow: true, signal: abort.signal })) {
        followed.push(chunk);
        if (followed.join('').split('command exited with status').length > 2) abort.abort();
      }
    })();
    await poll('existing output', () => Promise.resolve(followed.join('').includes('command exited with status') ? true : undefined));
    process.kill(healed.pid!, 'SIGKILL'); // written after the follow began: a second exit line
    await poll('followed', () => Promise.resolve(followed.join('').split('command exited with status').length > 2 ? true : undefined)).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(followed)}`);
    });
    abort.abort();
    await following;
    const restarted = await poll('restarted again', async () => {
      const o = (await runtime.observe(host, [instance])).get('web-abcde')!;
      return o.restarts === 2 && o.pid !== undefined ? o : undefined;
    });
    healed.pid = restarted.pid;
    await runtime.stop(host, instance, 2000);
    await runtime.stop(host, second, 2000);
    expect(alive(healed.pid!)).toBe(false);
    expect(alive(s2.pid!)).toBe(false);
    expect((await runtime.observe(host, [instance])).get('web-abcde')).toEqual({ state: 'absent', restarts: 0 });
    await runtime.writeFile(host, 'upstreams/web.txt', '127.0.0.1:1\n');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(root, 'h1/upstreams/web.txt'), 'utf8')).toBe('127.0.0.1:1\n');
  }, 60_000);

  it('reports an unreachable ssh host as an error from probeHost', async () => {
    const host: Host = { apiVersion: API_VERSION, kind: 'Host', metadata: { name: 'nowhere' }, spec: { address: '127.0.0.1', port: 1 } };
    const r = new DeployRuntime({ connectTimeoutMs: 2000 });
    await expect(r.probeHost(host)).rejects.toThrow();
    await r.close();
  });
});

describe('DeployRuntime artifact signatures (hosts with ~/.flotilla/allowed_signers)', () => {
  it('runs a signed artifact, refuses an unsigned one', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdirSync, readFileSync, writeFileSync } = await import('node:fs');
    const { signArtifact } = await import('@flotilla/deploy');
    const keyDir = join(root, 'keys');
    mkdirSync(keyDir, { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'release@flotilla', '-f', join(keyDir, 'id')]);
    const hostDir = join(root, 'signed-host');
    mkdirSync(join(hostDir, '.flotilla'), { recursive: true });
    writeFileSync(join(hostDir, '.flotilla/allowed_signers'), `release@flotilla ${readFileSync(join(keyDir, 'id.pub'), 'utf8')}`);
    const host: Host = { apiVersion: API_VERSION, kind: 'Host', metadata: { name: 'signed' }, spec: { local: { dir: hostDir } } };
    const make = (name: string, artifact: { path: string; sha256: string }): Instance => ({
      apiVersion: API_VERSION,
      kind: 'Instance',
      metadata: { name },
      spec: { replicaSet: 'web', host: 'signed', templateHash: 'x', template: { artifact, command: ['node', 'server.js'], ports: [{ name: 'http' }], terminationGracePeriodSeconds: 1 } },
    });
    // signed: the signature is copied next to the content-addressed artifact and verified on the host
    const signedSrc = await writeSampleArtifact(join(root, 'signed-build'));
    await signArtifact(signedSrc, { key: join(keyDir, 'id') });
    const signed = await storeArtifact(signedSrc, join(root, 'signed-artifacts'));
    const ok = make('signed-ok', signed);
    const started = await runtime.start(host, ok);
    expect(alive(started.pid!)).toBe(true);
    await runtime.stop(host, ok, 1000);
    // unsigned (different content): refused before anything runs
    const unsignedSrc = join(root, 'unsigned.tar');
    execFileSync('tar', ['-C', join(root, 'keys'), '-cf', unsignedSrc, 'id.pub']);
    const unsigned = await storeArtifact(unsignedSrc, join(root, 'signed-artifacts'));
    await expect(runtime.start(host, make('unsigned', unsigned))).rejects.toThrow(/refused: .*has no signature/);
  }, 60_000);
});
