// etcd3 is an optional peer dependency: without it, an etcd:// store is a typed error that says
// how to install it, and nothing else needs it. The module loader is injected here with the
// errors Node really gives (captured from a child process in a directory without etcd3);
// tools/pack-check.mjs does the same against a packed install that lacks etcd3
// (test/pack/etcd3-missing.mjs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isClusterError } from '../src/index.js';
import { loadEtcd3 } from '../src/store/etcd-client.js';

const dir = mkdtempSync(join(tmpdir(), 'flo-no-etcd3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error Node gives when `probe.mjs` in `cwd` imports etcd3. */
function nodeImportError(cwd: string): Error {
  writeFileSync(
    join(cwd, 'probe.mjs'),
    "import('etcd3').then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));\n",
  );
  const out = spawnSync(process.execPath, ['probe.mjs'], { cwd, encoding: 'utf8' });
  const { code, message } = JSON.parse(out.stdout) as { code?: string; message?: string };
  if (code === undefined || message === undefined) throw new Error(`etcd3 was found from ${cwd}; the test needs a directory without it`);
  return Object.assign(new Error(message), { code });
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('etcd3 is an optional peer dependency', () => {
  it('without etcd3 installed: ClusterError dependency-missing saying npm i etcd3', async () => {
    const real = nodeImportError(dir);
    expect(real.message).toMatch(/etcd3/);
    const err = await rejection(loadEtcd3(() => Promise.reject(real)));
    expect(isClusterError(err)).toBe(true);
    expect(err).toMatchObject({ name: 'ClusterError', code: 'dependency-missing', cause: real });
    expect((err as Error).message).toMatch(/etcd:\/\/ stores need the etcd3 package, which is not installed/);
    expect((err as Error).message).toMatch(/optional peer dependency of @flotilla\/cluster/);
    expect((err as Error).message).toMatch(/npm i etcd3$/);
  });

  it('etcd3 installed but missing a module it needs: dependency-missing naming that module', async () => {
    // A stand-in etcd3 whose own dependency is absent, as a broken install would be.
    const broken = join(dir, 'broken');
    mkdirSync(join(broken, 'node_modules', 'etcd3'), { recursive: true });
    writeFileSync(join(broken, 'node_modules', 'etcd3', 'package.json'), JSON.stringify({ name: 'etcd3', version: '1.1.2', main: 'index.js' }));
    writeFileSync(join(broken, 'node_modules', 'etcd3', 'index.js'), "module.exports = require('@grpc/grpc-js');\n");
    const real = nodeImportError(broken);
    const err = await rejection(loadEtcd3(() => Promise.reject(real)));
    expect(err).toMatchObject({ code: 'dependency-missing' });
    expect((err as Error).message).toMatch(/installed but cannot load: Cannot find module '@grpc\/grpc-js'/);
    expect((err as Error).message).toMatch(/Reinstall it: npm i etcd3$/);
  });

  it('other failures pass through unchanged', async () => {
    const boom = new TypeError('boom');
    expect(await rejection(loadEtcd3(() => Promise.reject(boom)))).toBe(boom);
  });

  it('with etcd3 installed (a devDependency here) the real loader gives the client class', async () => {
    const mod = await loadEtcd3();
    expect(typeof mod.Etcd3).toBe('function');
  });
});
