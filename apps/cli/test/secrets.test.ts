// Private data at flo's edges (issue 12 §4): token and key files that others can read are
// refused with the chmod 600 fix (as ssh refuses an unprotected private key), and
// `flo kv snapshot save` writes a 0600 file whatever the umask.
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startKvServer } from '@flotilla/raft/server';
import { main } from '../src/cli.js';
import { freePort } from '@flotilla/raft/testing';

const dir = mkdtempSync(join(tmpdir(), 'flo-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function flo(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  const code = await main(argv, { stdout, stderr, stdin: new PassThrough(), env: {}, cwd: dir });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

function secret(name: string, mode: number, content = 's3cret-token\n'): string {
  const f = join(dir, name);
  writeFileSync(f, content);
  chmodSync(f, mode);
  return f;
}

describe('secret files', { timeout: 60_000 }, () => {
  it.each([
    ['kv --token-file', (f: string) => ['kv', 'get', 'x', '--token-file', f, '--endpoints', 'http://127.0.0.1:1']],
    ['server --token-file', (f: string) => ['server', '--data', join(dir, 'd1'), '--token-file', f, '--dev-cluster', '1', '--listen', '127.0.0.1:0']],
    ['server --peer-token-file', (f: string) => ['server', '--data', join(dir, 'd3'), '--token-file', secret('ok-token', 0o600, 'tok'), '--peer-token-file', f, '--dev-cluster', '1', '--listen', '127.0.0.1:0']],
    ['server --tls-key', (f: string) => ['server', '--data', join(dir, 'd2'), '--tls-cert', secret('cert.pem', 0o644, 'CERT'), '--tls-key', f, '--id', '1']],
  ])('%s: a 0644 file is refused (exit 2) with the chmod 600 fix, and the secret is not printed', async (_what, argv) => {
    const f = secret(`secret-${Math.random().toString(36).slice(2)}`, 0o644);
    const r = await flo(argv(f));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`chmod 600 ${f}`);
    expect(r.stderr).toContain('0644');
    expect(r.stderr).not.toContain('s3cret');
  });

  it('a 0640 token file is refused too (group access)', async () => {
    const f = secret('group-token', 0o640);
    const r = await flo(['kv', 'get', 'x', '--token-file', f, '--endpoints', 'http://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`chmod 600 ${f}`);
  });

  it('a 0600 token file is used, and kv snapshot save writes a 0600 file under umask 022', async () => {
    const peer = await freePort();
    const server = await startKvServer({ id: 1, listen: '127.0.0.1:0', peerListen: `127.0.0.1:${peer}`, peers: new Map([[1, `127.0.0.1:${peer}`]]), data: join(dir, 'm1'), token: 'good-token', peerToken: 'peer-secret', tickMs: 10 });
    const umask = process.umask(0o022);
    try {
      const token = secret('token', 0o600, 'good-token\n');
      const common = ['--endpoints', server.clientUrl, '--token-file', token];
      expect((await flo(['kv', 'put', 'k', 'a user value', ...common])).code).toBe(0);
      const out = join(dir, 'backup.snap');
      const r = await flo(['kv', 'snapshot', 'save', out, ...common]);
      expect(r.stderr).toMatch(/saved a snapshot/);
      expect(r.code).toBe(0);
      expect(statSync(out).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(umask);
      await server.close();
    }
  });
});
