// Shared harness of the cluster end-to-end suites (cluster-*.test.ts): the built `flo`, a
// store directory, a background `flo controller` stopped by its PID, process-table checks.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstanceView } from '@flotilla/cluster';
import { until as waitUntil } from './wait.js';

const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fromSource = process.env.FLO_E2E_FROM_SOURCE === '1';

export function floArgv(): string[] {
  // tsx resolved here, so flo can run from any working directory
  if (fromSource) return ['--conditions=@flotilla/source', '--import', import.meta.resolve('tsx'), path.join(cliRoot, 'src/main.ts')];
  if (!existsSync(path.join(cliRoot, 'dist/main.js'))) throw new Error('apps/cli/dist/main.js is missing: build the CLI first (npx nx run flotilla:build)');
  return [path.join(cliRoot, 'bin/flo.js')];
}

export interface Flo {
  dir: string;
  /** Runs flo to completion; throws with its output when the exit code is not `expect`. */
  run(args: string[], expectCode?: number): { stdout: string; stderr: string; code: number };
  json<T>(args: string[]): T;
  /** Starts `flo controller` in the background. */
  startController(extra?: string[]): ChildProcess;
  stopController(): Promise<void>;
}

export function makeFlo(common: string[] = []): Flo {
  const dir = mkdtempSync(path.join(tmpdir(), 'flotilla-cluster-e2e-'));
  const store = ['--store', `file://${dir}/store`];
  let controller: ChildProcess | undefined;
  const flo: Flo = {
    dir,
    run(args, expectCode = 0) {
      let stdout = '';
      let stderr = '';
      let code = 0;
      try {
        stdout = execFileSync(process.execPath, [...floArgv(), ...args, ...store, ...common], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
      } catch (e) {
        const err = e as { status?: number; stdout?: string; stderr?: string };
        code = err.status ?? 1;
        stdout = err.stdout ?? '';
        stderr = err.stderr ?? '';
      }
      if (code !== expectCode) throw new Error(`flo ${args.join(' ')} exited ${code} (expected ${expectCode})\n${stdout}\n${stderr}`);
      return { stdout, stderr, code };
    },
    json<T>(args: string[]): T {
      return JSON.parse(flo.run([...args, '-o', 'json']).stdout) as T;
    },
    startController(extra = []) {
      controller = spawn(process.execPath, [...floArgv(), 'controller', '--probe-interval', '1', '--host-grace', '5', ...extra, ...store, ...common], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      return controller;
    },
    async stopController() {
      const c = controller;
      controller = undefined;
      if (c?.exitCode !== null || c.pid === undefined) return;
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGTERM');
      await exited;
    },
  };
  return flo;
}

export function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 90_000): Promise<T> {
  return waitUntil(what, f, { timeoutMs, intervalMs: 250 });
}

/** `user args` of a pid from the real process table, or undefined when it does not exist. */
export function processOf(pid: number): { user: string; args: string } | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'user=', '-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    if (!out) return undefined;
    const [user, ...rest] = out.split(/\s+/);
    return { user: user!, args: rest.join(' ') };
  } catch {
    return undefined;
  }
}

/** `flo get instances -o json` items (the cluster package's view). */
export type InstanceJson = InstanceView;

export function appYaml(options: { replicas: number; artifact: string; env?: Record<string, string>; hosts?: string }): string {
  const env = Object.entries(options.env ?? { GREETING: 'hello' })
    .map(([k, v]) => `${k}: "${v}"`)
    .join(', ');
  return `${options.hosts ?? ''}apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web, labels: {app: web}}
spec:
  replicas: ${options.replicas}
  selector: "app=web"
  updateStrategy: {maxUnavailable: 1, maxSurge: 1}
  template:
    metadata: {labels: {app: web}}
    spec:
      artifact: ${options.artifact}
      command: [node, server.js]
      env: {${env}}
      ports: [{name: http}]
      resources: {cpu: 250m, memory: 64Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 2}
      terminationGracePeriodSeconds: 2
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, port: http}
`;
}

export function write(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
