// Shared harness of the KV end-to-end suites (kv-*.test.ts): real `flo server` processes on
// loopback, each with its own data directory, signalled by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until as waitUntil } from './wait.js';
import { KvClient } from '@flotilla/raft/client';
import { freePorts } from '@flotilla/raft/testing';

const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** `FLO_E2E_FROM_SOURCE=1` runs the CLI from src through tsx (development); CI uses the build. */
const fromSource = process.env.FLO_E2E_FROM_SOURCE === '1';

/** argv prefix that runs `flo`. */
export function floCommand(): string[] {
  if (fromSource) return ['--conditions=@flotilla/source', '--import', 'tsx', path.join(cliRoot, 'src/main.ts')];
  const bin = path.join(cliRoot, 'bin/flo.js');
  if (!existsSync(path.join(cliRoot, 'dist/main.js'))) throw new Error('apps/cli/dist/main.js is missing: build the CLI first (npx nx run flotilla:build)');
  return [bin];
}

export { freePorts } from '@flotilla/raft/testing';

/** A port `p` such that p … p+n-1 are all free on 127.0.0.1 right now (for --dev-cluster). */
export async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const [probe] = await freePorts(1);
    const base = Math.min(probe!, 65535 - n);
    const held: net.Server[] = [];
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const s = net.createServer();
      ok = await new Promise<boolean>((r) => {
        s.once('error', () => r(false));
        s.listen(base + i, '127.0.0.1', () => r(true));
      });
      if (ok) held.push(s);
    }
    for (const s of held) await new Promise((r) => s.close(r));
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

export function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  return waitUntil(what, f, { timeoutMs, intervalMs: 100 });
}

/** Runs `flo …` to completion. */
export function runFlo(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...floCommand(), ...args], { cwd: cliRoot, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

interface MemberProc {
  readonly id: number;
  readonly args: string[];
  readonly clientPort: number;
  readonly peerPort: number;
  proc: ChildProcess | undefined;
  log: string;
}

/** A cluster of `flo server` processes; every member is restartable with its original command. */
export class FloCluster {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'flo-kv-e2e-'));
  readonly members = new Map<number, MemberProc>();
  readonly tickMs: number;
  readonly extraArgs: string[];
  /** Credentials the members require of clients (their `--token-file` and the CA of their `--tls-cert`). */
  readonly auth: { token?: string; ca?: Buffer };

  constructor(options: { tickMs?: number; extraArgs?: string[]; auth?: { token?: string; ca?: Buffer } } = {}) {
    this.tickMs = options.tickMs ?? 50;
    this.extraArgs = options.extraArgs ?? [];
    this.auth = options.auth ?? {};
  }

  /** Starts `n` founding members. */
  async start(n: number): Promise<void> {
    const ports = await freePorts(2 * n);
    const peers = Array.from({ length: n }, (_, i) => `${i + 1}=127.0.0.1:${ports[2 * i + 1]}`).join(',');
    for (let i = 0; i < n; i++) {
      const id = i + 1;
      this.#define(id, ports[2 * i]!, ports[2 * i + 1]!, ['--peers', peers]);
      this.spawn(id);
    }
    await this.waitForLeader();
  }

  /** Adds a member that joins through `--join`. */
  async join(id: number, viaId: number): Promise<void> {
    const [c, p] = await freePorts(2);
    this.#define(id, c!, p!, ['--join', this.url(viaId)]);
    this.spawn(id);
  }

  #define(id: number, clientPort: number, peerPort: number, extra: string[]): void {
    const args = ['server', '--id', String(id), '--listen', `127.0.0.1:${clientPort}`, '--peer-listen', `127.0.0.1:${peerPort}`, '--data', this.dataDir(id), '--tick-ms', String(this.tickMs), ...extra, ...this.extraArgs];
    this.members.set(id, { id, args, clientPort, peerPort, proc: undefined, log: '' });
  }

  dataDir(id: number): string {
    return path.join(this.dir, `m${id}`);
  }

  url(id: number): string {
    return `${this.auth.ca ? 'https' : 'http'}://127.0.0.1:${this.members.get(id)!.clientPort}`;
  }

  urls(): string[] {
    return [...this.members.keys()].map((id) => this.url(id));
  }

  /** (Re)starts a member with exactly its original command. */
  spawn(id: number): ChildProcess {
    const m = this.members.get(id)!;
    const child = spawn(process.execPath, [...floCommand(), ...m.args], { cwd: cliRoot, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => {
      m.log += d.toString();
      if (m.log.length > 200_000) m.log = m.log.slice(-100_000);
    });
    m.proc = child;
    return child;
  }

  /** Waits for a started member's process to exit; resolves with its exit code. */
  exited(id: number): Promise<number | null> {
    const p = this.members.get(id)!.proc!;
    if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
    return new Promise((r) => p.once('exit', (code) => r(code)));
  }

  pid(id: number): number {
    return this.members.get(id)!.proc!.pid!;
  }

  signal(id: number, sig: NodeJS.Signals): void {
    process.kill(this.pid(id), sig);
  }

  async kill(id: number): Promise<void> {
    const m = this.members.get(id)!;
    if (m.proc?.exitCode !== null || m.proc.signalCode !== null) return;
    const done = new Promise((r) => m.proc!.once('exit', r));
    m.proc.kill('SIGKILL');
    await done;
  }

  log(id: number): string {
    return this.members.get(id)?.log ?? '';
  }

  async status(id: number): Promise<{ id: number; leader: number; term: number; appliedIndex: number; revision: number; members: { id: number; learner: boolean }[] }> {
    if (this.auth.token !== undefined || this.auth.ca !== undefined) {
      const c = new KvClient({ endpoints: [this.url(id)], ...this.auth, retryWindowMs: 0, requestTimeoutMs: 2000 });
      try {
        return (await c.status(this.url(id))) as unknown as Awaited<ReturnType<FloCluster['status']>>;
      } finally {
        c.close();
      }
    }
    const res = await fetch(`${this.url(id)}/v1/status`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    return (await res.json()) as Awaited<ReturnType<FloCluster['status']>>;
  }

  /** Waits until the live members among `ids` agree on one leader; returns its id. */
  async waitForLeader(ids: number[] = [...this.members.keys()]): Promise<number> {
    return until('an agreed leader', async () => {
      const leaders = new Set<number>();
      for (const id of ids) leaders.add((await this.status(id)).leader);
      const [l] = [...leaders];
      return leaders.size === 1 && l !== undefined && l !== 0 && ids.includes(l) ? l : undefined;
    });
  }

  client(options: { retryWindowMs?: number; requestTimeoutMs?: number } = {}): KvClient {
    return new KvClient({ endpoints: this.urls(), ...this.auth, retryWindowMs: options.retryWindowMs ?? 30_000, requestTimeoutMs: options.requestTimeoutMs ?? 10_000 });
  }

  async stop(): Promise<void> {
    for (const m of this.members.values()) {
      if (m.proc?.exitCode === null && m.proc.signalCode === null) {
        try {
          process.kill(m.proc.pid!, 'SIGCONT');
        } catch {
          // already gone
        }
        await this.kill(m.id);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
