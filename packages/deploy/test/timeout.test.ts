// Timeouts end the call, not the host: a Connection settles at its timeout even when the
// transport never answers (as over a connection to a frozen sshd), drops a transport whose
// operation does not let go, and opens a new one for the next call. The end-to-end suite
// (test/e2e/timeout.test.ts) does the same against real sshd processes stopped with SIGSTOP.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { raceAbort, RELEASE_GRACE_MS } from '../src/abandon.js';
import { Connection, DeployError, LocalTransport, isTimeoutError, isUnreachableError, runOnHosts, withDeployLock } from '../src/index.js';
import { startMuxDaemon, type MuxDaemon } from '../src/mux/index.js';
import type { ExecOptions, ExecOutcome, SshTarget, Transport } from '../src/index.js';
import { listPersisted, openMuxTransport } from '../src/mux/client.js';
import type { RemoteFiles } from '../src/transport.js';

const dir = mkdtempSync(join(tmpdir(), 'flo-timeout-'));
const daemons: MuxDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.close()));
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A "host" whose sshd can be frozen: every transport to it hangs while it is. */
interface Host {
  frozen: boolean;
}

/**
 * A local transport to a {@link Host}: while the host is frozen, operations never settle and
 * ignore their abort signal — as over a connection to a stopped sshd — until {@link destroy}
 * fails them.
 */
class Freezable extends LocalTransport {
  destroyed: string | undefined;
  private readonly pending: ((e: Error) => void)[] = [];
  constructor(private readonly host: Host) {
    super(dir, { setHome: false });
    const base = this.files;
    Object.defineProperty(this, 'files', {
      value: new Proxy(base, {
        get: (target, prop: keyof RemoteFiles) => (...args: unknown[]) => (this.host.frozen ? this.hang() : (target[prop] as (...a: unknown[]) => Promise<unknown>)(...args)),
      }),
    });
  }
  private hang<T>(): Promise<T> {
    return new Promise<T>((_resolve, reject) => this.pending.push(reject));
  }
  override exec(command: string, options: ExecOptions): Promise<ExecOutcome> {
    return this.host.frozen ? this.hang() : super.exec(command, options);
  }
  override putFile(...args: Parameters<LocalTransport['putFile']>): Promise<void> {
    return this.host.frozen ? this.hang() : super.putFile(...args);
  }
  override getFile(...args: Parameters<LocalTransport['getFile']>): Promise<void> {
    return this.host.frozen ? this.hang() : super.getFile(...args);
  }
  isOpen(): boolean {
    return this.destroyed === undefined;
  }
  destroy(reason: string): void {
    this.destroyed = reason;
    for (const reject of this.pending.splice(0)) reject(new DeployError('connection-lost', reason));
  }
}

function freezable(options: { commandTimeoutMs?: number } = {}): { c: Connection; made: Freezable[]; host: Host } {
  const made: Freezable[] = [];
  const host: Host = { frozen: false };
  const c = new Connection(
    'h',
    () => {
      const t = new Freezable(host);
      made.push(t);
      return Promise.resolve(t);
    },
    options,
  );
  return { c, made, host };
}

describe('raceAbort', () => {
  it('settles at the abort without waiting for the operation, and calls onStuck when it does not let go', async () => {
    vi.useFakeTimers();
    const ctl = new AbortController();
    const onStuck = vi.fn();
    let released: Promise<void> | undefined;
    const p = raceAbort(new Promise<never>(() => undefined), ctl.signal, { abortError: () => new Error('stopped'), onStuck, onAbandoned: (r) => void (released = r) });
    ctl.abort();
    await expect(p).rejects.toThrow('stopped');
    expect(released).toBeDefined();
    await vi.advanceTimersByTimeAsync(RELEASE_GRACE_MS - 1);
    expect(onStuck).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(onStuck).toHaveBeenCalledTimes(1);
    await released;
  });

  it('an operation that lets go within the grace is not stuck; one that settles first wins', async () => {
    vi.useFakeTimers();
    const ctl = new AbortController();
    const onStuck = vi.fn();
    let let_go!: () => void;
    const op = new Promise<void>((r) => (let_go = r));
    const p = raceAbort(op, ctl.signal, { abortError: () => new Error('stopped'), onStuck });
    ctl.abort();
    await expect(p).rejects.toThrow('stopped');
    let_go();
    await vi.advanceTimersByTimeAsync(RELEASE_GRACE_MS * 2);
    expect(onStuck).not.toHaveBeenCalled();
    const q = new AbortController();
    await expect(raceAbort(Promise.resolve(7), q.signal, { abortError: () => new Error('x'), onStuck })).resolves.toBe(7);
    q.abort();
    await vi.advanceTimersByTimeAsync(RELEASE_GRACE_MS * 2);
    expect(onStuck).not.toHaveBeenCalled();
  });
});

describe('Connection: a timeout ends the call whatever the host does', () => {
  it('a command on a frozen host settles at its timeout with a TimeoutError; the transport is dropped a second later and the next command opens a new one', async () => {
    const { c, made, host } = freezable();
    await c.run('true');
    host.frozen = true;
    const r = await runOnHosts(['h'], () => c.run('echo never', { timeoutMs: 200 }));
    const h = r.hosts[0]!;
    expect(h.status).toBe('failed');
    expect(isTimeoutError(h.error)).toBe(true);
    expect(h.error).toMatchObject({ code: 'timeout', phase: 'command', timeoutMs: 200, host: 'h', message: 'command timed out after 200 ms on h: echo never' });
    expect(h.durationMs).toBeGreaterThanOrEqual(200);
    // Settled at the timeout, before the grace after which the transport counts as wedged.
    expect(made[0]!.destroyed).toBeUndefined();
    host.frozen = false;
    // The next command waits for that decision, then runs on a new transport.
    expect((await c.run('echo again')).stdout).toBe('again\n');
    expect(made[0]!.destroyed).toMatch(/did not let go/);
    expect(made).toHaveLength(2);
    await c.close();
  });

  it('a command killed at its timeout on a healthy host keeps the transport', async () => {
    const { c, made } = freezable();
    await expect(c.run('sleep 5', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'timeout', phase: 'command' });
    expect((await c.run('echo same')).stdout).toBe('same\n');
    expect(made).toHaveLength(1);
    expect(made[0]!.destroyed).toBeUndefined();
    await c.close();
  });

  it('uploads, downloads and file operations are bounded by the connection timeout too', async () => {
    const local = join(dir, 'payload.txt');
    writeFileSync(local, 'x');
    const frozen = (): Connection => {
      const { c, host } = freezable({ commandTimeoutMs: 150 });
      host.frozen = true;
      return c;
    };
    const up = frozen();
    await expect(up.put(local, 'copy.txt')).rejects.toMatchObject({ code: 'timeout', phase: 'transfer', message: expect.stringMatching(/^upload timed out after 150 ms on h: /) });
    const down = frozen();
    await expect(down.get('payload.txt', join(dir, 'back.txt'))).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/^download timed out after 150 ms on h: /) });
    const files = frozen();
    await expect((await files.files()).stat('payload.txt')).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/^SFTP stat timed out after 150 ms on h: /) });
    await Promise.all([up.close(), down.close(), files.close()]);
  });

  it('the deploy lock: a task whose host freezes fails at its timeout; the release gives up after a second and says so', async () => {
    // The lock is taken before the host freezes: a budget a loaded machine cannot miss there.
    const { c, host } = freezable({ commandTimeoutMs: 1000 });
    const warnings: string[] = [];
    await expect(
      withDeployLock(
        c,
        async () => {
          host.frozen = true;
          await c.run('true');
        },
        { onWarning: (m) => warnings.push(m) },
      ),
    ).rejects.toMatchObject({ code: 'timeout' });
    expect(warnings).toEqual([expect.stringMatching(/^h: could not release the deploy lock/)]);
    await c.close();
  });

  it('a timeout while the connection is still opening says so, counts as unreachable, and close() abandons the open', async () => {
    let openSignal: AbortSignal | undefined;
    const c = new Connection('h', (signal) => {
      openSignal = signal;
      return new Promise<Transport>((_resolve, reject) => signal?.addEventListener('abort', () => reject(new DeployError('aborted', 'open aborted'))));
    });
    const e = await c.run('true', { timeoutMs: 100 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'timeout', phase: 'connect', message: 'command timed out after 100 ms on h while connecting: true' });
    expect(isUnreachableError(e)).toBe(true);
    expect(openSignal?.aborted).toBe(false);
    await c.close();
    expect(openSignal?.aborted).toBe(true);
  });

  it('an abort signal ends a call on a frozen host at once with code aborted', async () => {
    const { c, host } = freezable();
    await c.run('true');
    host.frozen = true;
    const ctl = new AbortController();
    const p = c.run('echo never', { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: 'aborted', message: 'command aborted on h: echo never' });
    await c.close();
  });
});

describe('--persist: the connection daemon lets go of a frozen host', () => {
  const target: SshTarget = {
    label: 'h',
    hostName: 'h.example',
    port: 22,
    user: 'deploy',
    identityFiles: [],
    identitiesOnly: false,
    agent: undefined,
    knownHostsFiles: [],
    globalKnownHostsFiles: [],
    strictHostKeyChecking: 'yes',
    connectTimeoutMs: 1000,
    jumps: [],
  };
  let n = 0;
  function setup(): { c: Connection; made: Freezable[]; host: Host; controlDir: string } {
    const controlDir = join(dir, `ctl-${++n}`);
    const made: Freezable[] = [];
    const host: Host = { frozen: false };
    const startDaemon = async (socketPath: string, idleMs: number): Promise<void> => {
      daemons.push(
        await startMuxDaemon({
          socketPath,
          idleMs,
          open: () => {
            const t = new Freezable(host);
            made.push(t);
            return Promise.resolve(t);
          },
        }),
      );
    };
    const c = new Connection('h', (signal) => openMuxTransport(target, { controlDir, persistMs: 60_000, startDaemon }, signal), { commandTimeoutMs: 150 });
    return { c, made, host, controlDir };
  }

  it('a command relayed to a frozen host ends at its timeout; the daemon drops that connection and the next command gets a new one', async () => {
    const { c, made, host, controlDir } = setup();
    // Warm-up (starts the daemon, opens the connection): not what is measured, so not 150 ms.
    await c.run('true', { timeoutMs: 10_000 });
    host.frozen = true;
    await expect(c.run('echo never')).rejects.toMatchObject({ code: 'timeout', phase: 'command', message: 'command timed out after 150 ms on h: echo never' });
    host.frozen = false;
    // The next command waits (up to a second) for the daemon's verdict on the old connection.
    expect((await c.run('echo again', { timeoutMs: 10_000 })).stdout).toBe('again\n');
    expect(made[0]!.destroyed).toMatch(/stopped answering/);
    expect(made).toHaveLength(2);
    expect((await listPersisted({ controlDir }))?.map((x) => x.open)).toEqual([true]);
    await c.close();
  });

  it('a file operation relayed to a frozen host ends at its timeout, and the client has the daemon drop the connection', async () => {
    const { c, made, host } = setup();
    await c.run('true', { timeoutMs: 10_000 });
    host.frozen = true;
    await expect((await c.files()).stat('x')).rejects.toMatchObject({ code: 'timeout', message: 'SFTP stat timed out after 150 ms on h: x' });
    host.frozen = false;
    // The next command waits (up to a second) for the daemon's verdict on the old connection.
    expect((await c.run('echo again', { timeoutMs: 10_000 })).stdout).toBe('again\n');
    expect(made[0]!.destroyed).toMatch(/did not let go/);
    expect(made).toHaveLength(2);
    await c.close();
  });
});
