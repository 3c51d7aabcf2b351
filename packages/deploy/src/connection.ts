/**
 * {@link Connection}: one host. Opens lazily on first use and keeps one transport (one
 * multiplexed ssh connection) for every command and transfer until {@link Connection.close}.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { CommandFailedError, DeployError, badOption, type CommandResult } from './errors.js';
import { LocalTransport, spawnShell } from './local-transport.js';
import { quotePath, shellQuote } from './quote.js';
import { resolveSshTarget, type SshOptions, type SshTarget } from './ssh-target.js';
import type { ExecOptions, ExecOutcome, RemoteFiles, Transport } from './transport.js';

/** Options of one command. */
export interface RunOptions {
  /** Environment variables, exported in the remote shell before the command (values are quoted). */
  env?: Record<string, string>;
  /** Working directory (relative to the login directory). @default the login directory */
  cwd?: string;
  /** Kill the command after this long and throw a `TIMEOUT` error. @default the connection's `commandTimeoutMs` (none) */
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
  /** Default timeout of every command. @default undefined (none) */
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
  return code === 'CONNECT_FAILED' || code === 'HOST_KEY_UNKNOWN' || code === 'HOST_KEY_CHANGED' || code === 'HOST_KEY_REVOKED';
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
   * `CONNECTION_LOST`.
   */
  transport(): Promise<Transport> {
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
    const p = this.open(this.options.signal);
    this.transportPromise = p;
    p.then(
      (t) => {
        if (this.transportPromise === p) this.current = t;
        if (this.warming === p) this.warming = undefined;
      },
      () => {
        if (this.transportPromise !== p) return;
        if (this.warming === p) {
          this.warming = undefined;
          this.warmFailure = p;
        } else this.transportPromise = undefined;
      },
    );
    return p;
  }

  /** File operations that start no remote process (SFTP over ssh); see {@link RemoteFiles}. */
  async files(): Promise<RemoteFiles> {
    return (await this.transport()).files;
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
    extra: Pick<ExecOptions, 'interact' | 'input'> & { filterStderr?: (text: string) => string } = {},
  ): Promise<CommandResult> {
    const t = await this.transport();
    const timeoutMs = options.timeoutMs ?? this.options.commandTimeoutMs;
    const ctl = new AbortController();
    const signals = [options.signal, this.options.signal].filter((s): s is AbortSignal => s !== undefined);
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            ctl.abort(new Error('timeout'));
          }, timeoutMs);
    const onAbort = (): void => ctl.abort(new Error('aborted'));
    for (const s of signals) {
      if (s.aborted) onAbort();
      s.addEventListener('abort', onAbort, { once: true });
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const show = !options.hide && this.options.onOutput;
    const outLines = show ? new LineSplitter((l) => this.options.onOutput!(l, 'stdout')) : undefined;
    const errLines = show ? new LineSplitter((l) => this.options.onOutput!(l, 'stderr')) : undefined;
    let errText = '';
    let outcome: ExecOutcome;
    try {
      outcome = await t.exec(command, {
        pty: options.pty ?? false,
        signal: ctl.signal,
        input: extra.input ?? (options.input === undefined ? undefined : Buffer.from(options.input)),
        ...(extra.interact ? { interact: extra.interact } : {}),
        onStdout: (c) => {
          out.push(c);
          outLines?.push(c.toString('utf8'));
        },
        onStderr: (c) => {
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
      });
    } catch (e) {
      if (timedOut) throw new DeployError('TIMEOUT', `command timed out after ${timeoutMs} ms on ${this.host}: ${shown}`, { host: this.host, cause: e });
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
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
            'SUDO_FAILED',
            prompts > 1 ? `sudo on ${this.host} refused the password` : `sudo on ${this.host} needs a password and none was provided`,
            { host: this.host },
          );
          stdin?.end();
        } else {
          void this.options.sudoPassword.get().then(
            (pw) => stdin?.write(`${pw}\n`),
            (e: unknown) => {
              failure = new DeployError('SUDO_FAILED', `no sudo password for ${this.host}`, { host: this.host, cause: e });
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
  async remoteSha256(remotePath: string): Promise<string | null> {
    const p = quotePath(remotePath);
    const r = await this.run(
      `if [ -f ${p} ]; then sha256sum -- ${p} 2>/dev/null || shasum -a 256 -- ${p} 2>/dev/null || openssl dgst -sha256 -r ${p}; fi`,
      { hide: true, warn: true },
    );
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
    if (options.skipIfSame !== false) {
      // A missing file or one of another size cannot match: skip the hashing command then.
      let sameSize = true;
      if (method !== 'stream') {
        try {
          const st = await (await this.files()).stat(dest);
          sameSize = st !== null && st.size === local.size;
        } catch {
          sameSize = true;
        }
      }
      const remote = sameSize ? await this.remoteSha256(dest) : null;
      if (remote === sha256) {
        await this.run(`chmod ${mode.toString(8)} ${quotePath(dest)}`, { hide: true, warn: true });
        options.onProgress?.(local.size, local.size);
        return { remotePath: dest, sha256, skipped: true };
      }
    }
    const t = await this.transport();
    if (method !== 'stream') {
      try {
        await t.putFile(localPath, dest, mode, options.signal, local.data, options.onProgress ? (b) => options.onProgress!(b, local.size) : undefined);
        return { remotePath: dest, sha256, skipped: false };
      } catch (e) {
        if (method === 'sftp' || (e as DeployError).code !== 'TRANSFER_FAILED' || options.signal?.aborted) throw e;
      }
    }
    await this.streamPut(localPath, dest, mode, options.signal, local.data);
    options.onProgress?.(local.size, local.size);
    return { remotePath: dest, sha256, skipped: false };
  }

  private async streamPut(localPath: string, dest: string, mode: number, signal?: AbortSignal, data?: Buffer): Promise<void> {
    const dir = posix.dirname(dest);
    const tmp = posix.join(dir, `.${posix.basename(dest)}.flotilla-${randomBytes(6).toString('hex')}`);
    const q = quotePath(tmp);
    await this.exec(
      `umask 077; cat > ${q} && chmod ${mode.toString(8)} ${q} && mv -f ${q} ${quotePath(dest)} || { rm -f ${q}; exit 1; }`,
      `put ${localPath} ${dest}`,
      { hide: true, ...(signal ? { signal } : {}) },
      { input: data ?? createReadStream(localPath) },
    );
  }

  /** Writes a string to a remote file atomically (same rules as {@link put}). */
  async writeFile(remotePath: string, content: string | Buffer, options: { mode?: number; signal?: AbortSignal } = {}): Promise<void> {
    const mode = options.mode ?? 0o644;
    const dir = posix.dirname(remotePath);
    const tmp = posix.join(dir, `.${posix.basename(remotePath)}.flotilla-${randomBytes(6).toString('hex')}`);
    const q = quotePath(tmp);
    await this.run(`umask 077; cat > ${q} && chmod ${mode.toString(8)} ${q} && mv -f ${q} ${quotePath(remotePath)} || { rm -f ${q}; exit 1; }`, {
      input: typeof content === 'string' ? content : content,
      hide: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Downloads a remote file (over SFTP, falling back to a streamed `cat`). */
  async get(remotePath: string, localPath: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const t = await this.transport();
    try {
      await t.getFile(remotePath, localPath, options.signal);
      return;
    } catch (e) {
      if ((e as DeployError).code !== 'TRANSFER_FAILED' || options.signal?.aborted) throw e;
    }
    const r = await this.run(`cat -- ${quotePath(remotePath)}`, { hide: true, ...(options.signal ? { signal: options.signal } : {}) });
    const { writeFile, rename } = await import('node:fs/promises');
    const tmp = `${localPath}.flotilla-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, r.stdout);
    await rename(tmp, localPath);
  }

  /** Uploads a directory's contents into `remoteDir` (created) as one tar stream. */
  async putDir(localDir: string, remoteDir: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const st = await stat(localDir);
    if (!st.isDirectory()) throw new DeployError('TRANSFER_FAILED', `${localDir} is not a directory`);
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
      await this.exec(`mkdir -p -- ${q} && tar -C ${q} -xf -`, `putDir ${localDir} ${remoteDir}`, { hide: true, ...(options.signal ? { signal: options.signal } : {}) }, {
        input: archive,
      });
    } finally {
      if (tar.exitCode === null) tar.kill();
    }
    const code = await tarDone;
    if (code !== 0) throw new DeployError('TRANSFER_FAILED', `local tar of ${localDir} failed: ${Buffer.concat(tarErr).toString()}`);
  }

  /** Closes the transport (the next command opens a new one). */
  async close(): Promise<void> {
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
