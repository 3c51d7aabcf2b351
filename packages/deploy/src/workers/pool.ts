/**
 * A pool of host workers (threads). Each host is served by one worker for the whole run
 * (its connection lives there); the main thread keeps the scheduling (groups, batches,
 * max-fail), live output, and the prompts (sudo password and key passphrases are asked once,
 * here, and handed to the worker that needs them).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DeployError, type DeployErrorCode } from '../errors.js';
import type { HostFacts } from '../facts.js';
import type { HostRef } from '../inventory.js';
import type { FromWorker, InitData, PortableError, ToWorker } from './protocol.js';

/** Settings of a {@link HostWorkerPool}. */
export interface HostWorkerPoolOptions extends InitData {
  /** Number of threads. */
  size: number;
  onOutput?: (host: string, line: string, stream: 'stdout' | 'stderr') => void;
  onWarning?: (message: string) => void;
  sudoPassword?: () => Promise<string>;
  passphrase?: (file: string) => Promise<string>;
}

/** The built worker script, when running from the build (workers need plain JS). */
export function workerScript(): string | undefined {
  const url = new URL('./host-worker.js', import.meta.url);
  const path = fileURLToPath(url);
  return path.endsWith('.js') && !path.includes('/src/') && existsSync(path) ? path : undefined;
}

function revive(e: PortableError): Error {
  const err = e.code ? new DeployError(e.code as DeployErrorCode, e.message, e.host === undefined ? {} : { host: e.host }) : new Error(e.message);
  err.name = e.name;
  return err;
}

export class HostWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly assignment = new Map<string, number>();
  private nextId = 0;
  private sudo: Promise<string> | undefined;
  private readonly passphrases = new Map<string, Promise<string>>();

  constructor(
    script: string,
    private readonly options: HostWorkerPoolOptions,
  ) {
    const data: InitData = { deployfile: options.deployfile, reserved: options.reserved, ssh: options.ssh, inventory: options.inventory };
    for (let i = 0; i < options.size; i++) {
      const w = new Worker(script, { workerData: data });
      w.on('message', (m: FromWorker) => this.onMessage(w, m));
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  private onMessage(w: Worker, m: FromWorker): void {
    switch (m.type) {
      case 'output':
        this.options.onOutput?.(m.host, m.line, m.stream);
        return;
      case 'warning':
        this.options.onWarning?.(m.message);
        return;
      case 'ask': {
        let p: Promise<string> | undefined;
        if (m.kind === 'sudo' && this.options.sudoPassword) p = this.sudo ??= this.options.sudoPassword();
        if (m.kind === 'passphrase' && this.options.passphrase && m.file !== undefined) {
          p = this.passphrases.get(m.file);
          if (!p) {
            p = this.options.passphrase(m.file);
            this.passphrases.set(m.file, p);
          }
        }
        const answer = (msg: ToWorker): void => w.postMessage(msg);
        if (!p) answer({ type: 'answer', id: m.id, error: `no ${m.kind === 'sudo' ? 'sudo password' : 'passphrase'} available` });
        else p.then((value) => answer({ type: 'answer', id: m.id, value }), (e: unknown) => answer({ type: 'answer', id: m.id, error: (e as Error).message }));
        return;
      }
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.error) p.reject(revive(m.error));
        else p.resolve(m.value);
        return;
      }
      case 'ready':
      case 'closed':
        return;
    }
  }

  private workerFor(host: string): Worker {
    let i = this.assignment.get(host);
    if (i === undefined) {
      i = this.assignment.size % this.workers.length;
      this.assignment.set(host, i);
    }
    return this.workers[i]!;
  }

  private call(
    host: string,
    msg: { type: 'task'; task: string; args: unknown[]; host: HostRef; lock: boolean } | { type: 'facts'; host: HostRef; only?: 'load' },
  ): Promise<unknown> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workerFor(host).postMessage({ ...msg, id });
    });
  }

  /** Runs a deployfile task on a host in its worker. */
  runTask(task: string, args: unknown[], host: HostRef, lock: boolean): Promise<unknown> {
    return this.call(host.name, { type: 'task', task, args, host, lock });
  }

  /** Gathers a host's facts in its worker. */
  facts(host: HostRef, only?: 'load'): Promise<HostFacts> {
    return this.call(host.name, { type: 'facts', host, ...(only ? { only } : {}) }) as Promise<HostFacts>;
  }

  /** Closes every connection and stops the threads. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage({ type: 'close' } satisfies ToWorker);
            setTimeout(() => void w.terminate(), 10_000).unref();
          }),
      ),
    );
  }
}
