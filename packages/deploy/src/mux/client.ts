/**
 * The `flo` side of `--persist`: a {@link Transport} whose commands and file operations run on a
 * connection held by the connection daemon (daemon.ts), started on first use. Uploads and
 * downloads name local files by absolute path: the daemon (same user, same machine) reads and
 * writes them itself, so no file bytes cross the socket.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DeployError } from '../errors.js';
import type { SshOptions, SshTarget } from '../ssh-target.js';
import type { ExecOptions, ExecOutcome, RemoteFiles, Transport } from '../transport.js';
import { CHUNK_BYTES, encodeFrame, FrameReader, fromWireError, MUX_VERSION, muxSettings, type FileMethod, type FromDaemon, type MuxConnectionInfo, type ToDaemon } from './frames.js';

/** Where `--persist` keeps its socket, unless told otherwise. */
export function defaultControlDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FLO_CONTROL_DIR) return env.FLO_CONTROL_DIR;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (env.XDG_RUNTIME_DIR && existsSync(env.XDG_RUNTIME_DIR)) return join(env.XDG_RUNTIME_DIR, 'flotilla');
  return join(tmpdir(), `flotilla-${uid}`);
}

/**
 * Creates the control directory (mode 0700) or checks an existing one: it must be a directory
 * (not a symlink), owned by this user, and closed to everyone else — otherwise another user
 * could put a socket there and receive this user's commands (the check OpenSSH and tmux make).
 */
export function ensureControlDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DeployError('connect-failed', `cannot create the control directory ${dir} for --persist: ${(e as Error).message}`);
  }
  const st = lstatSync(dir);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  const fix = `remove it or give it to this user with mode 700, or set FLO_CONTROL_DIR to another directory`;
  if (!st.isDirectory()) throw new DeployError('connect-failed', `the control directory ${dir} for --persist is not a directory (a symlink?): ${fix}`);
  if (st.uid !== uid) throw new DeployError('connect-failed', `the control directory ${dir} for --persist belongs to uid ${st.uid}, not ${uid}: ${fix}`);
  if ((st.mode & 0o077) !== 0) throw new DeployError('connect-failed', `the control directory ${dir} for --persist is open to other users (mode ${(st.mode & 0o777).toString(8)}): ${fix}`);
}

/** daemon.log is rotated (to daemon.log.1) when a new daemon starts and it is bigger than this. */
export const LOG_LIMIT_BYTES = 1 << 20;

/** The built daemon entry (`dist/mux-daemon.js`), or undefined when running from source. */
export function muxDaemonScript(): string | undefined {
  const path = fileURLToPath(new URL('./mux-daemon.js', import.meta.url));
  return !path.includes('/src/') && existsSync(path) ? path : undefined;
}

/** How a client reaches (and when needed starts) the daemon. */
export interface MuxClientOptions {
  /** Directory of the socket. @default {@link defaultControlDir} */
  controlDir?: string;
  /** The daemon exits after this long unused. */
  persistMs: number;
  /** Starts a daemon listening on `socketPath` (tests start one in-process). @default spawns `dist/mux-daemon.js` detached */
  startDaemon?: (socketPath: string, idleMs: number) => void | Promise<void>;
}

/**
 * Starts `dist/mux-daemon.js` detached (it outlives this process), its output appended to
 * `daemon.log` beside the socket. Resolves once it says it listens (on a pipe, fd 3), exits, or
 * 10 s pass.
 */
function spawnDaemon(socketPath: string, idleMs: number): Promise<void> {
  const script = muxDaemonScript();
  if (!script) throw new DeployError('connect-failed', '--persist needs the built @flotilla/deploy (dist/mux-daemon.js is missing)');
  const logPath = join(dirname(socketPath), 'daemon.log');
  // Keep the log small: past 1 MiB, the old one becomes daemon.log.1 (replacing an older one).
  try {
    if (statSync(logPath).size > LOG_LIMIT_BYTES) renameSync(logPath, `${logPath}.1`);
  } catch {
    /* no log yet */
  }
  const logFd = openSync(logPath, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [script, socketPath, String(idleMs)], { detached: true, stdio: ['ignore', logFd, logFd, 'pipe'] });
    const ready = child.stdio[3] as Readable;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, 10_000);
      function done(): void {
        clearTimeout(timer);
        ready.destroy();
        child.unref();
        resolve();
      }
      ready.on('data', done);
      ready.on('error', done);
      ready.on('close', done);
      child.on('error', done);
    });
  } finally {
    closeSync(logFd);
  }
}

interface Pending {
  onFrame: (m: FromDaemon, payload: Buffer) => void;
  /** The daemon went away. */
  onLost: (e: DeployError) => void;
}

/** One unix-socket connection to the daemon, shared by every MuxTransport of this process. */
class MuxChannel {
  private readonly reader = new FrameReader<FromDaemon>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  dead = false;
  constructor(private readonly sock: Socket) {
    sock.unref();
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.reader.push(chunk);
      } catch (e) {
        this.lose(`the connection daemon sent a bad frame (${(e as Error).message})`);
        return;
      }
      for (const { header, payload } of frames) if ('id' in header) this.pending.get(header.id)?.onFrame(header, payload);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => this.lose('the connection daemon went away'));
  }

  private lose(why: string): void {
    if (this.dead) return;
    this.dead = true;
    this.sock.destroy();
    const e = new DeployError('connection-lost', why);
    for (const p of [...this.pending.values()]) p.onLost(e);
    this.pending.clear();
  }

  /** Sends a request; `handler` gets its replies until it calls `done`. */
  request(build: (id: number) => ToDaemon, handler: Pending, payload?: Buffer): { id: number; done: () => void; send: (m: ToDaemon, payload?: Buffer) => boolean } {
    const id = this.nextId++;
    if (this.dead) {
      queueMicrotask(() => handler.onLost(new DeployError('connection-lost', 'the connection daemon went away')));
      return { id, done: () => undefined, send: () => false };
    }
    this.pending.set(id, handler);
    if (this.pending.size === 1) this.sock.ref();
    this.sock.write(encodeFrame(build(id), payload));
    return {
      id,
      done: () => {
        this.pending.delete(id);
        if (this.pending.size === 0) this.sock.unref();
      },
      send: (m, payload) => (this.dead ? false : this.sock.write(encodeFrame(m, payload))),
    };
  }

  /** Sends a frame that gets no answer. */
  notify(m: ToDaemon): void {
    if (!this.dead) this.sock.write(encodeFrame(m));
  }

  private drained: Promise<void> | undefined;
  /** Resolves once the socket's write buffer has drained (one shared wait for every writer). */
  waitDrain(): Promise<void> {
    if (this.dead || !this.sock.writableNeedDrain) return Promise.resolve();
    this.drained ??= new Promise<void>((r) => {
      const done = (): void => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        this.drained = undefined;
        r();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
    return this.drained;
  }

  close(): void {
    this.sock.end();
  }
}

const channels = new Map<string, Promise<MuxChannel>>();

function connectSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The daemon speaks another wire version (a flo upgrade while it ran). */
class VersionMismatch extends Error {
  constructor(
    readonly version: number,
    readonly pid: number,
  ) {
    super(`the connection daemon (pid ${pid}) speaks version ${version}, this flo ${MUX_VERSION}`);
  }
}

async function hello(sock: Socket, idleMs: number): Promise<void> {
  const reader = new FrameReader<FromDaemon>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to hello')), 10_000);
      const settle = (e?: Error): void => {
        clearTimeout(timer);
        sock.removeAllListeners('data');
        sock.off('close', onClose);
        if (e) reject(e);
        else resolve();
      };
      const onClose = (): void => settle(new Error('closed during hello (another version of the daemon?)'));
      sock.on('data', (chunk: Buffer) => {
        try {
          const m = reader.push(chunk)[0]?.header;
          if (!m) return;
          if (m.op !== 'hello') settle(new Error(`unexpected answer ${m.op}`));
          else settle(m.version === MUX_VERSION ? undefined : new VersionMismatch(m.version, m.pid));
        } catch (e) {
          settle(e as Error);
        }
      });
      sock.once('close', onClose);
      sock.write(encodeFrame({ op: 'hello', version: MUX_VERSION, idleMs }));
    });
  } catch (e) {
    sock.destroy();
    throw e;
  }
}

/** SIGTERM to a daemon, then wait (up to 5 s) until its socket stops answering. */
async function stopPid(pid: number, socketPath: string): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  for (let i = 0; i < 100; i++) {
    try {
      (await connectSocket(socketPath)).destroy();
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The process's channel to the daemon, starting the daemon when none answers. */
function channel(options: MuxClientOptions): Promise<MuxChannel> {
  const dir = options.controlDir ?? defaultControlDir();
  const socketPath = join(dir, 'mux.sock');
  let p = channels.get(socketPath);
  const existing = p;
  if (existing) {
    p = existing.then((c) => (c.dead ? Promise.reject(new Error('dead')) : c)).catch(() => fresh());
  } else p = fresh();
  channels.set(socketPath, p);
  p.catch(() => {
    if (channels.get(socketPath) === p) channels.delete(socketPath);
  });
  return p;

  async function fresh(retried = false): Promise<MuxChannel> {
    ensureControlDir(dir);
    let sock: Socket | undefined;
    try {
      sock = await connectSocket(socketPath);
    } catch {
      await (options.startDaemon ?? spawnDaemon)(socketPath, options.persistMs);
      const deadline = Date.now() + 10_000;
      let last: unknown;
      for (let wait = 0; Date.now() < deadline; wait = Math.min(wait + 10, 100)) {
        if (wait) await new Promise((r) => setTimeout(r, wait));
        try {
          sock = await connectSocket(socketPath);
          break;
        } catch (e) {
          last = e;
        }
      }
      if (!sock)
        throw new DeployError('connect-failed', `the connection daemon for --persist did not start (${(last as Error | undefined)?.message ?? 'timeout'}); see ${join(dir, 'daemon.log')}`);
    }
    try {
      await hello(sock, options.persistMs);
    } catch (e) {
      sock.destroy();
      if (e instanceof VersionMismatch && !retried) {
        // A daemon of another flo version: stop it (same user) and start one of this version.
        await stopPid(e.pid, socketPath);
        return fresh(true);
      }
      throw new DeployError('connect-failed', `the connection daemon at ${socketPath} did not answer: ${(e as Error).message}; stop it with \`flo disconnect\``);
    }
    return new MuxChannel(sock);
  }
}

/**
 * Reaches the daemon now (starting it when none answers), without waiting: a caller overlaps
 * the daemon's start with its own start-up work. A failure is reported by the first connection
 * that needs the daemon.
 */
export function warmConnectionDaemon(options: MuxClientOptions): void {
  channel(options).catch(() => undefined);
}

class MuxTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly files: RemoteFiles;
  private lost = false;
  private closed = false;
  constructor(
    private readonly ch: MuxChannel,
    private readonly target: SshTarget,
    private readonly options: SshOptions,
  ) {
    const op = (method: FileMethod, path: string, extra: { mode?: number; rmdir?: boolean; data?: Buffer } = {}) =>
      this.call(
        (id) => ({ op: 'files', id, target, ssh: muxSettings(options), method, path, ...(extra.mode === undefined ? {} : { mode: extra.mode }), ...(extra.rmdir ? { rmdir: true } : {}) }),
        extra.data,
      );
    this.files = {
      stat: async (p) => (await op('stat', p)).value as { size: number } | null,
      mkdirExclusive: async (p, mode) => (await op('mkdirExclusive', p, { mode })).value as boolean,
      createExclusive: async (p, data, mode) => (await op('createExclusive', p, { mode, data })).value as boolean,
      mkdirp: async (p, mode) => void (await op('mkdirp', p, { mode })),
      readFile: async (p) => (await op('readFile', p)).payload,
      writeFile: async (p, data, mode) => void (await op('writeFile', p, { mode, data })),
      remove: async (p, o) => void (await op('remove', p, { rmdir: o?.rmdir === true })),
    };
  }

  /** One request answered by `done` (or `error`), with `progress` along the way. */
  private call(build: (id: number) => ToDaemon, payload?: Buffer, signal?: AbortSignal, onProgress?: (bytes: number) => void): Promise<{ value: unknown; payload: Buffer }> {
    const label = this.target.label;
    return new Promise((resolve, reject) => {
      if (!this.isOpen()) {
        reject(new DeployError('connection-lost', `the connection to ${label} is closed`, { host: label }));
        return;
      }
      const onAbort = (): void => this.cancel(req);
      const finish = (): void => {
        signal?.removeEventListener('abort', onAbort);
        req.done();
      };
      const req = this.ch.request((id) => build(id), {
        onFrame: (m, data) => {
          if (m.op === 'progress') onProgress?.(m.bytes);
          else if (m.op === 'done') {
            finish();
            resolve({ value: m.value, payload: data });
          } else if (m.op === 'error') {
            finish();
            const e = fromWireError(m.error);
            if ((e as DeployError).code === 'connection-lost') this.lost = true;
            reject(e);
          }
        },
        onLost: (e) => {
          finish();
          this.lost = true;
          reject(new DeployError('connection-lost', `the connection to ${label} was lost (${e.message})`, { host: label, cause: e }));
        },
      }, payload);
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Cancels a request. The daemon answers at once and drops the ssh connection if the host does
   * not let go of it (a frozen sshd); this transport then counts as lost, so the next operation
   * of its Connection opens again — which reuses the daemon's connection when it is
   * healthy, and makes a new one when it was dropped.
   */
  private cancel(req: { id: number; send: (m: ToDaemon) => boolean }): void {
    this.lost = true;
    req.send({ op: 'cancel', id: req.id });
  }

  isOpen(): boolean {
    return !this.closed && !this.lost && !this.ch.dead;
  }

  /**
   * An operation did not let go of the connection (for file operations the daemon is not told
   * of the timeout): the daemon is asked to destroy its connection, and this view counts as lost
   * (the next operation opens again).
   */
  destroy(reason: string): void {
    if (!this.lost && !this.ch.dead) this.ch.notify({ op: 'drop', target: this.target, ssh: muxSettings(this.options), reason });
    this.lost = true;
  }

  exec(command: string, options: ExecOptions): Promise<ExecOutcome> {
    const label = this.target.label;
    return new Promise((resolve, reject) => {
      if (!this.isOpen()) {
        reject(new DeployError('connection-lost', `cannot run a command on ${label}: the connection is closed`, { host: label }));
        return;
      }
      let finished = false;
      const onAbort = (): void => this.cancel(req);
      const finish = (): void => {
        finished = true;
        options.signal?.removeEventListener('abort', onAbort);
        req.done();
      };
      const req = this.ch.request((id) => ({ op: 'exec', id, target: this.target, ssh: muxSettings(this.options), command, pty: options.pty ?? false }), {
        onFrame: (m, payload) => {
          switch (m.op) {
            case 'stdout':
              options.onStdout?.(payload);
              return;
            case 'stderr':
              options.onStderr?.(payload);
              return;
            case 'exit':
              finish();
              resolve({ exitCode: m.exitCode, signal: m.signal });
              return;
            case 'error': {
              finish();
              if (options.signal?.aborted) {
                reject(new DeployError('aborted', `command aborted on ${label}: ${command}`, { host: label, cause: options.signal.reason }));
                return;
              }
              const e = fromWireError(m.error);
              if ((e as DeployError).code === 'connection-lost') this.lost = true;
              reject(e);
              return;
            }
            default:
              return;
          }
        },
        onLost: (e) => {
          if (finished) return;
          finish();
          this.lost = true;
          reject(new DeployError('connection-lost', `the connection to ${label} was lost while running: ${command} (${e.message})`, { host: label, cause: e }));
        },
      });
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const sendStdin = (b: Buffer): boolean => {
        let ok = true;
        for (let i = 0; i < b.length; i += CHUNK_BYTES) ok = req.send({ op: 'stdin', id: req.id }, b.subarray(i, i + CHUNK_BYTES)) && ok;
        return ok;
      };
      const end = (): void => void req.send({ op: 'stdin-end', id: req.id });
      if (options.interact) {
        options.interact(
          new Writable({
            write: (chunk: Buffer, _enc, cb) => {
              if (!sendStdin(chunk)) void this.ch.waitDrain().then(() => cb());
              else cb();
            },
            final: (cb) => {
              end();
              cb();
            },
          }),
        );
      } else if (Buffer.isBuffer(options.input)) {
        sendStdin(options.input);
        end();
      } else if (options.input) {
        const input = options.input;
        void (async () => {
          try {
            for await (const chunk of input) {
              if (finished) break;
              if (!sendStdin(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))) await this.ch.waitDrain();
            }
          } finally {
            end();
          }
        })();
      } else end();
    });
  }

  /** The daemon reads the local file itself (same user, same machine): no bytes cross the socket. */
  async putFile(localPath: string, remotePath: string, mode: number, signal?: AbortSignal, _data?: Buffer, onProgress?: (bytes: number) => void): Promise<void> {
    const abs = resolvePath(localPath);
    await this.call((id) => ({ op: 'put', id, target: this.target, ssh: muxSettings(this.options), localPath: abs, remotePath, mode }), undefined, signal, onProgress);
  }

  async getFile(remotePath: string, localPath: string, signal?: AbortSignal): Promise<void> {
    const abs = resolvePath(localPath);
    await this.call((id) => ({ op: 'get', id, target: this.target, ssh: muxSettings(this.options), remotePath, localPath: abs }), undefined, signal);
  }

  /** Detaches; the daemon keeps the ssh connection for the next `flo`. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/**
 * Opens a transport on a connection held by the daemon: the daemon opens (and verifies) the ssh
 * connection if it holds none for this target, or reuses the one it has. Warnings (a new host
 * key accepted) reach `options.onWarning` as usual.
 */
export async function openMuxTransport(target: SshTarget, options: SshOptions & MuxClientOptions, signal?: AbortSignal): Promise<Transport> {
  if (signal?.aborted) throw new DeployError('aborted', `connecting to ${target.label} was aborted`, { host: target.label, cause: signal.reason });
  const ch = await channel(options);
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      req.done();
      reject(new DeployError('aborted', `connecting to ${target.label} was aborted`, { host: target.label, cause: signal?.reason }));
    };
    const req = ch.request((id) => ({ op: 'open', id, target, ssh: muxSettings(options) }), {
      onFrame: (m) => {
        if (m.op === 'warning') options.onWarning?.(m.message);
        else if (m.op === 'opened') {
          signal?.removeEventListener('abort', onAbort);
          req.done();
          resolve();
        } else if (m.op === 'error') {
          signal?.removeEventListener('abort', onAbort);
          req.done();
          reject(fromWireError(m.error));
        }
      },
      onLost: (e) => {
        signal?.removeEventListener('abort', onAbort);
        req.done();
        reject(new DeployError('connect-failed', `cannot connect to ${target.label} through the connection daemon: ${e.message}`, { host: target.label, cause: e }));
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return new MuxTransport(ch, target, options);
}

async function ask<T>(controlDir: string | undefined, build: (id: number) => ToDaemon, pick: (m: FromDaemon) => T | undefined): Promise<T | undefined> {
  const dir = controlDir ?? defaultControlDir();
  const socketPath = join(dir, 'mux.sock');
  if (!existsSync(socketPath)) return undefined;
  ensureControlDir(dir);
  let sock: Socket;
  try {
    sock = await connectSocket(socketPath);
  } catch {
    return undefined;
  }
  try {
    await hello(sock, 0);
    const reader = new FrameReader<FromDaemon>();
    return await new Promise<T | undefined>((resolve) => {
      sock.on('data', (chunk: Buffer) => {
        for (const { header } of reader.push(chunk)) {
          const v = pick(header);
          if (v !== undefined) resolve(v);
        }
      });
      sock.once('close', () => resolve(undefined));
      sock.write(encodeFrame(build(1)));
    });
  } finally {
    sock.destroy();
  }
}

/** The connections the daemon holds, or `undefined` when no daemon runs. */
export async function listPersisted(options: { controlDir?: string } = {}): Promise<MuxConnectionInfo[] | undefined> {
  try {
    return await ask(options.controlDir, (id) => ({ op: 'list', id }), (m) => (m.op === 'list' ? m.connections : undefined));
  } catch (e) {
    if (e instanceof VersionMismatch) throw new DeployError('connect-failed', `${e.message}: stop it with \`flo disconnect\``);
    throw e;
  }
}

/** Asks the daemon to close every connection and exit; resolves false when none was running. */
export async function stopPersisted(options: { controlDir?: string } = {}): Promise<boolean> {
  try {
    return (await ask(options.controlDir, (id) => ({ op: 'stop', id }), (m) => (m.op === 'stopping' ? true : undefined))) === true;
  } catch (e) {
    if (!(e instanceof VersionMismatch)) throw e;
    // A daemon of another flo version: stop it by its pid (it runs as this user).
    await stopPid(e.pid, join(options.controlDir ?? defaultControlDir(), 'mux.sock'));
    return true;
  }
}
