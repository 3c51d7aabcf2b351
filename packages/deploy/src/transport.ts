/**
 * The seam between {@link Connection} and the thing that runs commands: an ssh connection
 * (`adapters/ssh2.ts`, the only module that imports ssh2) or this machine (`local-transport.ts`).
 */
import type { Duplex, Readable, Writable } from 'node:stream';

/** How one command is run by a transport. */
export interface ExecOptions {
  /** Allocate a pseudo-terminal. @default false */
  pty?: boolean;
  /** Bytes or a stream for the command's stdin; stdin is closed when it ends. */
  input?: Buffer | Readable;
  /** Gets the command's stdin instead of `input` (the caller ends it). */
  interact?: (stdin: Writable) => void;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /**
   * Kills the command (SIGKILL where the transport can) and rejects. Over ssh the channel is
   * closed too, and a connection that does not confirm the close within a second is destroyed.
   */
  signal?: AbortSignal;
}

/** How a command ended. */
export interface ExecOutcome {
  exitCode: number | null;
  signal: string | null;
}

/** A way to reach one host. */
export interface Transport {
  readonly kind: 'ssh' | 'local';
  /** Runs a POSIX sh command line in the login directory. */
  exec(command: string, options: ExecOptions): Promise<ExecOutcome>;
  /**
   * Uploads a file atomically (temporary file, mode, rename). Throws `transfer-failed` when the
   * transport's file protocol misbehaves, so the caller can fall back to a streamed copy.
   * `data`, when given, is the file's content already in memory (sent instead of reading the file).
   */
  putFile(localPath: string, remotePath: string, mode: number, signal?: AbortSignal, data?: Buffer, onProgress?: (bytes: number) => void): Promise<void>;
  /** Downloads a file to a local path (written to a temporary name, then renamed). */
  getFile(remotePath: string, localPath: string, signal?: AbortSignal): Promise<void>;
  /**
   * Small file operations without starting a remote process (SFTP requests over ssh). Each
   * throws `transfer-failed` when the file protocol is unavailable, so callers can fall back
   * to a command.
   */
  files: RemoteFiles;
  /**
   * False once the transport's connection has died (closed, reset, keepalive timeout); a
   * {@link Connection} then opens a new transport for its next command. Absent = always open.
   */
  isOpen?(): boolean;
  /**
   * A byte stream to a Unix socket on the host (an absolute path): over ssh the connection's
   * streamlocal forwarding (`direct-streamlocal@openssh.com`, OpenSSH's
   * `AllowStreamLocalForwarding`, on by default), no remote process started; locally a plain
   * connect. Rejects when the host refuses it or nothing listens there. Absent = not supported.
   */
  openUnixSocket?(path: string, signal?: AbortSignal): Promise<Duplex>;
  /**
   * Drops the connection at once, without a goodbye (its sockets destroyed): for a connection
   * whose host stopped answering. Operations in flight on it fail with `connection-lost`, and
   * {@link Transport.isOpen} is false afterwards. Absent = {@link Transport.close} is used.
   */
  destroy?(reason: string): void;
  /** Closes the connection (a host that does not answer the goodbye is dropped after a second). */
  close(): Promise<void>;
}

/** File operations on a host; paths as for commands (`~/x` or relative = login directory). */
export interface RemoteFiles {
  /** Size of a regular file, or `null` when there is none. */
  stat(path: string): Promise<{ size: number } | null>;
  /** Creates one directory; resolves `false` when it already exists. */
  mkdirExclusive(path: string, mode: number): Promise<boolean>;
  /**
   * Creates a file that must not exist yet (O_EXCL) with this content, creating missing parent
   * directories; resolves `false` when the file already exists.
   */
  createExclusive(path: string, data: Buffer, mode: number): Promise<boolean>;
  /** Creates a directory and its parents (no error when they exist). */
  mkdirp(path: string, mode: number): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer, mode: number): Promise<void>;
  /** Removes a file (`rmdir: true`: an empty directory); no error when absent. */
  remove(path: string, options?: { rmdir?: boolean }): Promise<void>;
}
