/**
 * Running a long-lived command on a host. Where the host has systemd, a `systemd-run`
 * transient unit; otherwise a supervisor written in POSIX sh: it writes its own pid and the
 * command's pid to files, appends the command's output to a log file, restarts the command
 * with exponential backoff (1 s doubling to 30 s, reset after 30 s of uptime), and on stop sends
 * SIGTERM, then SIGKILL after the grace period.
 *
 * Files of the sh supervisor, in `~/.flotilla/services/<name>/`: `supervisor.pid`, `pid` (the
 * command's own pid, rewritten after each restart), `log`, `restarts`, `state`
 * (`running` | `backoff` | `exited` | `stopped`), and `ports` (the service's named ports as
 * JSON, when {@link ServiceOptions.ports} gave them). This module is the only one that reads or
 * writes them: {@link observeServices}, {@link signalService}, {@link removeService} and
 * {@link serviceLogPath} are how other layers (the cluster's runtime) see a service.
 */
import type { Connection } from './connection.js';
import { DeployError, badOption } from './errors.js';
import { quotePath, shellQuote } from './quote.js';

/**
 * The POSIX sh supervisor: `flotilla-supervise DIR GRACE_SECONDS RESTART COMMAND [LOG_MAX_BYTES]`.
 * The command's output goes to `DIR/log`; once that passes LOG_MAX_BYTES (default 10 MiB, as
 * the kubelet's containerLogMaxSize; 0: never) it is rotated to `DIR/log.1` (the one before
 * is dropped), checked every 2 s, by copy and truncate (logrotate's copytruncate: the command
 * keeps its file open and appends; a line written between the copy and the truncate is lost).
 */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;

/**
 * The restart step both supervisors share (this one and the container supervisor,
 * `image/container-sh.ts`): count the restart, say "backoff", sleep `delay` seconds in a way
 * `stop` can interrupt, then double the delay up to 30 s.
 */
export const RESTART_BACKOFF_SH = `  restarts=$((restarts + 1)); echo "$restarts" > "$dir/restarts"
  echo backoff > "$dir/state"
  sleep "$delay" & sleeper=$!; wait "$sleeper"; sleeper=
  [ "$stopping" = 1 ] && stop
  delay=$((delay * 2)); [ "$delay" -gt 30 ] && delay=30
`;

export const SUPERVISOR_SCRIPT = `#!/bin/sh
# flotilla-supervise DIR GRACE_SECONDS always|on-failure|never COMMAND [LOG_MAX_BYTES]
dir=$1; grace=$2; policy=$3; cmd=$4; logmax=\${5:-${LOG_MAX_BYTES}}
child=; sleeper=; rotator=; stopping=0; restarts=0; delay=1
printf '%s\\n' "$$" > "$dir/supervisor.pid.tmp" && mv -f "$dir/supervisor.pid.tmp" "$dir/supervisor.pid"
echo 0 > "$dir/restarts"
if [ "$logmax" -gt 0 ] 2>/dev/null; then
  ( trap - TERM INT; while kill -0 $$ 2>/dev/null; do
      sleep 2 2>/dev/null || sleep 1
      n=$(wc -c < "$dir/log" 2>/dev/null) || continue
      if [ "$n" -gt "$logmax" ]; then cp "$dir/log" "$dir/log.1" && : > "$dir/log"; fi
    done ) </dev/null >/dev/null 2>&1 &
  rotator=$!
fi
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop() {
  stopping=1
  [ -n "$rotator" ] && kill "$rotator" 2>/dev/null
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  if alive "$child"; then
    kill -TERM "$child" 2>/dev/null
    i=0
    while alive "$child" && [ "$i" -lt $((grace * 10)) ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
    if alive "$child"; then
      echo "flotilla-supervise: pid $child still running after \${grace}s; sending SIGKILL" >> "$dir/log"
      kill -KILL "$child" 2>/dev/null
    fi
    wait "$child" 2>/dev/null
  fi
  rm -f "$dir/pid" "$dir/supervisor.pid"
  echo stopped > "$dir/state"
  exit 0
}
trap stop TERM INT
trap '' HUP
while :; do
  started=$(date +%s)
  sh -c "$cmd" >> "$dir/log" 2>&1 < /dev/null &
  child=$!
  printf '%s\\n' "$child" > "$dir/pid.tmp" && mv -f "$dir/pid.tmp" "$dir/pid"
  echo running > "$dir/state"
  wait "$child"; status=$?
  [ "$stopping" = 1 ] && stop
  child=
  echo "flotilla-supervise: command exited with status $status" >> "$dir/log"
  case "$policy" in
    never) break ;;
    on-failure) [ "$status" -eq 0 ] && break ;;
  esac
  [ $(( $(date +%s) - started )) -ge 30 ] && delay=1
${RESTART_BACKOFF_SH}done
[ -n "$rotator" ] && kill "$rotator" 2>/dev/null
rm -f "$dir/pid" "$dir/supervisor.pid"
echo exited > "$dir/state"
`;

/** How to run a service. */
export interface ServiceOptions {
  /** Service name: letters, digits, `.`, `_`, `-`. */
  name: string;
  /** A sh command line. A simple command is `exec`-ed so the recorded pid is the program's own. */
  command: string;
  /** Working directory (relative to the login directory). @default the login directory */
  cwd?: string;
  env?: Record<string, string>;
  /** @default 'always' */
  restart?: 'always' | 'on-failure' | 'never';
  /** Seconds between SIGTERM and SIGKILL on stop. @default 10 */
  gracePeriodSeconds?: number;
  /** The sh supervisor rotates the output log (`log` → `log.1`) past this size; 0 never (systemd: journald's own rotation). @default {@link LOG_MAX_BYTES} (10 MiB) */
  logMaxBytes?: number;
  /** `auto` uses systemd-run where the host runs systemd, else the sh supervisor. @default 'auto' */
  runtime?: 'auto' | 'systemd' | 'supervisor';
  /**
   * Under systemd, what a stop kills: the whole unit (`control-group`, systemd's default) or
   * only the main process (`process`) — for a service whose own children must outlive it (an
   * agent and the instances it started). The sh supervisor signals only the command.
   * @default 'control-group'
   */
  killMode?: 'control-group' | 'process';
  /**
   * The service's named ports, kept beside it (the sh supervisor's `ports` file) so that
   * {@link observeServices} reports them; the command learns them from `env`. Supervisor
   * runtime only. @default none
   */
  ports?: Record<string, number>;
}

/** The state of a service (a supervised command) on a host. */
export interface HostServiceStatus {
  name: string;
  runtime: 'systemd' | 'supervisor';
  running: boolean;
  /** The command's own pid (not the supervisor's). */
  pid: number | null;
  supervisorPid: number | null;
  restarts: number;
  state: string;
  /**
   * The ports recorded for the service on the host (supervisor runtime, when `startService` was
   * given `ports`): those its running process was started with. A `startService` that finds
   * the service already running leaves them as they are and returns them here.
   */
  ports?: Record<string, number>;
}

/** @deprecated Renamed {@link HostServiceStatus} (issue 18: `ServiceStatus` is also `@flotilla/cluster`'s Service resource status). */
export type ServiceStatus = HostServiceStatus;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function dirOf(name: string): string {
  return `"$HOME"/.flotilla/services/${shellQuote(name)}`;
}

function commandLine(command: string): string {
  return /[;&|\n<>()`$]|^\s*(exec|cd|export)\b/.test(command) ? command : `exec ${command}`;
}

/**
 * Whether transient units will outlive this ssh session: systemd runs the host, and either the
 * user is root (system manager) or the user's own manager lingers (`loginctl enable-linger`) —
 * without lingering, systemd stops a user's manager, and every unit in it, at logout.
 */
export const SYSTEMD_PROBE =
  'command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ] && ' +
  '{ [ "$(id -u)" = 0 ] || { loginctl show-user "$(id -un)" -p Linger 2>/dev/null | grep -qx Linger=yes && systemctl --user show-environment >/dev/null 2>&1; }; }';

async function hasSystemd(c: Connection): Promise<boolean> {
  const r = await c.run(SYSTEMD_PROBE, { hide: true, warn: true });
  return r.exitCode === 0;
}

const SYSTEMCTL = 'if [ "$(id -u)" = 0 ]; then sc=systemctl; sr=systemd-run; else sc="systemctl --user"; sr="systemd-run --user"; fi';

/** Starts a service (no-op when it is already running). Returns its status. */
export async function startService(c: Connection, options: ServiceOptions): Promise<HostServiceStatus> {
  if (typeof options.name !== 'string' || !NAME.test(options.name)) badOption('name', 'a name of letters, digits, ".", "_" and "-"', options.name);
  if (typeof options.command !== 'string' || options.command.trim() === '') badOption('command', 'a non-empty sh command line', options.command);
  const grace = options.gracePeriodSeconds ?? 10;
  if (!Number.isInteger(grace) || grace < 0) badOption('gracePeriodSeconds', 'an integer >= 0', grace);
  if (options.logMaxBytes !== undefined && (!Number.isInteger(options.logMaxBytes) || options.logMaxBytes < 0)) badOption('logMaxBytes', 'an integer number of bytes >= 0 (0: never rotate)', options.logMaxBytes);
  const restart = options.restart ?? 'always';
  const runtime = options.runtime === 'auto' || options.runtime === undefined ? ((await hasSystemd(c)) ? 'systemd' : 'supervisor') : options.runtime;
  let env = '';
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) badOption('env key', 'a shell variable name', k);
    env += `export ${k}=${shellQuote(v)}; `;
  }
  const cmd = env + commandLine(options.command);
  const cd = options.cwd === undefined ? '' : `cd ${quotePath(options.cwd)} && `;
  if (runtime === 'systemd') {
    const unit = `flotilla-${options.name}`;
    const sysRestart = restart === 'always' ? 'always' : restart === 'on-failure' ? 'on-failure' : 'no';
    await c.run(
      `${SYSTEMCTL}; ${cd}$sc is-active --quiet ${unit} || $sr --unit=${unit} --collect --working-directory="$(pwd)" ` +
        `-p Restart=${sysRestart} -p RestartSec=1 -p TimeoutStopSec=${grace}${options.killMode === 'process' ? ' -p KillMode=process' : ''} -- sh -c ${shellQuote(cmd)} >/dev/null`,
      { hide: true },
    );
    return serviceStatus(c, options.name, 'systemd');
  }
  const dir = dirOf(options.name);
  const script = '"$HOME"/.flotilla/bin/flotilla-supervise';
  await c.run(`mkdir -p "$HOME"/.flotilla/bin ${dir}`, { hide: true });
  await c.writeFile('~/.flotilla/bin/flotilla-supervise', SUPERVISOR_SCRIPT, { mode: 0o755 });
  await c.run(
    [
      `dir=${dir}`,
      'if [ -f "$dir/supervisor.pid" ] && kill -0 "$(cat "$dir/supervisor.pid")" 2>/dev/null; then exit 0; fi',
      // The ports go with the process that is started here: a service already running keeps
      // the ones it was started with (serviceStatus reports them).
      ...(options.ports !== undefined ? [`printf '%s' ${shellQuote(JSON.stringify(options.ports))} > "$dir/ports"`] : []),
      'rm -f "$dir/pid" "$dir/supervisor.pid"',
      `${cd}{ if command -v setsid >/dev/null 2>&1; then s=setsid; else s=; fi; ` +
        `nohup $s sh ${script} "$dir" ${grace} ${restart} ${shellQuote(cmd)} ${options.logMaxBytes ?? LOG_MAX_BYTES} >/dev/null 2>&1 </dev/null & }`,
      'i=0; while [ ! -s "$dir/pid" ] && [ $i -lt 100 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done',
    ].join('\n'),
    { hide: true },
  );
  return serviceStatus(c, options.name, 'supervisor');
}

/** A service's status (supervisor files, or systemd's MainPID). */
export async function serviceStatus(c: Connection, name: string, runtime?: 'systemd' | 'supervisor'): Promise<HostServiceStatus> {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a service name', name);
  const rt = runtime ?? ((await hasSystemd(c)) ? 'systemd' : 'supervisor');
  if (rt === 'systemd') {
    const r = await c.run(`${SYSTEMCTL}; $sc show -p MainPID -p ActiveState -p NRestarts flotilla-${name} 2>/dev/null || true`, { hide: true });
    const prop = (k: string): string => new RegExp(`^${k}=(.*)$`, 'm').exec(r.stdout)?.[1] ?? '';
    const pid = Number(prop('MainPID')) || null;
    const state = prop('ActiveState') || 'inactive';
    return { name, runtime: 'systemd', running: state === 'active', pid, supervisorPid: null, restarts: Number(prop('NRestarts')) || 0, state };
  }
  const dir = dirOf(name);
  const r = await c.run(
    `dir=${dir}; for f in supervisor.pid pid restarts state ports; do v=$(cat "$dir/$f" 2>/dev/null); printf '%s=%s\\n' "$f" "$v"; done; ` +
      `sp=$(cat "$dir/supervisor.pid" 2>/dev/null); if [ -n "$sp" ] && kill -0 "$sp" 2>/dev/null; then echo alive=1; fi; ` +
      `p=$(cat "$dir/pid" 2>/dev/null); if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then echo childAlive=1; fi`,
    { hide: true },
  );
  const prop = (k: string): string => new RegExp(`^${k}=(.*)$`, 'm').exec(r.stdout)?.[1] ?? '';
  const alive = prop('alive') === '1';
  const childAlive = prop('childAlive') === '1';
  const ports = recordedPorts(prop('ports'));
  return {
    name,
    runtime: 'supervisor',
    running: alive && childAlive,
    pid: childAlive ? Number(prop('pid')) || null : null,
    supervisorPid: alive ? Number(prop('supervisor.pid')) || null : null,
    restarts: Number(prop('restarts')) || 0,
    state: alive ? prop('state') || 'unknown' : prop('state') || 'absent',
    ...(ports ? { ports } : {}),
  };
}

/** The `ports` file's `{"name": number}` object; undefined when absent or not such an object. */
function recordedPorts(text: string): Record<string, number> | undefined {
  if (text === '') return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const entries = Object.entries(v as Record<string, unknown>);
    if (!entries.every(([, p]) => Number.isInteger(p))) return undefined;
    return Object.fromEntries(entries) as Record<string, number>;
  } catch {
    return undefined;
  }
}

/** Stops a service: SIGTERM, then SIGKILL after the grace period; waits until it is gone. */
export async function stopService(c: Connection, name: string, options: { gracePeriodSeconds?: number; runtime?: 'systemd' | 'supervisor' } = {}): Promise<void> {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a service name', name);
  const rt = options.runtime ?? ((await hasSystemd(c)) ? 'systemd' : 'supervisor');
  if (rt === 'systemd') {
    await c.run(`${SYSTEMCTL}; $sc stop flotilla-${name} 2>/dev/null || true`, { hide: true });
    return;
  }
  const limit = (options.gracePeriodSeconds ?? 10) + 10;
  const r = await c.run(
    [
      `dir=${dirOf(name)}`,
      'sp=$(cat "$dir/supervisor.pid" 2>/dev/null)',
      '[ -n "$sp" ] || exit 0',
      'kill -TERM "$sp" 2>/dev/null || exit 0',
      `i=0; while kill -0 "$sp" 2>/dev/null && [ $i -lt ${limit * 10} ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done`,
      'if kill -0 "$sp" 2>/dev/null; then p=$(cat "$dir/pid" 2>/dev/null); kill -KILL "$sp" $p 2>/dev/null; echo forced; fi',
    ].join('\n'),
    { hide: true },
  );
  if (r.stdout.includes('forced')) throw new DeployError('service', `${c.host}: supervisor of ${name} did not stop; killed it`, { host: c.host });
}

/** What {@link observeServices} sees of one sh-supervised service. */
export interface ObservedService {
  /** `running`: its supervisor is alive (the command may be in its restart backoff, without a pid); `exited`: the supervisor ended; `absent`: no such service. */
  state: 'running' | 'exited' | 'absent';
  /** The command's own pid, when it is alive. */
  pid?: number;
  restarts: number;
  /** The status the command last exited with (`exited` only). */
  exitCode?: number;
  /** The named ports it was started with ({@link ServiceOptions.ports}). */
  ports?: Record<string, number>;
}

/** The state of several sh-supervised services, in one command on the host. */
export async function observeServices(c: Connection, names: readonly string[], options: { signal?: AbortSignal } = {}): Promise<Map<string, ObservedService>> {
  const out = new Map<string, ObservedService>();
  if (names.length === 0) return out;
  for (const n of names) if (typeof n !== 'string' || !NAME.test(n)) badOption('name', 'a service name', n);
  const script = `for n in ${names.map((n) => shellQuote(n)).join(' ')}; do d="$HOME"/.flotilla/services/$n
if [ ! -d "$d" ]; then echo "$n absent"; continue; fi
sp=$(cat "$d/supervisor.pid" 2>/dev/null); p=$(cat "$d/pid" 2>/dev/null); r=$(cat "$d/restarts" 2>/dev/null); st=$(cat "$d/state" 2>/dev/null)
sa=0; [ -n "$sp" ] && kill -0 "$sp" 2>/dev/null && sa=1
ca=0; [ -n "$p" ] && kill -0 "$p" 2>/dev/null && ca=1
ec=$(grep 'command exited with status' "$d/log" 2>/dev/null | tail -n 1 | sed 's/.*status //')
ports=$(cat "$d/ports" 2>/dev/null)
echo "$n $sa $ca \${p:--} \${r:-0} \${st:-unknown} \${ec:--} \${ports:-{\\}}"
done`;
  const r = await c.run(script, { hide: true, ...(options.signal ? { signal: options.signal } : {}) });
  for (const line of r.stdout.split('\n')) {
    const parts = line.trim().split(' ');
    const name = parts[0];
    if (!name) continue;
    if (parts[1] === 'absent') {
      out.set(name, { state: 'absent', restarts: 0 });
      continue;
    }
    const [, sa, ca, pid, restarts, state, exitCode, ...portsText] = parts;
    let ports: Record<string, number> | undefined;
    try {
      ports = JSON.parse(portsText.join(' ')) as Record<string, number>;
    } catch {
      ports = undefined;
    }
    const base = { restarts: Number(restarts) || 0, ...(ports && Object.keys(ports).length > 0 ? { ports } : {}) };
    if (sa === '1') out.set(name, { state: 'running', ...(ca === '1' && pid !== '-' ? { pid: Number(pid) } : {}), ...base });
    else if (state === 'exited') out.set(name, { state: 'exited', ...(exitCode !== '-' ? { exitCode: Number(exitCode) } : {}), ...base });
    else out.set(name, { state: 'absent', ...base });
  }
  return out;
}

/** Sends SIGTERM to an sh-supervised service's command (not its supervisor), which then restarts it per its restart policy. */
export async function signalService(c: Connection, name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a service name', name);
  await c.run(`p=$(cat ${dirOf(name)}/pid 2>/dev/null) && kill -TERM "$p" 2>/dev/null; true`, { hide: true, ...(options.signal ? { signal: options.signal } : {}) });
}

/** Removes a stopped sh-supervised service's directory (its log and files). */
export async function removeService(c: Connection, name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a service name', name);
  await c.run(`rm -rf ${dirOf(name)}`, { hide: true, ...(options.signal ? { signal: options.signal } : {}) });
}

/** The output log of an sh-supervised service, as a quoted sh word (for `cat` or `tail -f`). */
export function serviceLogPath(name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a service name', name);
  return `${dirOf(name)}/log`;
}
