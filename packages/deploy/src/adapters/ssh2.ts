/**
 * The only module that imports ssh2 (loaded lazily, so importing @flotilla/deploy stays cheap).
 * One multiplexed ssh connection per host: every command is a channel on it, transfers share
 * one SFTP session. ProxyJump hops are connections whose forwarded channel is the next
 * connection's socket.
 * Over 600 lines: it is the seam (CONVENTIONS.md, example 9), and keeping every use of the
 * protocol library in this one file is the point — connecting (keys, host keys, ProxyJump
 * hops) and the transport over the connection (exec channels, pipelined SFTP writes).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { connect as tcpConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type * as Ssh2Module from 'ssh2';
import type { AuthenticationType, Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { isSysError, readSecretFileSync } from '@flotilla/sys';
import { RELEASE_GRACE_MS } from '../abandon.js';
import { DeployError, HostKeyError } from '../errors.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
  loadKnownHosts,
} from '../known-hosts.js';
import type { SshOptions, SshTarget } from '../ssh-target.js';
import type { ExecOptions, ExecOutcome, RemoteFiles, Transport } from '../transport.js';

type Ssh2 = typeof Ssh2Module;
let ssh2Module: Promise<Ssh2> | undefined;
async function loadSsh2(): Promise<Ssh2> {
  ssh2Module ??= import('ssh2').then((m) => (m as unknown as { default?: Ssh2 }).default ?? m);
  return ssh2Module;
}

/** Loads ssh2 ahead of the first connection (a long-lived process that expects to connect soon). */
export async function preloadSsh2(): Promise<void> {
  await loadSsh2();
}

const HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];
function algosFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

/** Keys read once per process (and passphrases asked once per file). */
const keyCache = new Map<string, Promise<{ key: Buffer; passphrase?: string } | null>>();

async function loadKey(file: string, options: SshOptions, ssh: Ssh2): Promise<{ key: Buffer; passphrase?: string } | null> {
  let p = keyCache.get(file);
  if (!p) {
    p = (async () => {
      let key: Buffer;
      try {
        // As OpenSSH: a private key that group or others can access is ignored, with a warning
        // that says `chmod 600` (flo reads identity files itself, so it checks them itself).
        key = readSecretFileSync(file, { what: 'an ssh private key' });
      } catch (e) {
        if (isSysError(e) && e.code === 'unprotected-secret-file') options.onWarning?.(`skipping identity ${file}: ${e.message}`);
        return null;
      }
      const parsed = ssh.utils.parseKey(key);
      if (!(parsed instanceof Error)) return { key };
      if (!/passphrase|encrypted/i.test(parsed.message)) {
        options.onWarning?.(`skipping identity ${file}: ${parsed.message}`);
        return null;
      }
      const pp = typeof options.passphrase === 'function' ? await options.passphrase(file) : options.passphrase;
      if (pp === undefined) {
        options.onWarning?.(`skipping identity ${file}: it is encrypted and no passphrase was given`);
        return null;
      }
      const again = ssh.utils.parseKey(key, pp);
      if (again instanceof Error) throw new DeployError('connect-failed', `cannot decrypt ${file}: ${again.message}`);
      return { key, passphrase: pp };
    })();
    keyCache.set(file, p);
  }
  return p;
}

interface Hop {
  client: Client;
  /** Set once the connection has closed or failed after it was ready. */
  dead: boolean;
  /** The error that ended it, when there was one. */
  lastError: Error | undefined;
}

async function connectHop(
  ssh: Ssh2,
  target: SshTarget,
  options: SshOptions,
  sock: Duplex | undefined,
  label: string,
  signal: AbortSignal | undefined,
  early?: { take(): Socket | undefined; drop(): void },
): Promise<Hop> {
  const client = new ssh.Client();
  const files = [...target.knownHostsFiles, ...target.globalKnownHostsFiles];
  const entries = loadKnownHosts(files);
  const name = knownHostsName(target.hostName, target.port);
  const known = knownKeyTypes(entries, name);
  const preferred = [...new Set([...known.flatMap(algosFor), ...HOST_KEY_ALGOS])].filter((a) => HOST_KEY_ALGOS.includes(a));
  let hostKeyError: Error | undefined;
  const hostVerifier = (key: Buffer): boolean => {
    const status = checkHostKey(entries, name, key);
    const fp = fingerprint(key);
    const keyType = keyTypeOf(key);
    const data = { host: label, fingerprint: fp, keyType };
    switch (status) {
      case 'ok':
        return true;
      case 'revoked':
        hostKeyError = new HostKeyError('host-key-revoked', `host key for ${name} (${keyType} ${fp}) is marked @revoked in known_hosts`, data);
        return false;
      case 'changed':
        hostKeyError = new HostKeyError(
          'host-key-changed',
          `HOST KEY CHANGED for ${name}: the server presented ${keyType} ${fp}, which differs from the key in ${files.filter(Boolean).join(' or ')}. ` +
            `Someone could be eavesdropping, or the host was reinstalled. If the change is expected, remove the old entry (ssh-keygen -R '${name}') and connect again.`,
          data,
        );
        return false;
      case 'unknown': {
        const mode = target.strictHostKeyChecking;
        const accept = options.acceptNewHostKeys === true || mode === 'no' || mode === 'accept-new';
        if (!accept) {
          hostKeyError = new HostKeyError(
            'host-key-unknown',
            `unknown host key for ${name}: ${keyType} ${fp} is not in ${target.knownHostsFiles[0] ?? 'known_hosts'}. ` +
              `Verify it, then add it (ssh-keyscan) or pass --accept-new-host-keys to record it.`,
            data,
          );
          return false;
        }
        const file = target.knownHostsFiles[0];
        if (file) appendKnownHost(file, name, key);
        options.onWarning?.(
          `${mode === 'no' && options.acceptNewHostKeys !== true ? 'warning: StrictHostKeyChecking no: ' : ''}accepted new host key for ${name}: ${keyType} ${fp}${file ? ` (recorded in ${file})` : ''}`,
        );
        return true;
      }
    }
  };

  const auth: ({ type: AuthenticationType; username: string } & Record<string, unknown>)[] = [];
  for (const f of target.identityFiles) {
    const k = await loadKey(f, options, ssh);
    if (k) auth.push({ type: 'publickey', username: target.user, key: k.key, ...(k.passphrase === undefined ? {} : { passphrase: k.passphrase }) });
  }
  if (target.agent && !target.identitiesOnly) auth.push({ type: 'agent', username: target.user, agent: target.agent });
  else if (target.agent && auth.length === 0) auth.push({ type: 'agent', username: target.user, agent: target.agent });

  const config: ConnectConfig = {
    host: target.hostName,
    port: target.port,
    username: target.user,
    readyTimeout: target.connectTimeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: 4,
    hostVerifier,
    algorithms: { serverHostKey: preferred as NonNullable<NonNullable<ConnectConfig['algorithms']>['serverHostKey']> },
    authHandler: auth,
  };
  if (sock) config.sock = sock;
  else {
    const pre = early?.take();
    if (pre) config.sock = pre;
  }

  const hop: Hop = { client, dead: false, lastError: undefined };
  let ready = false;
  // One error listener for the client's whole life: ssh2 can emit several errors (e.g. a
  // handshake timeout, then "Connection lost before handshake"); before ready the first one
  // fails the connect, later ones (keepalive timeout, reset) only mark the connection dead —
  // none is left unhandled to crash a long-running process.
  let failConnect: ((err: Error & { level?: string }) => void) | undefined;
  client.on('error', (err: Error & { level?: string }) => {
    hop.lastError ??= err;
    if (ready) hop.dead = true;
    else failConnect?.(err);
  });
  client.on('close', () => {
    hop.dead = true;
    // An error emitted around the close (e.g. authentication failed) is the better reason.
    if (!ready) setImmediate(() => failConnect?.(hop.lastError ?? new Error('connection closed before the handshake completed')));
  });

  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      early?.drop();
      config.sock?.destroy();
      client.end();
      reject(new DeployError('aborted', `connecting to ${label} was aborted`, { host: label, cause: signal?.reason }));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => {
      ready = true;
      failConnect = undefined;
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    failConnect = (err) => {
      failConnect = undefined;
      signal?.removeEventListener('abort', onAbort);
      if (hostKeyError) return reject(hostKeyError);
      const what =
        err.level === 'client-authentication'
          ? 'authentication failed'
          : err.level === 'client-timeout'
            ? `no ssh handshake within the connect timeout (${target.connectTimeoutMs} ms; ConnectTimeout in ssh_config)`
            : err.message;
      reject(
        new DeployError('connect-failed', `cannot connect to ${label} (${target.user}@${target.hostName}:${target.port}): ${what}`, {
          host: label,
          cause: err,
        }),
      );
      // A half-open connection is not reused.
      client.end();
    };
    if (auth.length === 0) {
      early?.drop();
      config.sock?.destroy();
      reject(new DeployError('connect-failed', `no identity for ${label}: no readable private key and no ssh-agent`, { host: label }));
      return;
    }
    client.connect(config);
  });
  return hop;
}

/** A channel from a jump host to the next hop; bounded by the connect timeout and the abort signal. */
function forward(client: Client, host: string, port: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const timer = setTimeout(() => {
      if (finish()) reject(new Error(`no answer within the connect timeout (${timeoutMs} ms)`));
    }, timeoutMs);
    const onAbort = (): void => {
      if (finish()) reject(new Error('aborted'));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (!finish()) {
        stream?.close();
        return;
      }
      if (err) reject(err);
      else resolve(stream);
    });
  });
}

/** Opens an ssh connection (through every ProxyJump hop) and returns it as a {@link Transport}. */
/**
 * A TCP connection to the first hop, started before ssh2 is loaded: the server accepts it and
 * starts its per-connection process while this process loads the module. Its greeting waits
 * in the socket's buffer (nothing reads it yet). `take()` hands the socket over, or returns
 * undefined when it already failed or closed — then ssh2 connects afresh and reports the
 * error in its usual words.
 */
function preconnect(host: string, port: number): { take(): Socket | undefined; drop(): void } {
  let failed = false;
  let sock: Socket | undefined = tcpConnect({ host, port });
  sock.setNoDelay(true);
  const onEnd = (): void => {
    failed = true;
  };
  sock.once('error', onEnd);
  sock.once('close', onEnd);
  return {
    take() {
      const s = sock;
      sock = undefined;
      if (!s) return undefined;
      s.off('close', onEnd);
      if (failed || s.destroyed) {
        s.destroy();
        return undefined;
      }
      // The 'error' listener stays: ssh2 attaches its own synchronously in connect().
      return s;
    },
    drop() {
      sock?.destroy();
      sock = undefined;
    },
  };
}

export async function openSshTransport(target: SshTarget, options: SshOptions = {}, signal?: AbortSignal): Promise<Transport> {
  const first = target.jumps[0] ?? target;
  const early = signal?.aborted ? undefined : preconnect(first.hostName, first.port);
  let ssh: Ssh2;
  try {
    ssh = await loadSsh2();
  } catch (e) {
    early?.drop();
    throw e;
  }
  const hops: Hop[] = [];
  try {
    let sock: Duplex | undefined;
    const all = [...target.jumps, { ...target, jumps: [] }];
    for (let i = 0; i < all.length; i++) {
      const j = all[i]!;
      const last = i === all.length - 1;
      const hop = await connectHop(ssh, j, options, sock, last ? target.label : `${j.label} (jump host for ${target.label})`, signal, i === 0 ? early : undefined);
      hops.push(hop);
      const next = all[i + 1];
      if (next) {
        try {
          sock = await forward(hop.client, next.hostName, next.port, next.connectTimeoutMs, signal);
        } catch (e) {
          if (signal?.aborted) throw new DeployError('aborted', `connecting to ${target.label} was aborted`, { host: target.label, cause: signal.reason });
          throw new DeployError('connect-failed', `jump host ${j.label} cannot reach ${next.hostName}:${next.port}: ${(e as Error).message}`, {
            host: target.label,
            cause: e,
          });
        }
      }
    }
  } catch (e) {
    early?.drop();
    for (const h of hops.reverse()) h.client.end();
    throw e;
  }
  return new SshTransport(hops, target.label);
}

/**
 * Writes a buffer to a new remote file with about 1 MiB of write requests in flight (ssh2's own
 * `write` sends an oversized buffer one request at a time).
 */
async function writePipelined(s: SFTPWrapper, path: string, data: Buffer, mode: number, signal?: AbortSignal, onProgress?: (bytes: number) => void): Promise<void> {
  const handle = await new Promise<Buffer>((resolve, reject) =>
    s.open(path, 'w', { mode }, (err, h) => (err ? reject(err) : resolve(h))),
  );
  const chunk = Math.max(1024, Math.min(((s as unknown as { _maxWriteLen?: number })._maxWriteLen ?? 32_768), 255 * 1024));
  // About 1 MiB in flight: enough to keep OpenSSH's 2 MiB channel window busy; more only
  // queues buffers in this process (memory and GC work for every host at once).
  const inFlight = Math.max(2, Math.min(16, Math.ceil((1 << 20) / chunk)));
  let next = 0;
  let written = 0;
  let failed: Error | undefined;
  const worker = async (): Promise<void> => {
    while (next < data.length && !failed) {
      const off = next;
      const len = Math.min(chunk, data.length - off);
      next += len;
      await new Promise<void>((resolve, reject) => s.write(handle, data, off, len, off, (err) => (err ? reject(err) : resolve()))).then(
        () => {
          written += len;
          onProgress?.(written);
        },
        (e: unknown) => {
          failed ??= e as Error;
        },
      );
    }
  };
  // An abort ends the SFTP session; requests in flight may then never be answered.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((_resolve, reject) => {
    onAbort = () => reject(new Error('aborted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    await Promise.race([Promise.all(Array.from({ length: inFlight }, worker)), aborted]);
    if (failed) throw failed;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (!signal?.aborted) await new Promise<void>((resolve) => s.close(handle, () => resolve()));
  }
}

/** Remote path as SFTP wants it: `~/x` → `x` (SFTP paths are relative to the login directory). */
function sftpPath(p: string): string {
  if (p === '~') return '.';
  if (p.startsWith('~/')) return p.slice(2);
  return p;
}

class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private closed = false;
  constructor(
    private readonly hops: Hop[],
    private readonly label: string,
  ) {}

  private get client(): Client {
    return this.hops[this.hops.length - 1]!.client;
  }

  /** False once any hop's connection has died (or {@link close} was called). */
  isOpen(): boolean {
    return !this.closed && this.hops.every((h) => !h.dead);
  }

  /**
   * After a channel was asked to close (a command killed, a transfer abandoned): a host that does
   * not confirm the close within {@link RELEASE_GRACE_MS} has stopped answering (a frozen sshd
   * keeps its TCP connection open), so the connection is destroyed rather than left to the
   * keepalive.
   */
  private expectClose(ch: { once(event: 'close', fn: () => void): unknown }, what: string): void {
    if (!this.isOpen()) return;
    const timer = setTimeout(() => this.destroy(`${what} did not confirm closing its channel within ${RELEASE_GRACE_MS} ms: the host stopped answering`), RELEASE_GRACE_MS);
    ch.once('close', () => clearTimeout(timer));
  }

  /** Drops the connection now: every hop's socket destroyed; operations in flight fail with `connection-lost`. */
  destroy(reason: string): void {
    for (const h of this.hops) {
      h.lastError ??= new Error(reason);
      h.dead = true;
    }
    this.sftpSession = undefined;
    for (const h of [...this.hops].reverse()) h.client.destroy();
  }

  private lostError(message: string, cause?: unknown): DeployError {
    const last = this.hops.find((h) => h.lastError)?.lastError;
    return new DeployError('connection-lost', last ? `${message} (${last.message})` : message, { host: this.label, cause: cause ?? last });
  }

  openUnixSocket(path: string, signal?: AbortSignal): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      if (this.closed || !this.isOpen()) {
        reject(this.lostError(`cannot open a stream to ${path} on ${this.label}: the connection is closed`));
        return;
      }
      if (signal?.aborted) {
        reject(new DeployError('aborted', `stream to ${path} on ${this.label} aborted`, { host: this.label, cause: signal.reason }));
        return;
      }
      this.client.openssh_forwardOutStreamLocal(path, (err, ch) => {
        if (err) {
          reject(new DeployError('connect-failed', `${this.label}: cannot open a stream to ${path}: ${err.message}`, { host: this.label, cause: err }));
          return;
        }
        if (signal?.aborted) {
          ch.close();
          reject(new DeployError('aborted', `stream to ${path} on ${this.label} aborted`, { host: this.label, cause: signal.reason }));
          return;
        }
        resolve(ch);
      });
    });
  }

  exec(command: string, options: ExecOptions): Promise<ExecOutcome> {
    return new Promise((resolve, reject) => {
      if (this.closed || !this.isOpen()) {
        reject(this.lostError(`cannot run a command on ${this.label}: the connection is closed`));
        return;
      }
      const ok = this.client.exec(command, { pty: options.pty ?? false }, (err, ch) => {
        if (err) {
          reject(
            this.isOpen()
              ? new DeployError('connect-failed', `cannot start a command on ${this.label}: ${err.message}`, { host: this.label, cause: err })
              : this.lostError(`cannot start a command on ${this.label}: the connection was lost`, err),
          );
          return;
        }
        let exitCode: number | null = null;
        let sig: string | null = null;
        const onAbort = (): void => {
          try {
            ch.signal('KILL');
          } catch {
            /* channel already gone */
          }
          ch.close();
          this.expectClose(ch, `a command stopped on ${this.label}`);
        };
        if (options.signal?.aborted) onAbort();
        options.signal?.addEventListener('abort', onAbort, { once: true });
        ch.on('data', (c: Buffer) => options.onStdout?.(c));
        ch.stderr.on('data', (c: Buffer) => options.onStderr?.(c));
        ch.on('exit', (code: number | null, signalName?: string) => {
          if (typeof code === 'number') exitCode = code;
          else if (signalName) sig = signalName;
        });
        ch.on('close', () => {
          options.signal?.removeEventListener('abort', onAbort);
          if (options.signal?.aborted) {
            reject(new DeployError('aborted', `command aborted on ${this.label}: ${command}`, { host: this.label, cause: options.signal.reason }));
            return;
          }
          // No exit status and the connection is gone: the command's fate is unknown.
          if (exitCode === null && sig === null && !this.isOpen()) {
            reject(this.lostError(`the connection to ${this.label} was lost while running: ${command}`));
            return;
          }
          resolve({ exitCode, signal: sig });
        });
        ch.on('error', () => undefined);
        if (options.interact) options.interact(ch);
        else if (Buffer.isBuffer(options.input)) ch.end(options.input);
        else if (options.input) (options.input).pipe(ch);
        else ch.end();
      });
      void ok;
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, s) => {
        if (err) {
          this.sftpSession = undefined;
          reject(new DeployError('transfer-failed', `SFTP is not available on ${this.label}: ${err.message}`, { host: this.label, cause: err }));
          return;
        }
        s.on('close', () => {
          this.sftpSession = undefined;
        });
        // A failing SFTP session fails its pending requests; the next use opens a new one.
        s.on('error', () => {
          this.sftpSession = undefined;
        });
        resolve(s);
      });
    });
    return this.sftpSession;
  }

  async putFile(localPath: string, remotePath: string, mode: number, signal?: AbortSignal, data?: Buffer, onProgress?: (bytes: number) => void): Promise<void> {
    const s = await this.sftp();
    const dest = sftpPath(remotePath);
    const tmp = posix.join(posix.dirname(dest), `.${posix.basename(dest)}.flotilla-${randomBytes(6).toString('hex')}`);
    const call = (fn: (cb: (err?: Error | null) => void) => void): Promise<void> =>
      new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
    const onAbort = (): void => {
      s.end();
      this.expectClose(s, `an upload stopped on ${this.label}`);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (data) await writePipelined(s, tmp, data, mode, signal, onProgress);
      else await call((cb) => s.fastPut(localPath, tmp, { mode, concurrency: 64, chunkSize: 32_768, ...(onProgress ? { step: (done: number) => onProgress(done) } : {}) }, cb));
      if (signal?.aborted) throw new DeployError('aborted', `upload to ${this.label} aborted`, { host: this.label });
      await call((cb) => s.chmod(tmp, mode, cb));
      const ext = (s as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
      if (ext['posix-rename@openssh.com']) await call((cb) => s.ext_openssh_rename(tmp, dest, cb));
      else {
        await call((cb) => s.unlink(dest, cb)).catch(() => undefined);
        await call((cb) => s.rename(tmp, dest, cb));
      }
    } catch (e) {
      if (!signal?.aborted) await call((cb) => s.unlink(tmp, cb)).catch(() => undefined);
      if (signal?.aborted) throw new DeployError('aborted', `upload to ${this.label} aborted`, { host: this.label, cause: e });
      throw new DeployError('transfer-failed', `SFTP upload of ${localPath} to ${this.label}:${remotePath} failed: ${(e as Error).message}`, {
        host: this.label,
        cause: e,
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async getFile(remotePath: string, localPath: string, signal?: AbortSignal): Promise<void> {
    const s = await this.sftp();
    const tmp = `${localPath}.flotilla-${randomBytes(6).toString('hex')}`;
    const onAbort = (): void => {
      s.end();
      this.expectClose(s, `a download stopped on ${this.label}`);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => s.fastGet(sftpPath(remotePath), tmp, { concurrency: 64 }, (err) => (err ? reject(err) : resolve())));
      await rename(tmp, localPath);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new DeployError(signal?.aborted ? 'aborted' : 'transfer-failed', `SFTP download of ${this.label}:${remotePath} failed: ${(e as Error).message}`, {
        host: this.label,
        cause: e,
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  readonly files: RemoteFiles = {
    stat: async (p) => {
      const s = await this.sftp();
      return new Promise((resolve, reject) =>
        s.stat(sftpPath(p), (err, st) => {
          if (!err) return resolve(st.isFile() ? { size: st.size } : null);
          if ((err as { code?: number }).code === 2) return resolve(null);
          reject(this.sftpError('stat', p, err));
        }),
      );
    },
    mkdirExclusive: async (p, mode) => {
      const s = await this.sftp();
      return new Promise((resolve, reject) =>
        s.mkdir(sftpPath(p), { mode }, (err) => {
          if (!err) return resolve(true);
          // SSH_FX_FAILURE (4) is what OpenSSH answers for an existing directory; check it.
          s.stat(sftpPath(p), (e2, st) => (!e2 && st.isDirectory() ? resolve(false) : reject(this.sftpError('mkdir', p, err))));
        }),
      );
    },
    mkdirp: async (p, mode) => {
      const parts = sftpPath(p).split('/');
      let cur = parts[0] === '' ? '' : '.';
      for (const part of parts) {
        if (part === '' || part === '.') continue;
        cur = cur === '' ? `/${part}` : `${cur}/${part}`;
        await this.files.mkdirExclusive(cur, mode);
      }
    },
    createExclusive: async (p, data, mode) => {
      const s = await this.sftp();
      const path = sftpPath(p);
      const open = (): Promise<Buffer | 'exists' | 'noparent'> =>
        new Promise((resolve, reject) =>
          s.open(path, 'wx', { mode }, (err, h) => {
            if (!err) return resolve(h);
            const code = (err as { code?: number }).code;
            if (code === 2) return resolve('noparent');
            // OpenSSH answers SSH_FX_FAILURE for an existing file with O_EXCL; confirm with stat.
            s.stat(path, (e2) => (e2 ? reject(this.sftpError('create', p, err)) : resolve('exists')));
          }),
        );
      let h = await open();
      if (h === 'noparent') {
        await this.files.mkdirp(posix.dirname(path), 0o700);
        h = await open();
      }
      if (h === 'exists') return false;
      if (h === 'noparent') throw this.sftpError('create', p, new Error('no such directory'));
      const handle = h;
      try {
        await new Promise<void>((resolve, reject) => s.write(handle, data, 0, data.length, 0, (err) => (err ? reject(this.sftpError('write', p, err)) : resolve())));
      } finally {
        await new Promise<void>((resolve) => s.close(handle, () => resolve()));
      }
      return true;
    },
    readFile: async (p) => {
      const s = await this.sftp();
      return new Promise((resolve, reject) => s.readFile(sftpPath(p), (err, data) => (err ? reject(this.sftpError('read', p, err)) : resolve(data))));
    },
    writeFile: async (p, data, mode) => {
      const s = await this.sftp();
      await new Promise<void>((resolve, reject) => s.writeFile(sftpPath(p), data, { mode }, (err) => (err ? reject(this.sftpError('write', p, err)) : resolve())));
    },
    remove: async (p, options = {}) => {
      const s = await this.sftp();
      await new Promise<void>((resolve, reject) => {
        const cb = (err: (Error & { code?: number }) | null | undefined): void => (!err || err.code === 2 ? resolve() : reject(this.sftpError('remove', p, err)));
        if (options.rmdir) s.rmdir(sftpPath(p), cb);
        else s.unlink(sftpPath(p), cb);
      });
    },
  };

  private sftpError(op: string, path: string, err: Error): DeployError {
    return new DeployError('transfer-failed', `SFTP ${op} of ${this.label}:${path} failed: ${err.message}`, { host: this.label, cause: err });
  }

  /** Says goodbye and waits for the server to close; one that has not within a second is dropped. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const waits = this.hops.filter((h) => !h.dead).map(
      (h) =>
        new Promise<void>((resolve) => {
          h.client.once('close', () => resolve());
          setTimeout(resolve, RELEASE_GRACE_MS).unref();
        }),
    );
    for (const h of [...this.hops].reverse()) h.client.end();
    return Promise.all(waits).then(() => {
      for (const h of [...this.hops].reverse()) h.client.destroy();
    });
  }
}
