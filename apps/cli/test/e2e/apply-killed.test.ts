// A `flo apply` SIGKILLed between two writes has printed exactly the objects it wrote
// (issue 12 §6: it used to print only at the end, so a killed apply said nothing).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stallingKv } from '../stalling-kv.js';
import { floArgv, until } from './cluster-harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'flo-apply-killed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a killed flo apply', () => {
  it('has printed each object it wrote, and only those', async () => {
    writeFileSync(
      path.join(dir, 'hosts.yaml'),
      ['a', 'b', 'c'].map((n) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}}\nspec: {local: {dir: ./hosts/${n}}}\n`).join('---\n'),
    );
    const kv = await stallingKv(2);
    try {
      const flo = spawn(process.execPath, [...floArgv(), 'apply', '-f', 'hosts.yaml', '--store', kv.url], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      flo.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      flo.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((r) => flo.once('exit', (_code, signal) => r(signal)));
      // the third write is held by the store: two objects are written
      await until('the third write to reach the store', () => kv.held() === 1, 60_000);
      await until(`both written objects on stdout (stdout: ${JSON.stringify(stdout)}, stderr: ${JSON.stringify(stderr)})`, () => stdout.includes('host/b created'), 10_000).catch(() => undefined);
      if (flo.exitCode === null && flo.signalCode === null) process.kill(flo.pid!, 'SIGKILL');
      const signal = await exited;
      expect(kv.keys()).toEqual(['/flotilla/v1/hosts/a', '/flotilla/v1/hosts/b']);
      expect(stdout).toBe('host/a created\nhost/b created\n');
      expect(signal).toBe('SIGKILL');
    } finally {
      kv.release();
      await kv.close();
    }
  });
});
