/** Messages between the main thread and host workers (see pool.ts). */
import type { HostRef, InventoryHost } from '../inventory.js';

/** ssh settings that cross a thread boundary (no functions). */
export interface PortableSshOptions {
  sshConfigFiles?: string[];
  user?: string;
  port?: number;
  identityFiles?: string[];
  acceptNewHostKeys?: boolean;
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  home?: string;
  proxyJump?: string;
  commandTimeoutMs?: number;
  persistMs?: number;
  controlDir?: string;
}

export interface InitData {
  deployfile: string | undefined;
  reserved: string[];
  ssh: PortableSshOptions;
  inventory: InventoryHost[];
}

export type ToWorker =
  | { type: 'task'; id: number; task: string; args: unknown[]; host: HostRef; lock: boolean }
  | { type: 'facts'; id: number; host: HostRef; only?: 'load' }
  | { type: 'answer'; id: number; value?: string; error?: string }
  | { type: 'close' };

export interface PortableError {
  name: string;
  message: string;
  code?: string;
  host?: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'output'; host: string; line: string; stream: 'stdout' | 'stderr' }
  | { type: 'warning'; message: string }
  | { type: 'ask'; id: number; kind: 'sudo' | 'passphrase'; file?: string }
  | { type: 'done'; id: number; value?: unknown; error?: PortableError }
  | { type: 'closed' };
