/**
 * The wire format between `flo` processes and the connection daemon (see daemon.ts): frames on
 * a unix socket. A frame is a 4-byte big-endian length of the rest, a 4-byte big-endian length
 * of the JSON header, the header, then raw payload bytes (command output, stdin). Pure.
 */
import { DeployError, HostKeyError, deployErrorCode, type DeployErrorCode } from '../errors.js';
import type { SshOptions, SshTarget } from '../ssh-target.js';

/** Wire version; a daemon and a client of different versions refuse each other. */
export const MUX_VERSION = 1;
/** Largest frame accepted (a bigger one means a confused peer). */
export const MAX_FRAME_BYTES = 16 << 20;
/** Payload bytes per stdin/stdout frame. */
export const CHUNK_BYTES = 64 << 10;

/** ssh settings that affect how a connection is opened (part of its identity in the daemon). */
export interface MuxSshSettings {
  acceptNewHostKeys: boolean;
  keepaliveIntervalMs?: number;
}

/** An error as it crosses the socket. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  host?: string;
  fingerprint?: string;
  keyType?: string;
}

/** Client → daemon. */
export type ToDaemon =
  | { op: 'hello'; version: number; idleMs: number }
  | { op: 'open'; id: number; target: SshTarget; ssh: MuxSshSettings }
  | { op: 'exec'; id: number; target: SshTarget; ssh: MuxSshSettings; command: string; pty: boolean }
  | { op: 'put'; id: number; target: SshTarget; ssh: MuxSshSettings; localPath: string; remotePath: string; mode: number }
  | { op: 'get'; id: number; target: SshTarget; ssh: MuxSshSettings; remotePath: string; localPath: string }
  | { op: 'files'; id: number; target: SshTarget; ssh: MuxSshSettings; method: FileMethod; path: string; mode?: number; rmdir?: boolean }
  | { op: 'stdin'; id: number }
  | { op: 'stdin-end'; id: number }
  | { op: 'cancel'; id: number }
  /** The client gave up on an operation that did not let go: destroy that connection (an older daemon ignores this). */
  | { op: 'drop'; target: SshTarget; ssh: MuxSshSettings; reason: string }
  | { op: 'list'; id: number }
  | { op: 'stop'; id: number };

/** The {@link RemoteFiles} operations the daemon runs for a client. */
export type FileMethod = 'stat' | 'mkdirExclusive' | 'createExclusive' | 'mkdirp' | 'readFile' | 'writeFile' | 'remove';

/** One persisted connection, as `list` reports it. */
export interface MuxConnectionInfo {
  label: string;
  user: string;
  hostName: string;
  port: number;
  open: boolean;
  /** Milliseconds since the connection was last used. */
  idleMs: number;
}

/** Daemon → client. */
export type FromDaemon =
  | { op: 'hello'; version: number; pid: number }
  | { op: 'opened'; id: number }
  | { op: 'stdout'; id: number }
  | { op: 'stderr'; id: number }
  | { op: 'warning'; id: number; message: string }
  | { op: 'exit'; id: number; exitCode: number | null; signal: string | null }
  | { op: 'progress'; id: number; bytes: number }
  | { op: 'done'; id: number; value?: unknown }
  | { op: 'error'; id: number; error: WireError }
  | { op: 'list'; id: number; connections: MuxConnectionInfo[] }
  | { op: 'stopping'; id: number };

/** The identity of a connection in the daemon: every resolved setting that changes how it is opened or checked. */
export function connectionKey(target: SshTarget, ssh: MuxSshSettings): string {
  return JSON.stringify([target, ssh.acceptNewHostKeys, ssh.keepaliveIntervalMs ?? null]);
}

/** The ssh settings of {@link SshOptions} that the daemon needs. */
export function muxSettings(options: SshOptions): MuxSshSettings {
  return { acceptNewHostKeys: options.acceptNewHostKeys === true, ...(options.keepaliveIntervalMs === undefined ? {} : { keepaliveIntervalMs: options.keepaliveIntervalMs }) };
}

/** Serializes an error for the wire. */
export function toWireError(e: unknown): WireError {
  const err = e instanceof Error ? e : new Error(String(e));
  const out: WireError = { name: err.name, message: err.message };
  const d = err as Partial<DeployError> & { fingerprint?: string; keyType?: string };
  if (typeof d.code === 'string') out.code = d.code;
  if (typeof d.host === 'string') out.host = d.host;
  if (typeof d.fingerprint === 'string') out.fingerprint = d.fingerprint;
  if (typeof d.keyType === 'string') out.keyType = d.keyType;
  return out;
}

/** Rebuilds a wire error as the same kind of error (DeployError / HostKeyError with code). */
export function fromWireError(w: WireError): Error {
  // a daemon started by an earlier version may still send a code's UPPER_CASE spelling
  const code = w.code ? (deployErrorCode(w.code) ?? (w.code as DeployErrorCode)) : undefined;
  if ((code === 'host-key-unknown' || code === 'host-key-changed' || code === 'host-key-revoked') && w.fingerprint !== undefined)
    return new HostKeyError(code, w.message, { host: w.host ?? '', fingerprint: w.fingerprint, keyType: w.keyType ?? '' });
  if (code) return new DeployError(code, w.message, w.host === undefined ? {} : { host: w.host });
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Encodes one frame. */
export function encodeFrame(header: ToDaemon | FromDaemon, payload?: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const p = payload ?? Buffer.alloc(0);
  const out = Buffer.allocUnsafe(8 + h.length + p.length);
  out.writeUInt32BE(4 + h.length + p.length, 0);
  out.writeUInt32BE(h.length, 4);
  h.copy(out, 8);
  p.copy(out, 8 + h.length);
  return out;
}

/** A malformed frame: the peer is not speaking this protocol (or a different version of it). */
export class FrameError extends Error {
  override name = 'FrameError';
}

/** Splits a byte stream into frames; keeps partial frames between pushes. */
export class FrameReader<T> {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns every frame now complete, in order. Throws {@link FrameError} on a malformed frame. */
  push(chunk: Buffer): { header: T; payload: Buffer }[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: { header: T; payload: Buffer }[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len < 4 || len > MAX_FRAME_BYTES) throw new FrameError(`bad frame length ${len}`);
      if (this.buf.length < 4 + len) break;
      const hlen = this.buf.readUInt32BE(4);
      if (hlen > len - 4) throw new FrameError(`bad header length ${hlen} in a frame of ${len} bytes`);
      let header: T;
      try {
        header = JSON.parse(this.buf.toString('utf8', 8, 8 + hlen)) as T;
      } catch (e) {
        throw new FrameError(`bad frame header: ${(e as Error).message}`);
      }
      if (typeof header !== 'object' || header === null || typeof (header as { op?: unknown }).op !== 'string') throw new FrameError('frame header without an op');
      // Copy the payload out so the (possibly large) buffer behind it is not kept alive.
      frames.push({ header, payload: Buffer.from(this.buf.subarray(8 + hlen, 4 + len)) });
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}
