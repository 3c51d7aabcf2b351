/**
 * Turns the deploy options of a command line into @flotilla/deploy settings: host selection,
 * inventory, ssh options, group policy, sudo password and live output. Loads
 * @flotilla/deploy (and, through it, ssh2 only when a connection opens).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type * as Deploy from '@flotilla/deploy';
import type { HostWorkerPool } from '@flotilla/deploy/workers';
import type { Connection, GroupOptions, GroupResult, HostRef, HostSelection, InventoryHost, SshOptions, SudoPassword } from '@flotilla/deploy';
import { UsageError } from './args.js';
import type { CommandContext } from './registry.js';
import { colorsFor, type Colors } from '../output/colors.js';
import { isDocumentFormat, printDocument, type OutputFormat } from '../output/format.js';
import { Progress } from '../output/progress.js';

/** The formats of a group run's summary (run, put, download, tasks): `-o json|yaml` add each host's output. */
export const summaryFormats: readonly OutputFormat[] = ['text', 'json', 'yaml'];

function list(v: string | boolean | string[] | undefined): string[] {
  if (v === undefined || typeof v === 'boolean') return [];
  const arr = Array.isArray(v) ? v : [v];
  return arr.flatMap((x) => x.split(',')).map((s) => s.trim()).filter(Boolean);
}

function int(name: string, v: string | boolean | string[] | undefined, min: number): number | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v;
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UsageError(`--${name} ${s}: expected an integer >= ${min}`);
  return Number(s);
}

function seconds(name: string, v: string | boolean | string[] | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v;
  if (!/^\d+(\.\d+)?$/.test(s)) throw new UsageError(`--${name} ${s}: expected seconds`);
  return Math.round(Number(s) * 1000);
}

/** `--persist` / `$FLO_PERSIST`: `0`, `off`, `no`, or a number with an optional unit (s, m, h; default s). */
export function persistDuration(v: string | undefined, from: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^(0|off|no|false)$/i.test(v)) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`${from} ${v}: expected a duration such as 30s, 10m or 1h (or 0 for off)`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return ms > 0 ? Math.round(ms) : undefined;
}

/** Reads one line from a stream (the sudo password on stdin). */
function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer | string): void => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        done();
        resolve(buf.slice(0, nl).replace(/\r$/, ''));
      }
    };
    const onEnd = (): void => {
      done();
      if (buf) resolve(buf);
      else reject(new Error('stdin ended before a password was read'));
    };
    const done = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.resume();
  });
}

/** Asks for a secret on the terminal without echo. */
async function askHidden(ctx: CommandContext, prompt: string): Promise<string> {
  const stdin = ctx.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY) throw new Error(`${prompt.trim()} needed, but stdin is not a terminal`);
  ctx.stderr.write(prompt);
  stdin.setRawMode(true);
  try {
    let s = '';
    for (;;) {
      const chunk = await new Promise<string>((resolve) => {
        stdin.once('data', (c: Buffer) => resolve(c.toString('utf8')));
        stdin.resume();
      });
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          ctx.stderr.write('\n');
          return s;
        }
        if (ch === '\u0003') throw new Error('interrupted');
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    }
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

export interface DeploySetup {
  deploy: typeof Deploy;
  selection: HostSelection;
  inventory: InventoryHost[];
  ssh: SshOptions & { sudoPassword?: SudoPassword; commandTimeoutMs?: number };
  group: GroupOptions;
  colors: Colors;
  errColors: Colors;
  format: OutputFormat;
  progress: Progress;
  /**
   * Writes one output line of a host: with text output, its stdout lines to stdout and its
   * stderr lines to stderr, prefixed with the host; with `-o json|yaml`, stderr lines still go
   * to stderr, and both are kept for the summary (each host's `stdout` and `stderr`).
   */
  hostLine: (host: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** Each host's output lines so far (kept with `-o json|yaml` only). */
  hostOutput: Map<string, { stdout: string[]; stderr: string[] }>;
  log: (line: string) => void;
  /** Resolves the selection (empty selection = every inventory host when `allIfEmpty`). */
  hosts: (options?: { allIfEmpty?: boolean }) => HostRef[];
  connect: (ref: HostRef) => Connection;
  /** Closes every connection opened through {@link DeploySetup.connect}. */
  close: () => Promise<void>;
  /** A pool of host worker threads for `hostCount` hosts, or undefined to work in this thread. */
  pool: (hostCount: number, deployfile?: string) => HostWorkerPool | undefined;
}

export async function deploySetup(ctx: CommandContext, format: OutputFormat): Promise<DeploySetup> {
  const o = ctx.args.options;
  // the worker pool and the connection daemon's client are sub-paths of their own (plumbing)
  const [deploy, mux, workers] = await Promise.all([import('@flotilla/deploy'), import('@flotilla/deploy/mux'), import('@flotilla/deploy/workers')]);
  const colors = colorsFor(ctx.stdout, ctx.env);
  const errColors = colorsFor(ctx.stderr, ctx.env);
  const selection: HostSelection = {
    hosts: list(o.hosts),
    roles: list(o.roles),
    ...(typeof o.selector === 'string' ? { selector: o.selector } : {}),
  };
  if (typeof o.selector === 'string') {
    try {
      deploy.selectHosts([], { selector: o.selector });
    } catch (e) {
      throw new UsageError(`-l: ${(e as Error).message}`);
    }
  }
  const persistMs = typeof o.persist === 'string' ? persistDuration(o.persist, '--persist') : persistDuration(ctx.env.FLO_PERSIST, 'FLO_PERSIST=');
  const controlDir = ctx.env.FLO_CONTROL_DIR || undefined;
  // Reach (or start) the connection daemon while the inventory is read.
  if (persistMs !== undefined) mux.warmConnectionDaemon({ persistMs, ...(controlDir ? { controlDir } : {}) });
  const invFile = typeof o.inventory === 'string' ? o.inventory : 'hosts.yaml';
  const inventory = deploy.loadInventory(resolve(ctx.cwd, invFile), { required: typeof o.inventory === 'string' });
  const structured = isDocumentFormat(format);
  const progress = new Progress(ctx.stderr, errColors, ctx.stderr.isTTY === true && !structured);
  const log = (line: string): void => {
    progress.clear();
    ctx.stderr.write(`${line}\n`);
    progress.render();
  };
  let sudoPassword: SudoPassword;
  if (o['sudo-password-stdin']) sudoPassword = new deploy.SudoPassword(() => readLine(ctx.stdin));
  else sudoPassword = new deploy.SudoPassword(() => askHidden(ctx, '[sudo] password for remote hosts: '));
  const port = int('port', o.port, 1);
  const parallel = int('parallel', o.parallel, 1);
  const timeoutMs = seconds('timeout', o.timeout);
  const connectTimeoutMs = seconds('connect-timeout', o['connect-timeout']);
  if (timeoutMs === 0) throw new UsageError('--timeout 0: expected a positive number of seconds');
  if (connectTimeoutMs === 0) throw new UsageError('--connect-timeout 0: expected a positive number of seconds');
  const ssh: DeploySetup['ssh'] = {
    ...(typeof o['ssh-config'] === 'string' ? { sshConfigFiles: [resolve(ctx.cwd, o['ssh-config'])] } : {}),
    ...(typeof o.user === 'string' ? { user: o.user } : {}),
    ...(port === undefined ? {} : { port }),
    ...(Array.isArray(o.identity) ? { identityFiles: o.identity.map((f) => resolve(ctx.cwd, f)) } : {}),
    acceptNewHostKeys: o['accept-new-host-keys'] === true,
    passphrase: (file: string) => askHidden(ctx, `passphrase for ${file}: `),
    onWarning: (m: string) => log(errColors.yellow(m)),
    sudoPassword,
    ...(timeoutMs === undefined ? {} : { commandTimeoutMs: timeoutMs }),
    ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
    ...(persistMs === undefined ? {} : { persistMs }),
    ...(controlDir ? { controlDir } : {}),
  };
  let batch: GroupOptions['batch'];
  let maxFail: GroupOptions['maxFail'];
  try {
    if (typeof o.batch === 'string') batch = deploy.parseCountOrPercent('--batch', o.batch);
    if (typeof o['max-fail'] === 'string') maxFail = deploy.parseCountOrPercent('--max-fail', o['max-fail']);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (o.serial && parallel !== undefined) throw new UsageError('--serial and --parallel exclude each other');
  const batchWaitMs = seconds('batch-wait', o['batch-wait']);
  const connections = new Map<string, Connection>();
  const hostOutput = new Map<string, { stdout: string[]; stderr: string[] }>();
  const hostLine = (host: string, line: string, stream: 'stdout' | 'stderr'): void => {
    if (structured) {
      let kept = hostOutput.get(host);
      if (!kept) hostOutput.set(host, (kept = { stdout: [], stderr: [] }));
      kept[stream].push(line);
      if (stream === 'stdout') return;
    }
    const text = `${(stream === 'stdout' ? colors : errColors).host(host)}: ${line}`;
    progress.clear();
    if (stream === 'stdout') ctx.stdout.write(`${text}\n`);
    else ctx.stderr.write(`${text}\n`);
    progress.render();
  };
  const connect = (ref: HostRef): Connection => {
    let c = connections.get(ref.name);
    if (!c) {
      c = deploy.connectHost(ref, { ...ssh, onOutput: (line, stream) => hostLine(ref.name, line, stream) });
      connections.set(ref.name, c);
    }
    return c;
  };
  const healthCheck = typeof o['health-check'] === 'string' ? o['health-check'] : undefined;
  const group: GroupOptions = {
    ...(parallel === undefined ? {} : { parallel }),
    ...(o.serial ? { serial: true } : {}),
    ...(batch === undefined ? {} : { batch }),
    ...(maxFail === undefined ? {} : { maxFail }),
    ...(batchWaitMs === undefined ? {} : { batchWaitMs }),
    ...(healthCheck
      ? {
          healthCheck: async (results) => {
            for (const r of results) {
              if (r.status !== 'ok') continue;
              const c = connections.get(r.host);
              if (c) await c.run(healthCheck, { hide: true });
            }
          },
        }
      : {}),
    ...(batch === undefined
      ? {}
      : {
          onBatch: (index: number, hosts: string[]) => {
            if (!structured && !ctx.stderr.isTTY) log(`batch ${index + 1}: ${hosts.join(', ')}`);
            progress.onBatch(index, hosts.length);
          },
        }),
    onHostDone: (r) => {
      progress.hostDone();
      // On a terminal, say at once when a host fails; the summary repeats it at the end.
      if (r.status !== 'ok' && ctx.stderr.isTTY && !structured) log(`${errColors.host(r.host)}: ${errColors.red(r.status)}: ${r.error?.message ?? ''}`);
    },
  };
  const hosts = (opts: { allIfEmpty?: boolean } = {}): HostRef[] => {
    if (deploy.isEmptySelection(selection)) {
      if (opts.allIfEmpty) return inventory.map((h) => ({ name: h.name, inventory: h }));
      throw new UsageError('no hosts selected: use -H host1,host2, -R role or -l <selector>');
    }
    const refs = deploy.selectHosts(inventory, selection);
    if (refs.length === 0) throw new UsageError('no hosts selected: the selection matched no inventory host');
    return refs;
  };
  const threadsOpt = int('threads', o.threads, 1);
  let pool: HostWorkerPool | undefined;
  const makePool = (hostCount: number, deployfile?: string): HostWorkerPool | undefined => {
    const script = workers.workerScript();
    // Threads pay off only when one thread's crypto and copies are the bottleneck; opt in.
    const threads = Math.min(threadsOpt ?? 1, Math.max(1, hostCount), availableParallelism() * 2);
    if (!script || threads <= 1) return undefined;
    pool = new workers.HostWorkerPool(script, {
      size: threads,
      deployfile,
      reserved: [...ctx.reserved],
      inventory,
      ssh: {
        ...(ssh.sshConfigFiles ? { sshConfigFiles: ssh.sshConfigFiles } : {}),
        ...(ssh.user === undefined ? {} : { user: ssh.user }),
        ...(ssh.port === undefined ? {} : { port: ssh.port }),
        ...(ssh.identityFiles ? { identityFiles: ssh.identityFiles } : {}),
        acceptNewHostKeys: ssh.acceptNewHostKeys === true,
        ...(ssh.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: ssh.commandTimeoutMs }),
        ...(ssh.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: ssh.connectTimeoutMs }),
        ...(ssh.persistMs === undefined ? {} : { persistMs: ssh.persistMs }),
        ...(ssh.controlDir === undefined ? {} : { controlDir: ssh.controlDir }),
      },
      onOutput: hostLine,
      onWarning: (m) => log(errColors.yellow(m)),
      sudoPassword: () => sudoPassword.get(),
      passphrase: (file) => askHidden(ctx, `passphrase for ${file}: `),
    });
    return pool;
  };
  const close = async (): Promise<void> => {
    await Promise.all([...connections.values()].map((c) => c.close()));
    await pool?.close();
  };
  return { deploy, selection, inventory, ssh, group, colors, errColors, format, progress, hostLine, hostOutput, log, hosts, connect, close, pool: makePool };
}

/**
 * `--list-hosts`: prints the hosts each group would run on, as Ansible's `--list-hosts` does
 * (`  hosts (2):` then one name per line; with a title per task), closes the setup without
 * having connected, and resolves to exit code 0. Resolves to `undefined` without the option.
 */
export async function listHostsIfAsked(ctx: CommandContext, setup: Pick<DeploySetup, 'close'>, groups: readonly { title?: string; names: readonly string[] }[]): Promise<number | undefined> {
  if (ctx.args.options['list-hosts'] !== true) return undefined;
  const lines: string[] = [];
  for (const g of groups) {
    const indent = g.title === undefined ? '  ' : '    ';
    if (g.title !== undefined) lines.push(`  ${g.title}:`);
    lines.push(`${indent}hosts (${g.names.length}):`, ...g.names.map((n) => `${indent}  ${n}`));
  }
  ctx.stdout.write(`${lines.join('\n')}\n`);
  await setup.close();
  return 0;
}

/**
 * What `run`, `put` and `download` share: select the hosts (`--list-hosts` lists them and
 * stops), start the progress, run the operation on every host under the group policy (batch,
 * max-fail), print the summary and close the connections. `prepare` runs once, after the
 * progress starts, and returns the operation of one host.
 */
export async function runOnSelectedHosts<T>(
  ctx: CommandContext,
  format: OutputFormat,
  prepare: (s: DeploySetup, refs: readonly HostRef[]) => ((ref: HostRef) => Promise<T>) | Promise<(ref: HostRef) => Promise<T>>,
): Promise<number> {
  const s = await deploySetup(ctx, format);
  const refs = s.hosts();
  const listed = await listHostsIfAsked(ctx, s, [{ names: refs.map((r) => r.name) }]);
  if (listed !== undefined) return listed;
  try {
    s.progress.start(refs.length);
    const each = await prepare(s, refs);
    const result = await s.deploy.runOnHosts(
      refs.map((r) => r.name),
      (_h, i) => each(refs[i]!),
      s.group,
    );
    return await finishRun(ctx, s, [result]);
  } finally {
    await s.close();
  }
}

/**
 * Prints the per-host summary: with `-o json|yaml` one document on stdout (DESIGN's
 * `{"hosts":[{"host","status","durationMs","error"?}]}` plus each host's `stdout` and
 * `stderr`), else a table on stderr. Returns the exit code.
 */
export async function finishRun(ctx: CommandContext, setup: DeploySetup, results: GroupResult[]): Promise<number> {
  const { summarize, formatSummary } = await import('../output/summary.js');
  setup.progress.finish();
  const s = summarize(results);
  if (isDocumentFormat(setup.format)) {
    for (const h of s.hosts) {
      const kept = setup.hostOutput.get(h.host);
      h.stdout = kept ? kept.stdout.map((l) => `${l}\n`).join('') : '';
      h.stderr = kept ? kept.stderr.map((l) => `${l}\n`).join('') : '';
    }
    await printDocument(ctx, setup.format, s);
  } else ctx.stderr.write(formatSummary(s, setup.errColors));
  return s.hosts.every((h) => h.status === 'ok') ? 0 : 1;
}
