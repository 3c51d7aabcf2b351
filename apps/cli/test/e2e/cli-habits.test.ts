// Issue 17, habits, through the built `flo` (no servers needed): FORCE_COLOR and NO_COLOR,
// -v/--verbose and FLOTILLA_DEBUG, flo hosts and --list-hosts (which must connect to nothing:
// one inventory host is an ssh address nobody answers on).
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { floCommand, freePorts } from './kv-harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'flo-habits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  path.join(dir, 'hosts.yaml'),
  [
    'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: l1, labels: {role: web}}\nspec: {local: {dir: ./l1}}\n',
    'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: far, labels: {role: db}}\nspec: {address: 127.0.0.1, port: 1, user: nobody}\n',
  ].join('---\n'),
);

/** Runs the built flo in `dir` with exactly this environment (plus PATH and HOME), stdin closed. */
function flo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...floCommand(), ...args], { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const ESC = String.fromCharCode(27);

describe('habits of the built flo', () => {
  it('colours: none without a terminal; FORCE_COLOR turns them on; FORCE_COLOR=0 and NO_COLOR keep them off', async () => {
    const argv = ['run', '-H', 'l1', 'echo hi; exit 3'];
    expect((await flo(argv)).stderr).not.toContain(ESC);
    const forced = await flo(argv, { FORCE_COLOR: '1' });
    expect(forced.code).toBe(1);
    expect(forced.stdout + forced.stderr).toContain(ESC);
    for (const env of [{ FORCE_COLOR: '0' }, { FORCE_COLOR: '1', NO_COLOR: '1' }]) expect((await flo(argv, env)).stderr, JSON.stringify(env)).not.toContain(ESC);
  });

  it('-v, --verbose and FLOTILLA_DEBUG: every retry and the stack; without them one line per endpoint and no stack', async () => {
    const [port] = await freePorts(1);
    const argv = ['kv', 'get', 'k', '--endpoints', `http://127.0.0.1:${port}`, '--request-timeout', '2'];
    const quiet = await flo(argv);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr.match(/flo: trying/g)).toHaveLength(1);
    expect(quiet.stderr).not.toMatch(/^\s+at /m);
    for (const [extra, env] of [[['-v'], {}], [['--verbose'], {}], [[], { FLOTILLA_DEBUG: '1' }]] as const) {
      const r = await flo([...argv, ...extra], env);
      expect(r.code).toBe(1);
      expect(r.stderr.match(/flo: trying/g)?.length ?? 0, r.stderr).toBeGreaterThan(1);
      expect(r.stderr).toMatch(/^\s+at /m);
    }
  });

  it('flo hosts -l and --list-hosts name the matched hosts and connect to none (far would fail)', async () => {
    const hosts = await flo(['hosts', '-l', 'role in (web,db)']);
    expect(hosts.code).toBe(0);
    expect(hosts.stdout).toMatch(/^NAME\s+ADDRESS\s+LABELS\nl1\s+local:\S+\s+role=web\nfar\s+nobody@127\.0\.0\.1:1\s+role=db\n$/);
    const listed = await flo(['run', '-R', 'db', '--list-hosts', 'uptime']);
    expect(listed).toMatchObject({ code: 0, stdout: '  hosts (1):\n    far\n', stderr: '' });
    // the same selection, really run: far cannot be reached
    expect((await flo(['run', '-R', 'db', '--connect-timeout', '5', 'uptime'])).code).toBe(1);
  });
});
