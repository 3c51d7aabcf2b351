/**
 * What the cluster benches share: a timestamped log line on stderr, and child processes
 * tracked in a set so that a bench can stop exactly the processes it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** `[HH:MM:SS] message` on stderr (stdout is kept for the bench's results). */
export const log = (s: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Options of {@link spawnTracked}. */
export interface TrackedSpawnOptions {
  cwd: string;
  /** Added to this process's environment (NO_COLOR=1 always is). */
  env?: NodeJS.ProcessEnv;
  /** Also append the child's stderr to this file. */
  logFile?: string;
}

/**
 * Starts a long-running child (flo server, controller, agents, etcd) and keeps it in `children`
 * until it exits; an unexpected exit (a non-zero code, not a signal the bench sent) is logged
 * with the last 3,000 characters of its stderr.
 */
export function spawnTracked(children: Set<ChildProcess>, name: string, cmd: string, args: readonly string[], options: TrackedSpawnOptions): ChildProcess {
  const child = spawn(cmd, args, { cwd: options.cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...options.env } });
  let tail = '';
  child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-3000)));
  if (options.logFile !== undefined) child.stderr.pipe(createWriteStream(options.logFile));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (signal === null && code !== 0) log(`${name} exited ${code}: ${tail}`);
  });
  children.add(child);
  return child;
}
