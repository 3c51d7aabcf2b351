/**
 * The `local` transport: a host is a directory on this machine. Commands run here with
 * that directory as the working directory and as `$HOME`, so `~/.flotilla/...` lands inside it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { connect as unixConnect } from 'node:net';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { DeployError } from './errors.js';
import type { ExecOptions, ExecOutcome, RemoteFiles, Transport } from './transport.js';

/** Runs a command with `sh -c` here; shared by the local transport and `Connection.local`. */
export function spawnShell(command: string, options: ExecOptions & { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<ExecOutcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so an abort kills the command's children too.
      detached: true,
    });
    const onAbort = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => options.onStdout?.(c));
    child.stderr.on('data', (c: Buffer) => options.onStderr?.(c));
    child.stdin.on('error', () => {
      /* the command closed stdin early */
    });
    if (options.interact) options.interact(child.stdin);
    else if (Buffer.isBuffer(options.input)) child.stdin.end(options.input);
    else if (options.input) (options.input).pipe(child.stdin);
    else child.stdin.end();
    child.on('error', (e) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, sig) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal?.aborted) {
        reject(new DeployError('aborted', `command aborted: ${command}`, { cause: options.signal.reason }));
        return;
      }
      resolvePromise({ exitCode: code, signal: sig ? sig.replace(/^SIG/, '') : null });
    });
  });
}

/** A host that is a directory on this machine. */
export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly dir: string;
  private readonly setHome: boolean;
  /** `setHome: false` keeps the operator's `$HOME` (for `once` tasks on this machine). */
  constructor(dir: string, options: { setHome?: boolean } = {}) {
    this.dir = resolve(dir);
    this.setHome = options.setHome ?? true;
  }

  private path(p: string): string {
    if (p === '~') return this.dir;
    if (p.startsWith('~/')) return join(this.dir, p.slice(2));
    return isAbsolute(p) ? p : join(this.dir, p);
  }

  openUnixSocket(path: string, signal?: AbortSignal): Promise<Duplex> {
    return new Promise((resolvePromise, reject) => {
      const s = unixConnect({ path: this.path(path), ...(signal ? { signal } : {}) });
      s.once('connect', () => {
        s.off('error', reject);
        resolvePromise(s);
      });
      s.once('error', reject);
    });
  }

  async exec(command: string, options: ExecOptions): Promise<ExecOutcome> {
    await mkdir(this.dir, { recursive: true });
    return spawnShell(command, { ...options, cwd: this.dir, env: this.setHome ? { ...process.env, HOME: this.dir } : process.env });
  }

  async putFile(localPath: string, remotePath: string, mode: number, _signal?: AbortSignal, data?: Buffer, onProgress?: (bytes: number) => void): Promise<void> {
    const dest = this.path(remotePath);
    const tmp = join(dirname(dest), `.${basename(dest)}.flotilla-${randomBytes(6).toString('hex')}`);
    try {
      if (data) await writeFile(tmp, data, { mode });
      else await copyFile(localPath, tmp);
      await chmod(tmp, mode);
      await rename(tmp, dest);
      if (onProgress) onProgress((await stat(dest)).size);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new DeployError('transfer-failed', `cannot copy ${localPath} to ${dest}: ${(e as Error).message}`, { cause: e });
    }
  }

  async getFile(remotePath: string, localPath: string): Promise<void> {
    const src = this.path(remotePath);
    const tmp = `${localPath}.flotilla-${randomBytes(6).toString('hex')}`;
    try {
      await copyFile(src, tmp);
      await rename(tmp, localPath);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new DeployError('transfer-failed', `cannot copy ${src} to ${localPath}: ${(e as Error).message}`, { cause: e });
    }
  }

  readonly files: RemoteFiles = {
    stat: async (p) => {
      try {
        const st = await stat(this.path(p));
        return st.isFile() ? { size: st.size } : null;
      } catch {
        return null;
      }
    },
    mkdirExclusive: async (p, mode) => {
      try {
        await mkdir(this.path(p), { mode });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    },
    mkdirp: async (p, mode) => {
      await mkdir(this.path(p), { recursive: true, mode });
    },
    createExclusive: async (p, data, mode) => {
      const full = this.path(p);
      await mkdir(dirname(full), { recursive: true, mode: 0o700 });
      try {
        await writeFile(full, data, { mode, flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    },
    readFile: (p) => readFile(this.path(p)),
    writeFile: async (p, data, mode) => {
      await writeFile(this.path(p), data, { mode });
    },
    remove: async (p, options = {}) => {
      try {
        if (options.rmdir) await rmdir(this.path(p));
        else await rm(this.path(p), { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    },
  };

  async close(): Promise<void> {
    /* nothing to close */
  }
}
