// Timeouts against hosts whose sshd is frozen with SIGSTOP (issue 12, part 5): the TCP
// connection stays open but nothing answers, so every wait for the server (a channel's close,
// an SFTP reply, the ssh greeting) would last until the keepalive gives up (~75 s) unless
// the timeout itself ends it. The bounds asserted below are correctness bounds — "ended by
// the timeout, not by the keepalive" — with seconds of slack, not speed measurements.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection, isUnreachableError, listPersisted, resolveSshTarget, runOnHosts, type SshOptions } from '../../src/index.js';
import { startMuxDaemon, type MuxDaemon } from '../../src/mux/index.js';
import { openMuxTransport } from '../../src/mux/client.js';
import { fleetAvailability, startFleet, type Fleet, type FrozenSshd } from '../../src/testing/index.js';

const avail = fleetAvailability();
const skip = !avail.ok && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy timeout end-to-end tests: ${avail.reason} (they run under CI=true) ***\n`);

/** Slack allowed past a timeout: far below the keepalive's ~75 s, far above the promised second. */
const SLACK_MS = 5000;

/** Client-side TCP connections from this machine to address:port that are still established (/proc/net/tcp). */
function establishedTo(address: string, port: number): number {
  const hex = Buffer.from(address.split('.').map(Number)).readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0');
  const remote = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[2] === remote && f[3] === '01').length;
}

async function until(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Measures how long the promise made by `start` takes to settle; returns the elapsed time and its outcome. */
async function timed<T>(start: () => Promise<T>): Promise<{ ms: number; value?: T; error?: Error & { code?: string } }> {
  const begin = performance.now();
  try {
    const value = await start();
    return { ms: performance.now() - begin, value };
  } catch (e) {
    return { ms: performance.now() - begin, error: e as Error & { code?: string } };
  }
}

describe.skipIf(skip)('timeouts against frozen sshd (SIGSTOP)', () => {
  let fleet: Fleet;
  let work: string;
  let ssh: SshOptions;
  const open: Connection[] = [];
  const frozen: FrozenSshd[] = [];
  const daemons: MuxDaemon[] = [];
  const connect = (name: string, extra: SshOptions & ConstructorParameters<typeof Connection>[2] = {}): Connection => {
    const c = Connection.ssh(name, { ...ssh, ...extra });
    open.push(c);
    return c;
  };
  const freeze = (name: string, options?: { sessions?: boolean; listener?: boolean }): FrozenSshd => {
    const f = fleet.freeze(name, options);
    frozen.push(f);
    return f;
  };
  const address = (name: string): string => fleet.hosts.find((h) => h.name === name)!.address;

  beforeAll(async () => {
    fleet = await startFleet({ size: 3, subnet: 65, userPrefix: 'fltto' });
    work = mkdtempSync(join(tmpdir(), 'flo-e2e-timeout-'));
    ssh = { sshConfigFiles: [fleet.sshConfigFile] };
  });
  afterAll(async () => {
    for (const f of frozen) f.thaw();
    await Promise.all(open.map((c) => c.close()));
    await Promise.all(daemons.map((d) => d.close()));
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a command whose sshd freezes mid-command ends at its timeout with code timeout and a truthful durationMs; the other hosts finish ok; the next command opens a fresh connection', async () => {
    const timeoutMs = 3000;
    let f: FrozenSshd | undefined;
    const conns = fleet.hosts.map((h, i) =>
      connect(h.name, {
        onOutput: (line) => {
          // Freeze the first host's sshd once its command has started.
          if (i === 0 && line === 'started' && !f) f = freeze(h.name);
        },
      }),
    );
    const first = conns[0]!;
    const before = (await first.run('echo $SSH_CONNECTION', { hide: true })).stdout;
    const connected = establishedTo(address('h01'), 22);
    try {
      const run = await timed(() =>
        runOnHosts(
          fleet.hosts.map((h) => h.name),
          (_h, i) => conns[i]!.run('echo started; sleep 1; echo hi', { timeoutMs }),
          { maxFail: 3 },
        ),
      );
      expect(f?.pids.length, 'the sshd of h01 was frozen').toBeGreaterThan(0);
      const [h1, h2, h3] = run.value!.hosts;
      expect(h1).toMatchObject({ host: 'h01', status: 'failed' });
      expect(h1!.error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/command timed out after 3000 ms on h01/) });
      // Bounded by the timeout (not by the keepalive), and durationMs is the time really spent.
      expect(h1!.durationMs).toBeGreaterThanOrEqual(timeoutMs);
      expect(h1!.durationMs).toBeLessThan(timeoutMs + SLACK_MS);
      expect(h1!.durationMs).toBeLessThanOrEqual(Math.ceil(run.ms));
      expect(run.ms).toBeLessThan(timeoutMs + SLACK_MS);
      expect([h2!.status, h3!.status]).toEqual(['ok', 'ok']);
      expect((h2!.value as { stdout: string }).stdout).toBe('started\nhi\n');

      // The wedged connection is dropped by the client while the host is still frozen ...
      await until('the client to drop its connection to the frozen h01', () => establishedTo(address('h01'), 22) === connected - 1);
    } finally {
      f?.thaw();
    }
    // ... and once the host answers again, the next command works on a fresh connection.
    const after = await first.run('echo $SSH_CONNECTION', { hide: true });
    expect(after.stdout).not.toBe(before);
    await Promise.all(conns.map((c) => c.close()));
  });

  it('connecting to a host whose listening sshd is frozen ends at the connect timeout (unreachable), or earlier at the command timeout; close() does not wait for it', async () => {
    const f = freeze('h02', { listener: true, sessions: false });
    try {
      // The connect timeout bounds TCP connect + handshake + authentication.
      const c = connect('h02', { connectTimeoutMs: 3000 });
      const r = await timed(() => runOnHosts(['h02'], () => c.run('true')));
      const h = r.value!.hosts[0]!;
      expect(h.status).toBe('unreachable');
      expect(isUnreachableError(h.error)).toBe(true);
      expect(h.durationMs).toBeGreaterThanOrEqual(3000);
      expect(h.durationMs).toBeLessThan(3000 + SLACK_MS);

      // A command timeout shorter than the connect timeout (20 s by default) ends the call first.
      const d = connect('h02');
      const cmd = await timed(() => d.run('true', { timeoutMs: 2000 }));
      expect(cmd.error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/timed out after 2000 ms on h02/) });
      expect(cmd.ms).toBeLessThan(2000 + SLACK_MS);
      // The connection attempt is still under way (bounded by its connect timeout); closing
      // the connection abandons it instead of waiting for it.
      const closed = await timed(() => d.close());
      expect(closed.error).toBeUndefined();
      expect(closed.ms).toBeLessThan(SLACK_MS);
    } finally {
      f.thaw();
    }
    expect((await connect('h02').run('whoami')).stdout).toBe(`${fleet.hosts[1]!.user}\n`);
  });

  it('an upload and a download to a host whose sshd freezes end at the timeout; the file is left untouched', async () => {
    const timeoutMs = 3000;
    const src = join(work, 'big.bin');
    writeFileSync(src, randomBytes(32 << 20));
    chmodSync(src, 0o644);
    const up = connect('h03', { commandTimeoutMs: timeoutMs });
    await up.run('true');
    let f: FrozenSshd | undefined;
    try {
      const r = await timed(() =>
        up.put(src, 'big.bin', {
          onProgress: (bytes, total) => {
            if (bytes > 0 && bytes < total && !f) f = freeze('h03');
          },
        }),
      );
      expect(f?.pids.length, 'the sshd of h03 was frozen mid-upload').toBeGreaterThan(0);
      expect(r.error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/timed out after 3000 ms/) });
      expect(r.ms).toBeLessThan(timeoutMs + SLACK_MS);
    } finally {
      f?.thaw();
    }
    const home = fleet.hosts[2]!.home;
    expect(existsSync(join(home, 'big.bin'))).toBe(false);

    // A download: the remote file exists, then the host freezes before it is read.
    writeFileSync(join(home, 'small.txt'), 'hello\n');
    const down = connect('h03', { commandTimeoutMs: timeoutMs });
    await down.run('true');
    const g = freeze('h03');
    try {
      const local = join(work, 'small.txt');
      const r = await timed(() => down.get('small.txt', local));
      expect(r.error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/timed out after 3000 ms/) });
      expect(r.ms).toBeLessThan(timeoutMs + SLACK_MS);
      expect(existsSync(local)).toBe(false);
    } finally {
      g.thaw();
    }
    expect((await down.run('cat small.txt')).stdout).toBe('hello\n');
    await Promise.all([up.close(), down.close()]);
  });

  it('--persist: a command relayed through the connection daemon ends at its timeout; the daemon drops the wedged connection and the next command reopens it', async () => {
    const controlDir = mkdtempSync(join(tmpdir(), 'flo-e2e-timeout-mux-'));
    chmodSync(controlDir, 0o700);
    const startDaemon = async (socketPath: string, idleMs: number): Promise<void> => {
      daemons.push(await startMuxDaemon({ socketPath, idleMs }));
    };
    const timeoutMs = 3000;
    const target = resolveSshTarget('h01', ssh);
    let f: FrozenSshd | undefined;
    const c = new Connection('h01', (signal) => openMuxTransport(target, { ...ssh, controlDir, persistMs: 60_000, startDaemon }, signal), {
      commandTimeoutMs: timeoutMs,
      onOutput: (line) => {
        if (line === 'started' && !f) f = freeze('h01');
      },
    });
    open.push(c);
    try {
      const before = (await c.run('echo $SSH_CONNECTION', { hide: true })).stdout;
      const connected = establishedTo(address('h01'), 22);
      try {
        const r = await timed(() => c.run('echo started; sleep 1; echo hi'));
        expect(f?.pids.length, 'the sshd of h01 was frozen').toBeGreaterThan(0);
        expect(r.error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/command timed out after 3000 ms on h01/) });
        expect(r.ms).toBeLessThan(timeoutMs + SLACK_MS);
        // The daemon does not keep the wedged connection.
        await until('the daemon to drop its connection to the frozen h01', async () => {
          const held = await listPersisted({ controlDir });
          return held?.find((x) => x.label === 'h01')?.open === false && establishedTo(address('h01'), 22) === connected - 1;
        });
      } finally {
        f?.thaw();
      }
      const after = await c.run('echo $SSH_CONNECTION', { hide: true });
      expect(after.stdout).not.toBe(before);
      expect((await listPersisted({ controlDir }))?.find((x) => x.label === 'h01')?.open).toBe(true);

      // An upload through the daemon to a frozen host ends at the timeout too.
      const src = join(work, 'persist.bin');
      writeFileSync(src, randomBytes(1 << 20));
      const g = freeze('h01');
      try {
        const r = await timed(() => c.put(src, 'persist.bin'));
        expect(r.error).toMatchObject({ code: 'timeout' });
        expect(r.ms).toBeLessThan(timeoutMs + SLACK_MS);
      } finally {
        g.thaw();
      }
      expect((await c.run('echo ok', { hide: true })).stdout).toBe('ok\n');
    } finally {
      rmSync(controlDir, { recursive: true, force: true });
    }
  });
});
