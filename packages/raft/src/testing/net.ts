/** freePort, freePorts, withFreePorts: free loopback TCP ports for tests and benchmarks. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Ports are drawn from `FIRST_PORT` up to `END_PORT` (exclusive) or the kernel's ephemeral
 * range, whichever starts first. `END_PORT` is where `@flotilla/cluster`'s runtime starts
 * handing out instance ports (20000–29999 by default): an end-to-end test's server must not
 * take a port that a `flo` instance on a local host was just given (the instance then fails
 * to bind and is restarted — seen as `restarts: 2` in a clean-clone CI).
 */
const FIRST_PORT = 10_000;
const END_PORT = 20_000;
/** Where the ephemeral range starts when the kernel does not say (IANA's, which macOS and Windows use). */
const IANA_EPHEMERAL = 49_152;
/** Ports this process has handed out: not handed out twice (its servers may still hold them, or be about to). */
const handedOut = new Set<number>();

/**
 * The first port of the kernel's ephemeral range: the ports that `connect()` takes for the
 * local end of an outgoing connection and `listen(0)` gives out, in any process.
 */
function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // not Linux
  }
  return IANA_EPHEMERAL;
}

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(undefined) : reject(e)));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(s));
  });
}

const close = (s: net.Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

/** Binds a port below the ephemeral range that this process has not handed out (bound now, released by the caller). */
async function bindUnused(): Promise<net.Server> {
  const end = Math.min(END_PORT, ephemeralStart());
  const span = end - FIRST_PORT;
  if (span >= 1000) {
    if (handedOut.size > span / 2) handedOut.clear(); // a long run: reuse the oldest rather than run dry
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = FIRST_PORT + Math.floor(Math.random() * span);
      if (handedOut.has(port)) continue;
      const s = await tryListen(port);
      if (s) return s;
    }
  }
  // a kernel whose ephemeral range starts low, or no free port found below it: any free port
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  return s;
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, for tests that start servers on
 * loopback at a port they must know beforehand (a Raft member's peer address).
 *
 * It is drawn at random from 10000–19999 (below `flo` instance ports) and below the kernel's ephemeral range (Linux:
 * `/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default; elsewhere 49152–65535),
 * where no outgoing connection and no `listen(0)` of any process can take it between now
 * and the server's bind — a port handed out from that range was taken that way on a busy
 * machine (`EADDRINUSE`). Still, a process that picks ports by the same rule may take it: a
 * test that must not flake starts with {@link withFreePorts}, which tries again on
 * `EADDRINUSE`. Never the same port twice in one process.
 */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * `n` distinct TCP ports that were free on 127.0.0.1 a moment ago: all bound at once (so no
 * two are the same), then released. As {@link freePort}, from below the ephemeral range.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await bindUnused());
    const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
    for (const p of ports) handedOut.add(p);
    return ports;
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** Is `e` (or an error it wraps) a failure to bind a port that is in use? */
export function isAddressInUse(e: unknown): boolean {
  for (let cur = e, depth = 0; cur !== undefined && cur !== null && depth < 10; depth++) {
    if (typeof cur !== 'object') return false;
    const { code, message, cause } = cur as { code?: unknown; message?: unknown; cause?: unknown };
    if (code === 'EADDRINUSE' || (typeof message === 'string' && message.includes('EADDRINUSE'))) return true;
    cur = cause;
  }
  return false;
}

/** Options of {@link withFreePorts}. */
export interface WithFreePortsOptions {
  /** How many times `start` runs at most. @default 5 */
  attempts?: number;
}

/**
 * Runs `start` with `n` fresh ports from {@link freePorts}; when it fails because one of
 * them was taken meanwhile ({@link isAddressInUse}), runs it again with new ports, up to
 * `attempts` times. Any other failure is thrown at once. `start` gets the attempt number
 * (1, 2, …) to keep each attempt's files apart, and must release whatever it started before
 * it throws.
 *
 * @example
 * const servers = await withFreePorts(3, async (ports, attempt) => startMembers(ports, `data/try${attempt}`));
 */
export async function withFreePorts<T>(n: number, start: (ports: number[], attempt: number) => Promise<T>, options: WithFreePortsOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  if (!Number.isInteger(attempts) || attempts < 1) throw new TypeError(`attempts: expected a positive integer, received ${String(attempts)}`);
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(n);
    try {
      return await start(ports, attempt);
    } catch (e) {
      if (!isAddressInUse(e) || attempt >= attempts) throw e;
    }
  }
}
