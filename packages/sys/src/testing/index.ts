/**
 * Test kits for the users of @flotilla/sys: real processes in the states a lock holder can be in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readProcStat } from '../process.js';

/**
 * A zombie: a shell starts `sleep` in the background, prints its pid and execs into another
 * `sleep`, which never waits for children. SIGKILL the background one and it stays a zombie
 * (dead, not reaped) until its parent exits.
 */
export async function startZombie(): Promise<{ pid: number; parent: ChildProcess }> {
  const parent = spawn('sh', ['-c', 'sleep 300 & echo $!; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    parent.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    parent.on('error', reject);
  });
  // Kill the child only once its parent is `sleep` (the shell has exec'd): a shell might still
  // reap a child that died first, and then there is no zombie to test.
  const comm = (p: number): string => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  for (let i = 0; i < 3000 && comm(parent.pid!) !== 'sleep'; i++) await new Promise((r) => setTimeout(r, 10));
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 3000 && readProcStat(pid)?.state !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
  return { pid, parent };
}

/** A live child process (`sleep`), with its pid. */
export async function startSleeper(): Promise<ChildProcess & { pid: number }> {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child as ChildProcess & { pid: number };
}

/** Whether /proc-based checks (zombie state, start times) can be tested here. */
export const onLinux = process.platform === 'linux';
