/**
 * Entry of the connection daemon process (`dist/mux-daemon.js`), started detached by the first
 * `flo --persist`: `node mux-daemon.js SOCKET IDLE_MS`. Logs go to stdout (the control
 * directory's daemon.log); exits when idle or stopped.
 */
import { closeSync, writeSync } from 'node:fs';
import { startMuxDaemon } from './daemon.js';

const [socketPath, idle] = process.argv.slice(2);
const idleMs = Number(idle);
const log = (line: string): void => void process.stdout.write(`${new Date().toISOString()} [${process.pid}] ${line}\n`);
if (!socketPath || !Number.isFinite(idleMs) || idleMs <= 0) {
  log(`usage: mux-daemon.js SOCKET IDLE_MS (got ${JSON.stringify(process.argv.slice(2))})`);
  process.exit(2);
}
process.on('SIGHUP', () => undefined);
try {
  const d = await startMuxDaemon({ socketPath, idleMs, log });
  // Tell the flo that started this daemon that it listens (fd 3 is a pipe to it, when present).
  try {
    writeSync(3, 'ready\n');
    closeSync(3);
  } catch {
    /* started by hand: no pipe */
  }
  // Load ssh2 now, while the first flo is still starting up, rather than on its first request.
  void import('../adapters/ssh2.js').then((m) => m.preloadSsh2()).catch(() => undefined);
  process.on('SIGTERM', () => void d.close());
  process.on('SIGINT', () => void d.close());
  await d.closed;
  process.exit(0);
} catch (e) {
  log(`cannot start: ${(e as Error).message}`);
  process.exit(1);
}
