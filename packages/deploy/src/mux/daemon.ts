/**
 * The connection daemon behind `--persist` (OpenSSH's ControlMaster + ControlPersist, for
 * flo): one background process per user that keeps ssh connections open after the `flo` that
 * opened them exits, so the next `flo` runs its commands without a handshake.
 *
 * Guarantees:
 * - It listens on a unix socket in a directory only its user can enter (client.ts checks the
 *   directory before use); it never listens on the network.
 * - A connection is reused only for a request with the same resolved target and the same
 *   host-key policy (user, address, port, identities, known_hosts files, strictness, jumps,
 *   `--accept-new-host-keys`); host keys are verified when the connection is opened, exactly
 *   as without the daemon.
 * - A command whose client goes away is killed (as when an `ssh` client dies).
 * - With no client connected for `idleMs`, it closes every connection, removes its socket and
 *   exits; `stop` makes it do so at once.
 * - A connection that has died is not reused: the request fails with `connection-lost` (or,
 *   for `open`, a new connection is made).
 * - A request that is cancelled (its client timed out, or went away) is answered at once; if
 *   its operation has not let go of the connection a second later (a host whose sshd stopped
 *   answering), the connection is destroyed, and the next `open` makes a new one. Requests for
 *   that connection wait for that second rather than start on a wedged connection.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { raceAbort } from '../abandon.js';
import { localFile } from '../connection.js';
import { DeployError } from '../errors.js';
import type { SshOptions, SshTarget } from '../ssh-target.js';
import type { Transport } from '../transport.js';
import { CHUNK_BYTES, connectionKey, encodeFrame, FrameReader, MUX_VERSION, toWireError, type FromDaemon, type MuxConnectionInfo, type MuxSshSettings, type ToDaemon } from './frames.js';

/** Opens a transport for the daemon (the ssh2 adapter, or a fake in tests). */
export type MuxOpener = (target: SshTarget, options: SshOptions) => Promise<Transport>;

export interface MuxDaemonOptions {
  /** Unix socket to listen on (its directory must exist). */
  socketPath: string;
  /** Exit after this long with no client connected. */
  idleMs: number;
  /** How connections are opened. @default the ssh2 adapter */
  open?: MuxOpener;
  /** Diagnostics (one line each). */
  log?: (line: string) => void;
}

export interface MuxDaemon {
  readonly socketPath: string;
  /** Resolves once the daemon has shut down (idle, `stop`, or {@link close}). */
  readonly closed: Promise<void>;
  /** Closes every connection and the socket. */
  close(): Promise<void>;
}

interface Held {
  label: string;
  target: SshTarget;
  transport: Promise<Transport>;
  lastUsed: number;
  /** Resolves once operations cancelled on this connection have let go of it (or it was destroyed). */
  settling?: Promise<void> | undefined;
}

interface Running {
  abort: AbortController;
  stdin?: PassThrough;
}


async function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts the daemon. Rejects with `connect-failed` when another daemon already answers on the
 * socket (a stale socket file, whose daemon is gone, is replaced).
 */
export async function startMuxDaemon(options: MuxDaemonOptions): Promise<MuxDaemon> {
  const log = options.log ?? (() => undefined);
  const open: MuxOpener =
    options.open ??
    (async (target, o) => {
      const { openSshTransport } = await import('../adapters/ssh2.js');
      return openSshTransport(target, o);
    });
  let idleMs = options.idleMs;
  const held = new Map<string, Held>();
  const clients = new Set<Socket>();
  let idleTimer: NodeJS.Timeout | undefined;
  let shuttingDown: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const server: Server = createServer((sock) => onClient(sock));
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    if (await isListening(options.socketPath)) throw new DeployError('connect-failed', `a connection daemon already answers on ${options.socketPath}`);
    unlinkSync(options.socketPath);
    await listen();
  }
  // Remember which socket file is ours, so shutting down never removes a successor's.
  const ours = statSync(options.socketPath).ino;
  const instance = randomUUID();
  log(`listening on ${options.socketPath} (pid ${process.pid}, ${instance}), idle exit after ${idleMs} ms`);

  const armIdle = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (clients.size === 0 && !shuttingDown) {
      idleTimer = setTimeout(() => {
        log('idle: shutting down');
        void shutdown();
      }, idleMs);
      idleTimer.unref?.();
    }
  };

  const transportFor = (target: SshTarget, ssh: MuxSshSettings, reopen: boolean, onWarning: (m: string) => void): Promise<Transport> | undefined => {
    const key = connectionKey(target, ssh);
    let h = held.get(key);
    if (h && reopen) {
      // Reopen when the held connection failed to open or has died since.
      const t = h.transport;
      const stale = h;
      // Wait until cancelled operations have let go: a wedged connection is destroyed by then.
      h.transport = (h.settling ?? Promise.resolve()).then(() => t).then(
        (tr) => {
          if (tr.isOpen?.() === false) {
            void tr.close().catch(() => undefined);
            log(`reconnecting ${target.label}`);
            return open(target, { ...ssh, onWarning });
          }
          return tr;
        },
        () => open(target, { ...ssh, onWarning }),
      );
      h.transport.catch(() => {
        if (held.get(key) === stale) held.delete(key);
      });
    }
    if (!h) {
      if (!reopen) return undefined;
      log(`connecting ${target.label} (${target.user}@${target.hostName}:${target.port})`);
      const p = open(target, { ...ssh, onWarning });
      h = { label: target.label, target, transport: p, lastUsed: Date.now() };
      held.set(key, h);
      const mine = h;
      p.catch(() => {
        if (held.get(key) === mine) held.delete(key);
      });
    }
    h.lastUsed = Date.now();
    return h.transport;
  };

  function onClient(sock: Socket): void {
    clients.add(sock);
    armIdle();
    const reader = new FrameReader<ToDaemon>();
    const running = new Map<number, Running>();
    const send = (header: FromDaemon, payload?: Buffer): void => {
      if (!sock.destroyed) sock.write(encodeFrame(header, payload));
    };
    const fail = (id: number, e: unknown): void => send({ op: 'error', id, error: toWireError(e) });
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (e) {
        log(`dropping a client: ${(e as Error).message}`);
        sock.destroy();
        return;
      }
      for (const { header, payload } of frames) handle(header, payload);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clients.delete(sock);
      // A command whose client is gone is killed, as when an ssh client dies.
      for (const r of running.values()) r.abort.abort(new Error('the flo process that ran this command went away'));
      running.clear();
      armIdle();
    });

    /** Runs `fn` on the held connection for this request (cancellable; `connection-lost` when it is gone). */
    function withTransport<T>(m: { id: number; target: SshTarget; ssh: MuxSshSettings }, extra: { stdin?: PassThrough }, fn: (t: Transport, signal: AbortSignal) => Promise<T>): Promise<T> {
      const label = m.target.label;
      const key = connectionKey(m.target, m.ssh);
      const p = transportFor(m.target, m.ssh, false, () => undefined);
      if (!p) return Promise.reject(new DeployError('connection-lost', `the persisted connection to ${label} is gone`, { host: label }));
      const abort = new AbortController();
      running.set(m.id, { abort, ...extra });
      return (held.get(key)?.settling ?? Promise.resolve())
        .then(() => p)
        .then((t) => {
          if (t.isOpen?.() === false) throw new DeployError('connection-lost', `the persisted connection to ${label} was lost`, { host: label });
          // A cancelled request is answered at once; its operation is watched (see the guarantees).
          return raceAbort(fn(t, abort.signal), abort.signal, {
            abortError: (reason) => new DeployError('aborted', `request ${m.id} on ${label} was stopped: ${(reason as Error | undefined)?.message ?? 'cancelled'}`, { host: label }),
            onStuck: () => {
              log(`dropping the connection to ${label}: a stopped request did not let go of it within a second (the host stopped answering)`);
              if (t.destroy) t.destroy(`the connection to ${label} stopped answering`);
              else void t.close().catch(() => undefined);
            },
            onAbandoned: (released) => {
              const h = held.get(key);
              if (!h) return;
              const next = h.settling ? Promise.all([h.settling, released]).then(() => undefined) : released;
              h.settling = next;
              void next.then(() => {
                if (h.settling === next) h.settling = undefined;
              });
            },
          });
        })
        .finally(() => {
          running.delete(m.id);
          const h = held.get(connectionKey(m.target, m.ssh));
          if (h) h.lastUsed = Date.now();
        });
    }

    function handle(m: ToDaemon, payload: Buffer): void {
      switch (m.op) {
        case 'hello':
          if (m.version !== MUX_VERSION) {
            // Another flo version: say who this is (so it can stop this daemon and start its
            // own), and serve nothing else.
            send({ op: 'hello', version: MUX_VERSION, pid: process.pid });
            sock.end();
            return;
          }
          if (Number.isFinite(m.idleMs) && m.idleMs > 0) idleMs = m.idleMs;
          send({ op: 'hello', version: MUX_VERSION, pid: process.pid });
          return;
        case 'open': {
          const p = transportFor(m.target, m.ssh, true, (message) => send({ op: 'warning', id: m.id, message }))!;
          p.then(
            () => send({ op: 'opened', id: m.id }),
            (e: unknown) => fail(m.id, e),
          );
          return;
        }
        case 'exec': {
          const stdin = new PassThrough();
          withTransport(m, { stdin }, (t, signal) =>
            t.exec(m.command, {
              pty: m.pty,
              signal,
              interact: (w) => void stdin.pipe(w),
              onStdout: (c) => {
                for (let i = 0; i < c.length; i += CHUNK_BYTES) send({ op: 'stdout', id: m.id }, c.subarray(i, i + CHUNK_BYTES));
              },
              onStderr: (c) => {
                for (let i = 0; i < c.length; i += CHUNK_BYTES) send({ op: 'stderr', id: m.id }, c.subarray(i, i + CHUNK_BYTES));
              },
            }),
          ).then(
            (out) => send({ op: 'exit', id: m.id, exitCode: out.exitCode, signal: out.signal }),
            (e: unknown) => fail(m.id, e),
          );
          return;
        }
        case 'put':
          // The daemon runs as the same user on the same machine: it reads the file itself.
          withTransport(m, {}, async (t, signal) => {
            // Read (and kept) once per file for every host of a group, as in the client.
            const { data } = await localFile(m.localPath);
            let last = 0;
            await t.putFile(m.localPath, m.remotePath, m.mode, signal, data, (bytes) => {
              if (bytes - last >= 1 << 20 || bytes === data?.length) {
                last = bytes;
                send({ op: 'progress', id: m.id, bytes });
              }
            });
          }).then(
            () => send({ op: 'done', id: m.id }),
            (e: unknown) => fail(m.id, e),
          );
          return;
        case 'get':
          withTransport(m, {}, (t, signal) => t.getFile(m.remotePath, m.localPath, signal)).then(
            () => send({ op: 'done', id: m.id }),
            (e: unknown) => fail(m.id, e),
          );
          return;
        case 'files':
          withTransport(m, {}, async (t): Promise<[unknown, Buffer?]> => {
            const f = t.files;
            switch (m.method) {
              case 'stat':
                return [await f.stat(m.path)];
              case 'mkdirExclusive':
                return [await f.mkdirExclusive(m.path, m.mode ?? 0o755)];
              case 'createExclusive':
                return [await f.createExclusive(m.path, payload, m.mode ?? 0o600)];
              case 'mkdirp':
                return [await f.mkdirp(m.path, m.mode ?? 0o755)];
              case 'readFile':
                return [null, await f.readFile(m.path)];
              case 'writeFile':
                return [await f.writeFile(m.path, payload, m.mode ?? 0o644)];
              case 'remove':
                return [await f.remove(m.path, { rmdir: m.rmdir === true })];
            }
          }).then(
            ([value, data]) => send({ op: 'done', id: m.id, value: value ?? null }, data),
            (e: unknown) => fail(m.id, e),
          );
          return;
        case 'stdin':
          running.get(m.id)?.stdin?.write(payload);
          return;
        case 'stdin-end':
          running.get(m.id)?.stdin?.end();
          return;
        case 'cancel':
          running.get(m.id)?.abort.abort(new Error('cancelled by the client'));
          return;
        case 'drop': {
          const h = held.get(connectionKey(m.target, m.ssh));
          if (!h) return;
          void h.transport.then(
            (t) => {
              if (t.isOpen?.() === false) return;
              log(`dropping the connection to ${m.target.label}: ${m.reason}`);
              if (t.destroy) t.destroy(m.reason);
              else void t.close().catch(() => undefined);
            },
            () => undefined,
          );
          return;
        }
        case 'list': {
          void Promise.all(
            [...held.values()].map(async (h): Promise<MuxConnectionInfo> => {
              const t = await h.transport.catch(() => undefined);
              return { label: h.label, user: h.target.user, hostName: h.target.hostName, port: h.target.port, open: t?.isOpen?.() !== false && t !== undefined, idleMs: Date.now() - h.lastUsed };
            }),
          ).then((connections) => send({ op: 'list', id: m.id, connections }));
          return;
        }
        case 'stop':
          log('stop requested');
          send({ op: 'stopping', id: m.id });
          void shutdown();
          return;
        default:
          return;
      }
    }
  }

  async function shutdown(): Promise<void> {
    shuttingDown ??= (async () => {
      if (idleTimer) clearTimeout(idleTimer);
      server.close();
      try {
        if (existsSync(options.socketPath) && statSync(options.socketPath).ino === ours) unlinkSync(options.socketPath);
      } catch {
        /* already gone */
      }
      for (const c of clients) c.end();
      await Promise.all([...held.values()].map((h) => h.transport.then((t) => t.close()).catch(() => undefined)));
      held.clear();
      for (const c of clients) c.destroy();
      log('stopped');
      resolveClosed();
    })();
    return shuttingDown;
  }

  return { socketPath: options.socketPath, closed, close: shutdown };
}
