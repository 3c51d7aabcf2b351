/**
 * {@link Connection}: one host. Opens lazily on first use and keeps one transport (one
 * multiplexed ssh connection) for every command and transfer until {@link Connection.close}.
 * Over 600 lines: one class, the host handle every layer holds (run, sudo, put/get, file
 * writes), whose methods share its lazily opened transport, its concurrency limit and its
 * timeouts — as fabric's `Connection` is one class; the transports live in adapters/.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { raceAbort } from './abandon.js';
import { CommandFailedError, DeployError, TimeoutError, badOption, isTimeoutError, type CommandResult, type TimeoutPhase } from './errors.js';
import { LocalTransport, spawnShell } from './local-transport.js';
import { quotePath, shellQuote } from './quote.js';
import { resolveSshTarget, type SshOptions, type SshTarget } from './ssh-target.js';
import type { ExecOptions, ExecOutcome, RemoteFiles, Transport } from './transport.js';
import type { ContainerStatus } from './image/container.js';
import type { PushResult } from './image/distribute.js';
import type { TaskContainerOptions } from './image/task-containers.js';

/** Options of one command. */
export interface RunOptions {
  /** Environment variables, exported in the remote shell before the command (values are quoted). */
  env?: Record<string, string>;
  /** Working directory (relative to the login directory). @default the login directory */
  cwd?: string;
  /**
   * Settle the call after this long with a {@link TimeoutError} (`timeout`), whatever the host
   * does: the command is killed and its channel closed, and a connection that does not let go
   * within a second is dropped (the next call opens a new one). The time counts from the call,
   * so it includes waiting for the connection to open. @default the connection's `commandTimeoutMs` (none)
   */
  timeoutMs?: number;
  /** Allocate a pseudo-terminal. @default false */
  pty?: boolean;
  /** Return a failed result instead of throwing {@link CommandFailedError}. @default false */
  warn?: boolean;
  /** Data for the command's stdin. */
  input?: string | Buffer;
  /** Do not stream this command's output to the connection's `onOutput`. @default false */
  hide?: boolean;
  signal?: AbortSignal;
}

/** Options of {@link Connection.sudo}. */
export interface SudoOptions extends RunOptions {
  /** Run as this user. @default 'root' */
  user?: string;
}

/** Options of {@link Connection.put}. */
export interface PutOptions {
  /** File mode of the uploaded file. @default the local file's mode */
  mode?: number;
  /** Skip the upload when the remote file's sha256 already matches. @default true */
  skipIfSame?: boolean;
  /** Called as bytes are acknowledged by the host (SFTP), with the running total and the file size. */
  onProgress?: (bytesSent: number, totalBytes: number) => void;
  /** `sftp`, `stream` (cat over an exec channel), or `auto` (SFTP, falling back to a stream). @default 'auto' */
  method?: 'auto' | 'sftp' | 'stream';
  /** Bound on the whole upload (checks, transfer, rename), as {@link RunOptions.timeoutMs}. @default the connection's `commandTimeoutMs` (none) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of {@link Connection.get} and of the operations of {@link Connection.files}. */
export interface TransferOptions {
  /** Bound on the operation, as {@link RunOptions.timeoutMs}. @default the connection's `commandTimeoutMs` (none) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What {@link Connection.put} did. */
export interface PutResult {
  remotePath: string;
  sha256: string;
  /** True when the remote file already had this content. */
  skipped: boolean;
}

/**
 * A sudo password asked at most once for a whole run and shared by every connection of it.
 * It lives only in memory; it is written to sudo's stdin when sudo shows the prompt, and never
 * appears in argv, environment or logs.
 */
export class SudoPassword {
  private value: Promise<string> | undefined;
  constructor(private readonly ask: () => Promise<string>) {}
  /** The password, asking for it the first time. */
  get(): Promise<string> {
    this.value ??= this.ask();
    return this.value;
  }
}

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  /** Receives each output line of commands (not of `hide`-den ones), for live display. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Default timeout of every command, upload, download and file operation (`--timeout`); see
   * {@link RunOptions.timeoutMs}. @default undefined (none)
   */
  commandTimeoutMs?: number;
  /** Where the sudo password comes from (asked once). @default sudo fails when it needs a password */
  sudoPassword?: SudoPassword;
  /** Aborts connecting and every command of this connection. */
  signal?: AbortSignal;
}

/** A connect failure (the host is unreachable rather than failing a command). */
export function isUnreachableError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (code === 'timeout') return (e as { phase?: unknown }).phase === 'connect';
  return code === 'connect-failed' || code === 'host-key-unknown' || code === 'host-key-changed' || code === 'host-key-revoked';
}

class LineSplitter {
  private rest = '';
  constructor(private readonly emit: (line: string) => void) {}
  push(chunk: string): void {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop()!;
    for (const l of lines) this.emit(l);
  }
  flush(): void {
    if (this.rest) this.emit(this.rest);
    this.rest = '';
  }
}

/** sha256 of a local file, hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A time limit shared by the steps of one call: `timeoutMs` counted from `startedAt` (`performance.now()`). */
interface Limit {
  timeoutMs: number;
  startedAt: number;
}

/** What a bounded call does, for its timeout and abort messages: `"<noun> timed out after N ms on <host>: <detail>"`. */
interface Doing {
  noun: string;
  detail: string;
  phase: Exclude<TimeoutPhase, 'connect'>;
}

/** Files up to this size are read once and kept in memory while several hosts receive them. */
const MEMORY_UPLOAD_LIMIT = 64 << 20;

interface LocalFile {
  key: string;
  sha256: Promise<string>;
  data: Promise<Buffer | undefined>;
}
/** The last few local files uploaded, by path + size + mtime: a group hashes and reads a file once. */
const localFiles: LocalFile[] = [];

/** A local file about to be uploaded: its hash and (up to 64 MiB) its bytes, read once per process. */
export async function localFile(path: string): Promise<{ sha256: string; data: Buffer | undefined; mode: number; size: number }> {
  const st = await stat(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  let f = localFiles.find((x) => x.key === key);
  if (!f) {
    const data = st.size <= MEMORY_UPLOAD_LIMIT ? readFile(path) : Promise.resolve(undefined);
    f = {
      key,
      data,
      sha256: data.then((d) => (d ? createHash('sha256').update(d).digest('hex') : sha256File(path))),
    };
    localFiles.unshift(f);
    if (localFiles.length > 4) localFiles.pop();
  }
  const [sha256, data] = await Promise.all([f.sha256, f.data]);
  return { sha256, data, mode: st.mode & 0o7777, size: st.size };
}

/**
 * One host. Commands run in the login directory with POSIX sh; every argument Flotilla adds
 * (paths, env values, sudo user) is shell-quoted. The transport opens on first use.
 *
 * Guarantees: one transport per connection, reused by every command and transfer; a command
 * that exits non-zero throws {@link CommandFailedError} unless `warn`; uploads are atomic
 * (temporary name, then rename) and skipped when the remote sha256 matches.
 */
export class Connection {
  /** The host's name (inventory name, alias or destination). */
  readonly host: string;
  private readonly open: (signal?: AbortSignal) => Promise<Transport>;
  private transportPromise: Promise<Transport> | undefined;
  private current: Transport | undefined;
  /** An open started by {@link warm} that no command has waited for yet. */
  private warming: Promise<Transport> | undefined;
  private warmFailure: Promise<Transport> | undefined;
  /** Aborts the open in progress (when {@link close} is called meanwhile). */
  private opening: AbortController | undefined;
  /**
   * Resolves once every operation abandoned at its timeout has let go of the connection (or the
   * connection was dropped for not doing so); new operations wait for it rather than start on
   * a connection that may be wedged.
   */
  private settling: Promise<void> | undefined;
  private readonly options: ConnectionOptions;

  constructor(host: string, open: (signal?: AbortSignal) => Promise<Transport>, options: ConnectionOptions = {}) {
    if (typeof host !== 'string' || host === '') badOption('host', 'a non-empty string', host);
    if (typeof open !== 'function') badOption('open', 'a function returning a Transport', open);
    this.host = host;
    this.open = open;
    this.options = options;
  }

  /** A connection over ssh to `destination` (`alias` or `[user@]host[:port]`), resolved with ssh_config. */
  static ssh(destination: string, options: SshOptions & ConnectionOptions & { name?: string } = {}): Connection {
    const target = resolveSshTarget(destination, options);
    return Connection.sshTarget(target, options, options.name);
  }

  /** A connection over ssh to an already-resolved target. */
  static sshTarget(target: SshTarget, options: SshOptions & ConnectionOptions = {}, name?: string): Connection {
    return new Connection(
      name ?? target.label,
      async (signal) => {
        const t = { ...target, label: name ?? target.label };
        if (options.persistMs !== undefined && options.persistMs > 0) {
          const { openMuxTransport } = await import('./mux/client.js');
          return openMuxTransport(t, { ...options, persistMs: options.persistMs }, signal);
        }
        const { openSshTransport } = await import('./adapters/ssh2.js');
        return openSshTransport(t, options, signal);
      },
      options,
    );
  }

  /** A "host" that is a directory on this machine (`$HOME` and working directory = `dir`). */
  static localDir(dir: string, options: ConnectionOptions & { name?: string; setHome?: boolean } = {}): Connection {
    const t = new LocalTransport(dir, { setHome: options.setHome ?? true });
    return new Connection(options.name ?? `local:${dir}`, () => Promise.resolve(t), options);
  }

  /**
   * The transport, opened on first use. A failed open is retried on the next call, and a
   * transport whose connection has died since (see {@link Transport.isOpen}) is replaced by a
   * new one, opened the same lazy way; commands in flight on the dead one fail with
   * `connection-lost`.
   */
  transport(): Promise<Transport> {
    if (this.settling) return this.settling.then(() => this.transport());
    if (this.warmFailure) {
      // A failed warm-up is reported once, to the first caller, instead of connecting twice.
      const f = this.warmFailure;
      this.warmFailure = undefined;
      this.transportPromise = undefined;
      return f;
    }
    const cur = this.current;
    if (this.transportPromise && cur?.isOpen?.() === false) {
      this.transportPromise = undefined;
      this.current = undefined;
      void cur.close().catch(() => undefined);
    }
    if (this.transportPromise) {
      this.warming = undefined;
      return this.transportPromise;
    }
    return this.startOpen();
  }

  /**
   * Starts opening the transport now, without waiting (a caller overlaps connecting with other
   * start-up work). When that fails, the next command gets the failure rather than a second
   * attempt. No-op when a transport is open or opening.
   */
  warm(): void {
    if (this.transportPromise || this.warmFailure) return;
    this.warming = this.startOpen();
  }

  private startOpen(): Promise<Transport> {
    const ac = new AbortController();
    this.opening = ac;
    const p = this.open(this.options.signal ? AbortSignal.any([this.options.signal, ac.signal]) : ac.signal);
    this.transportPromise = p;
    p.then(
      (t) => {
        if (this.opening === ac) this.opening = undefined;
        if (this.transportPromise === p) this.current = t;
        if (this.warming === p) this.warming = undefined;
      },
      () => {
        if (this.opening === ac) this.opening = undefined;
        if (this.transportPromise !== p) return;
        if (this.warming === p) {
          this.warming = undefined;
          this.warmFailure = p;
        } else this.transportPromise = undefined;
      },
    );
    return p;
  }

  /**
   * File operations that start no remote process (SFTP over ssh); see {@link RemoteFiles}. Each
   * operation opens the connection when needed and is bounded by `timeoutMs` (default the
   * connection's `commandTimeoutMs`).
   */
  files(options: TransferOptions = {}): Promise<RemoteFiles> {
    const op = <T>(name: string, path: string, fn: (f: RemoteFiles) => Promise<T>): Promise<T> =>
      this.bounded({ noun: `SFTP ${name}`, detail: path, phase: 'transfer' }, this.limit(options.timeoutMs), options.signal, (t) => fn(t.files));
    return Promise.resolve({
      stat: (p) => op('stat', p, (f) => f.stat(p)),
      mkdirExclusive: (p, mode) => op('mkdir', p, (f) => f.mkdirExclusive(p, mode)),
      createExclusive: (p, data, mode) => op('create', p, (f) => f.createExclusive(p, data, mode)),
      mkdirp: (p, mode) => op('mkdir', p, (f) => f.mkdirp(p, mode)),
      readFile: (p) => op('read', p, (f) => f.readFile(p)),
      writeFile: (p, data, mode) => op('write', p, (f) => f.writeFile(p, data, mode)),
      remove: (p, o) => op('remove', p, (f) => f.remove(p, o)),
    });
  }

  private limit(timeoutMs: number | undefined): Limit | undefined {
    const ms = timeoutMs ?? this.options.commandTimeoutMs;
    if (ms === undefined) return undefined;
    if (typeof ms !== 'number' || !(ms > 0)) badOption('timeoutMs', 'a positive number of milliseconds', ms);
    return { timeoutMs: ms, startedAt: performance.now() };
  }

  /**
   * Runs one operation within `limit` and the abort signals (the caller's and the
   * connection's). When the time is up or a signal aborts, the call settles at once — with a
   * {@link TimeoutError} or an `aborted` error — without waiting for the host: the operation
   * gets the abort (a command is killed, its channel closed), later operations wait until it
   * has let go, and if it has not within a second the connection is dropped as wedged (the next
   * operation opens a new one). Waiting for the connection to open counts against the limit.
   */
  private async bounded<T>(doing: Doing, limit: Limit | undefined, signal: AbortSignal | undefined, fn: (t: Transport, signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    let timedOut = false;
    let connecting = true;
    let timer: NodeJS.Timeout | undefined;
    if (limit) {
      const deadline = limit.startedAt + limit.timeoutMs;
      // Timers may fire a little early; the time reported is the time really spent.
      const arm = (): void => {
        timer = setTimeout(
          () => {
            if (performance.now() < deadline) return arm();
            timedOut = true;
            ctl.abort(new Error('timeout'));
          },
          Math.max(0, Math.ceil(deadline - performance.now())),
        );
      };
      arm();
    }
    const signals = [signal, this.options.signal].filter((s): s is AbortSignal => s !== undefined);
    const onAbort = (): void => ctl.abort(new Error('aborted'));
    for (const s of signals) {
      if (s.aborted) onAbort();
      else s.addEventListener('abort', onAbort, { once: true });
    }
    const stopped = (reason: unknown): Error => {
      const where = `on ${this.host}${connecting ? ' while connecting' : ''}: ${doing.detail}`;
      if (timedOut && limit)
        return new TimeoutError(`${doing.noun} timed out after ${limit.timeoutMs} ms ${where}`, {
          host: this.host,
          timeoutMs: limit.timeoutMs,
          phase: connecting ? 'connect' : doing.phase,
        });
      return new DeployError('aborted', `${doing.noun} aborted ${where}`, { host: this.host, cause: reason });
    };
    try {
      // An open in progress is bounded by the connect timeout (and ended by close()).
      const t = await raceAbort(this.transport(), ctl.signal, { abortError: stopped });
      connecting = false;
      return await raceAbort(fn(t, ctl.signal), ctl.signal, {
        abortError: stopped,
        onStuck: () => this.drop(t, `${doing.noun} on ${this.host} did not let go of the connection within a second of being stopped; the connection is wedged`),
        onAbandoned: (released) => {
          const next = this.settling ? Promise.all([this.settling, released]).then(() => undefined) : released;
          this.settling = next;
          void next.then(() => {
            if (this.settling === next) this.settling = undefined;
          });
        },
      });
    } finally {
      if (timer) clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
    }
  }

  /** Drops a wedged transport: destroyed now; the next operation opens a new one. */
  private drop(t: Transport, reason: string): void {
    if (this.current === t) {
      this.transportPromise = undefined;
      this.current = undefined;
    }
    try {
      if (t.destroy) t.destroy(reason);
      else void t.close().catch(() => undefined);
    } catch {
      /* already gone */
    }
  }

  /** `'ssh'` or `'local'` (opens the transport). */
  async kind(): Promise<'ssh' | 'local'> {
    return (await this.transport()).kind;
  }

  private script(command: string, options: RunOptions): string {
    let s = '';
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) badOption(`env key`, 'a shell variable name', k);
      s += `export ${k}=${shellQuote(v)}; `;
    }
    if (options.cwd !== undefined) s += `cd ${quotePath(options.cwd)} && `;
    return s + command;
  }

  private async exec(
    command: string,
    shown: string,
    options: RunOptions,
    extra: Pick<ExecOptions, 'interact' | 'input'> & { filterStderr?: (text: string) => string; limit?: Limit | undefined; doing?: Doing } = {},
  ): Promise<CommandResult> {
    const limit = 'limit' in extra ? extra.limit : this.limit(options.timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const show = !options.hide && this.options.onOutput;
    const outLines = show ? new LineSplitter((l) => this.options.onOutput!(l, 'stdout')) : undefined;
    const errLines = show ? new LineSplitter((l) => this.options.onOutput!(l, 'stderr')) : undefined;
    let errText = '';
    // Output that arrives after the call has settled (a timed-out command) is dropped.
    let settled = false;
    let outcome: ExecOutcome;
    try {
      outcome = await this.bounded(extra.doing ?? { noun: 'command', detail: shown, phase: 'command' }, limit, options.signal, (t, signal) =>
        t.exec(command, {
          pty: options.pty ?? false,
          signal,
          input: extra.input ?? (options.input === undefined ? undefined : Buffer.from(options.input)),
          ...(extra.interact ? { interact: extra.interact } : {}),
          onStdout: (c) => {
            if (settled) return;
            out.push(c);
            outLines?.push(c.toString('utf8'));
          },
          onStderr: (c) => {
            if (settled) return;
            if (extra.filterStderr) {
              const before = errText;
              errText = extra.filterStderr(errText + c.toString('utf8'));
              const added = errText.slice(before.length);
              if (added) errLines?.push(added);
            } else {
              err.push(c);
              errLines?.push(c.toString('utf8'));
            }
          },
        }),
      );
    } finally {
      settled = true;
      outLines?.flush();
      errLines?.flush();
    }
    const result: CommandResult = {
      command: shown,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: extra.filterStderr ? errText : Buffer.concat(err).toString('utf8'),
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      host: this.host,
    };
    if ((result.exitCode !== 0 || result.signal !== null) && !options.warn) throw new CommandFailedError(result);
    return result;
  }

  /**
   * Runs a command line in POSIX sh on the host (in the login directory, or `cwd`).
   * Quote your own arguments with {@link shellQuote}.
   */
  run(command: string, options: RunOptions = {}): Promise<CommandResult> {
    if (typeof command !== 'string') badOption('command', 'a string', command);
    return this.exec(this.script(command, options), command, options);
  }

  /**
   * Runs a command with sudo. When sudo asks for a password, the connection's
   * {@link SudoPassword} is asked (once per run) and the password is written to sudo's stdin
   * after a unique prompt; it never appears in argv, environment or logs.
   */
  async sudo(command: string, options: SudoOptions = {}): Promise<CommandResult> {
    const tag = randomBytes(9).toString('hex');
    const prompt = `[flotilla-sudo-${tag}] password: `;
    const mark = `flotilla-sudo-ok-${tag}`;
    const inner = this.script(command, options);
    const line =
      `sudo -S -p ${shellQuote(prompt)} -u ${shellQuote(options.user ?? 'root')} -- ` +
      `sh -c ${shellQuote(`printf '%s\\n' ${mark} >&2; exec sh -c "$1"`)} flotilla-sudo ${shellQuote(inner)}`;
    let stdin: Writable | undefined;
    let prompts = 0;
    let authenticated = false;
    let failure: DeployError | undefined;
    const input = options.input === undefined ? undefined : Buffer.from(options.input);
    const filterStderr = (text: string): string => {
      let t = text;
      while (t.includes(prompt)) {
        t = t.replace(prompt, '');
        prompts++;
        if (prompts > 1 || !this.options.sudoPassword) {
          failure = new DeployError(
            'sudo-failed',
            prompts > 1 ? `sudo on ${this.host} refused the password` : `sudo on ${this.host} needs a password and none was provided`,
            { host: this.host },
          );
          stdin?.end();
        } else {
          void this.options.sudoPassword.get().then(
            (pw) => stdin?.write(`${pw}\n`),
            (e: unknown) => {
              failure = new DeployError('sudo-failed', `no sudo password for ${this.host}`, { host: this.host, cause: e });
              stdin?.end();
            },
          );
        }
      }
      if (!authenticated && t.includes(`${mark}\n`)) {
        authenticated = true;
        t = t.replace(`${mark}\n`, '');
        if (input) stdin?.end(input);
        else stdin?.end();
      }
      return t;
    };
    const result = await this.exec(line, `sudo ${command}`, { ...options, warn: true }, {
      interact: (s) => {
        stdin = s;
      },
      filterStderr,
    });
    if (failure) throw failure;
    if ((result.exitCode !== 0 || result.signal !== null) && !options.warn) throw new CommandFailedError(result);
    return result;
  }

  /** Runs a command on the operator's machine (not the host), with the same result shape. */
  async local(command: string, options: RunOptions = {}): Promise<CommandResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const outcome = await spawnShell(this.script(command, { ...options, cwd: undefined }), {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.input === undefined ? {} : { input: Buffer.from(options.input) }),
      ...(options.signal ? { signal: options.signal } : {}),
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    });
    const result: CommandResult = {
      command,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      host: 'local',
    };
    if ((result.exitCode !== 0 || result.signal !== null) && !options.warn) throw new CommandFailedError(result);
    return result;
  }

  /** sha256 of a remote file, or `null` when it does not exist. */
  async remoteSha256(remotePath: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string | null> {
    return this.sha256Of(remotePath, options, this.limit(options.timeoutMs));
  }

  private async sha256Of(remotePath: string, options: RunOptions, limit: Limit | undefined, doing?: Doing): Promise<string | null> {
    const p = quotePath(remotePath);
    const command = `if [ -f ${p} ]; then sha256sum -- ${p} 2>/dev/null || shasum -a 256 -- ${p} 2>/dev/null || openssl dgst -sha256 -r ${p}; fi`;
    const r = await this.exec(command, command, { ...options, hide: true, warn: true }, { limit, ...(doing ? { doing } : {}) });
    const m = /^([0-9a-f]{64})/.exec(r.stdout.trim());
    return m ? m[1]! : null;
  }

  /**
   * Uploads a file: to a temporary name beside the target, mode set, then renamed over it —
   * a reader sees the old file or the new one, never half of one. Skipped when the remote
   * sha256 already matches. Over SFTP, with a streamed copy (`cat` on an exec channel) as the
   * fallback for servers whose SFTP misbehaves.
   */
  async put(localPath: string, remotePath: string, options: PutOptions = {}): Promise<PutResult> {
    if (typeof localPath !== 'string') badOption('localPath', 'a string', localPath);
    if (typeof remotePath !== 'string' || remotePath === '') badOption('remotePath', 'a non-empty string', remotePath);
    const local = await localFile(localPath);
    const mode = options.mode ?? local.mode;
    const sha256 = local.sha256;
    const dest = remotePath.endsWith('/') ? posix.join(remotePath, posix.basename(localPath)) : remotePath;
    const method = options.method ?? 'auto';
    // One limit for every step of the upload.
    const limit = this.limit(options.timeoutMs);
    const doing: Doing = { noun: 'upload', detail: `${localPath} -> ${dest}`, phase: 'transfer' };
    const signal = options.signal;
    const runOptions = signal ? { signal } : {};
    if (options.skipIfSame !== false) {
      // A missing file or one of another size cannot match: skip the hashing command then.
      let sameSize = true;
      if (method !== 'stream') {
        try {
          const st = await this.bounded(doing, limit, signal, (t) => t.files.stat(dest));
          sameSize = st !== null && st.size === local.size;
        } catch (e) {
          if (isTimeoutError(e) || (e as DeployError).code === 'aborted') throw e;
          sameSize = true;
        }
      }
      const remote = sameSize ? await this.sha256Of(dest, runOptions, limit, doing) : null;
      if (remote === sha256) {
        await this.exec(`chmod ${mode.toString(8)} ${quotePath(dest)}`, `chmod ${dest}`, { ...runOptions, hide: true, warn: true }, { limit, doing });
        options.onProgress?.(local.size, local.size);
        return { remotePath: dest, sha256, skipped: true };
      }
    }
    if (method !== 'stream') {
      try {
        await this.bounded(doing, limit, signal, (t, s) =>
          t.putFile(localPath, dest, mode, s, local.data, options.onProgress ? (b) => options.onProgress!(b, local.size) : undefined),
        );
        return { remotePath: dest, sha256, skipped: false };
      } catch (e) {
        if (method === 'sftp' || (e as DeployError).code !== 'transfer-failed' || signal?.aborted) throw e;
      }
    }
    await this.streamPut(localPath, dest, mode, runOptions, local.data, limit, doing);
    options.onProgress?.(local.size, local.size);
    return { remotePath: dest, sha256, skipped: false };
  }

  private async streamPut(localPath: string, dest: string, mode: number, options: RunOptions, data: Buffer | undefined, limit: Limit | undefined, doing: Doing): Promise<void> {
    const dir = posix.dirname(dest);
    const tmp = posix.join(dir, `.${posix.basename(dest)}.flotilla-${randomBytes(6).toString('hex')}`);
    const q = quotePath(tmp);
    await this.exec(
      `umask 077; cat > ${q} && chmod ${mode.toString(8)} ${q} && mv -f ${q} ${quotePath(dest)} || { rm -f ${q}; exit 1; }`,
      `put ${localPath} ${dest}`,
      { ...options, hide: true },
      { input: data ?? createReadStream(localPath), limit, doing },
    );
  }

  /** Writes a string to a remote file atomically (same rules as {@link put}). */
  async writeFile(remotePath: string, content: string | Buffer, options: { mode?: number } & TransferOptions = {}): Promise<void> {
    const mode = options.mode ?? 0o644;
    const dir = posix.dirname(remotePath);
    const tmp = posix.join(dir, `.${posix.basename(remotePath)}.flotilla-${randomBytes(6).toString('hex')}`);
    const q = quotePath(tmp);
    await this.run(`umask 077; cat > ${q} && chmod ${mode.toString(8)} ${q} && mv -f ${q} ${quotePath(remotePath)} || { rm -f ${q}; exit 1; }`, {
      input: typeof content === 'string' ? content : content,
      hide: true,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  /** Downloads a remote file (over SFTP, falling back to a streamed `cat`). */
  async get(remotePath: string, localPath: string, options: TransferOptions = {}): Promise<void> {
    const limit = this.limit(options.timeoutMs);
    const doing: Doing = { noun: 'download', detail: `${remotePath} -> ${localPath}`, phase: 'transfer' };
    try {
      await this.bounded(doing, limit, options.signal, (t, s) => t.getFile(remotePath, localPath, s));
      return;
    } catch (e) {
      if ((e as DeployError).code !== 'transfer-failed' || options.signal?.aborted) throw e;
    }
    const command = `cat -- ${quotePath(remotePath)}`;
    const r = await this.exec(command, command, { hide: true, ...(options.signal ? { signal: options.signal } : {}) }, { limit, doing });
    const { writeFile, rename } = await import('node:fs/promises');
    const tmp = `${localPath}.flotilla-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, r.stdout);
    await rename(tmp, localPath);
  }

  /** Uploads a directory's contents into `remoteDir` (created) as one tar stream. */
  async putDir(localDir: string, remoteDir: string, options: TransferOptions = {}): Promise<void> {
    const st = await stat(localDir);
    if (!st.isDirectory()) throw new DeployError('transfer-failed', `${localDir} is not a directory`);
    const tar = spawn('tar', ['-C', localDir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Consume tar's stdout at once: Node resumes (and so drops) the unread output of a child
    // that exits before anyone reads it.
    const archive = new PassThrough();
    tar.stdout.pipe(archive);
    const tarErr: Buffer[] = [];
    tar.stderr.on('data', (c: Buffer) => tarErr.push(c));
    const tarDone = new Promise<number | null>((resolve) => tar.on('close', resolve));
    const q = quotePath(remoteDir);
    try {
      await this.exec(
        `mkdir -p -- ${q} && tar -C ${q} -xf -`,
        `putDir ${localDir} ${remoteDir}`,
        { hide: true, ...(options.signal ? { signal: options.signal } : {}), ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) },
        { input: archive, doing: { noun: 'upload', detail: `${localDir} -> ${remoteDir}`, phase: 'transfer' } },
      );
    } finally {
      if (tar.exitCode === null) tar.kill();
    }
    const code = await tarDone;
    if (code !== 0) throw new DeployError('transfer-failed', `local tar of ${localDir} failed: ${Buffer.concat(tarErr).toString()}`);
  }

  /**
   * Runs a container on this host (`@flotilla/deploy/image`'s `runContainer`), for deployfiles:
   * `await c.runContainer({ image: './web.oci.tar', name: 'web', ports: { http: 8080 } })`. A
   * reference is read once into a local content store (`$FLOTILLA_IMAGES`, else
   * `~/.flotilla/images`); only the blobs the host lacks are sent. Idempotent by name, image
   * digest and options. The image code loads only when this is called.
   */
  async runContainer(options: TaskContainerOptions): Promise<ContainerStatus & { push: PushResult }> {
    const { runContainerTask } = await import('./image/task-containers.js');
    return runContainerTask(this, options);
  }

  /** Stops a container on this host and removes its bundle (idempotent); see `stopContainer`. */
  async stopContainer(name: string, options: { gracePeriodSeconds?: number; signal?: AbortSignal } = {}): Promise<void> {
    const { stopContainer } = await import('./image/task-containers.js');
    return stopContainer(this, name, options);
  }

  /** A container's status on this host (`state: 'absent'` when there is none). */
  async containerStatus(name: string): Promise<ContainerStatus> {
    const { containerStatuses } = await import('./image/task-containers.js');
    return (await containerStatuses(this, [name])).get(name)!;
  }

  /** Runs a command inside a running container on this host (`runc exec`). */
  async execInContainer(name: string, argv: string[], options: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const { execInContainer } = await import('./image/task-containers.js');
    return execInContainer(this, name, argv, options);
  }

  /**
   * Closes the transport (the next command opens a new one). A connection still being opened is
   * abandoned rather than waited for; a host that does not answer the goodbye is dropped after a
   * second.
   */
  async close(): Promise<void> {
    this.opening?.abort(new DeployError('aborted', `the connection to ${this.host} was closed while it was being opened`, { host: this.host }));
    this.opening = undefined;
    const p = this.transportPromise;
    this.transportPromise = undefined;
    this.current = undefined;
    this.warming = undefined;
    this.warmFailure = undefined;
    if (!p) return;
    try {
      await (await p).close();
    } catch {
      /* never opened */
    }
  }
}
