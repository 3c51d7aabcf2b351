// /readyz of flo controller --metrics-listen as DESIGN says: ready when it holds the leader
// lease, or as a healthy standby (it reaches the store); still ready after it takes over.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { floArgv, makeFlo, until } from './cluster-harness.js';
import { freePorts } from './kv-harness.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGTERM');
      await exited;
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(url);
    return { status: r.status, body: await r.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

describe('flo controller --metrics-listen: /readyz of the leader and of a standby', () => {
  it('both ready (leader holds the lease, standby reaches the store); still ready once the leader stops', async () => {
    const flo = makeFlo();
    dirs.push(flo.dir);
    const [p1, p2] = await freePorts(2);
    const start = (port: number, id: string): ChildProcess => {
      const c = spawn(process.execPath, [...floArgv(), 'controller', '--leader-identity', id, '--metrics-listen', `127.0.0.1:${port}`, '--log-level', 'warn', '--store', `file://${flo.dir}/store`], { cwd: flo.dir, stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(c);
      return c;
    };
    const first = start(p1!, 'first');
    await until('first ready (leading)', async () => (await get(`http://127.0.0.1:${p1}/readyz`)).status === 200);
    start(p2!, 'second');
    const standby = await until('second ready as a standby', async () => {
      const r = await get(`http://127.0.0.1:${p2}/readyz?verbose`);
      return r.status === 200 ? r : undefined;
    });
    expect(standby.body).toBe('[+]leader-election ok\n[+]store-watch ok\nreadyz check passed\n');
    expect((await get(`http://127.0.0.1:${p2}/healthz`)).status).toBe(200);
    const exited = new Promise((r) => first.once('exit', r));
    process.kill(first.pid!, 'SIGTERM'); // releases the lease
    await exited;
    await until('the second ready as the leader', async () => (await get(`http://127.0.0.1:${p2}/readyz`)).status === 200);
  });
});
