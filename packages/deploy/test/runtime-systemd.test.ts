// The systemd runtime, checked against stand-in `systemd-run`, `systemctl` and `loginctl`
// scripts on PATH (this machine and CI have no systemd): what Flotilla asks systemd to do —
// unit name, restart policy, stop timeout, working directory, environment, --user — and how
// it reads the answers. That systemd then does it is systemd's part.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Connection, serviceStatus, shellQuote, startService, stopService } from '../src/index.js';
import { SYSTEMD_PROBE } from '../src/runtime.js';

const root = mkdtempSync(join(tmpdir(), 'flo-systemd-'));
const bin = join(root, 'bin');
const log = join(root, 'calls.log');
const state = join(root, 'state');
mkdirSync(bin);
const script = (name: string, body: string): void => {
  writeFileSync(join(bin, name), `#!/bin/sh\nprintf '%s' ${name} >> ${log}; for a in "$@"; do printf ' [%s]' "$a" >> ${log}; done; echo >> ${log}\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
};
// systemctl: is-active answers from the state file; show prints properties; stop marks inactive.
script(
  'systemctl',
  `[ "$1" = --user ] && shift
case "$1" in
  is-active) [ "$(cat ${state} 2>/dev/null)" = active ] ;;
  show) if [ "$(cat ${state} 2>/dev/null)" = active ]; then printf 'MainPID=4321\\nActiveState=active\\nNRestarts=2\\n'; else printf 'MainPID=0\\nActiveState=inactive\\nNRestarts=0\\n'; fi ;;
  stop) echo inactive > ${state} ;;
  show-environment) exit 0 ;;
esac`,
);
script('systemd-run', `echo active > ${state}`);
script('loginctl', `echo "Linger=\${FAKE_LINGER:-no}"`);

const savedPath = process.env.PATH;
beforeEach(() => {
  process.env.PATH = `${bin}:${savedPath}`;
  rmSync(log, { force: true });
  rmSync(state, { force: true });
});
afterEach(() => {
  process.env.PATH = savedPath;
  delete process.env.FAKE_LINGER;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const calls = (): string[] =>
  readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean);

describe('systemd runtime (stand-in systemd tools)', () => {
  it('starts a transient unit with the restart policy, stop timeout, directory and environment; once', async () => {
    const home = join(root, 'home1');
    const c = Connection.localDir(home);
    await c.run('mkdir -p app');
    const st = await startService(c, { name: 'web', command: './run.sh --port 80', cwd: 'app', env: { GREETING: "it's a \"test\"" }, restart: 'on-failure', gracePeriodSeconds: 7, runtime: 'systemd' });
    expect(st).toEqual({ name: 'web', runtime: 'systemd', running: true, pid: 4321, supervisorPid: null, restarts: 2, state: 'active' });
    const run = calls().find((l) => l.startsWith('systemd-run'))!;
    // Root uses the system manager (no --user); the command is `sh -c` with exported variables and exec.
    const unitArgs = process.getuid?.() === 0 ? '' : ' [--user]';
    expect(run).toBe(
      `systemd-run${unitArgs} [--unit=flotilla-web] [--collect] [--working-directory=${join(home, 'app')}] [-p] [Restart=on-failure] [-p] [RestartSec=1] [-p] [TimeoutStopSec=7] [--] [sh] [-c] [export GREETING=${shellQuote('it\'s a "test"')}; exec ./run.sh --port 80]`,
    );
    // Already active: nothing is started again.
    await startService(c, { name: 'web', command: './run.sh --port 80', cwd: 'app', runtime: 'systemd' });
    expect(calls().filter((l) => l.startsWith('systemd-run'))).toHaveLength(1);
    await stopService(c, 'web', { runtime: 'systemd' });
    expect(calls()).toContain(`systemctl${unitArgs} [stop] [flotilla-web]`);
    expect(await serviceStatus(c, 'web', 'systemd')).toMatchObject({ running: false, pid: null, state: 'inactive' });
  });

  it('detection: systemd-run and /run/systemd/system, and for a non-root user a lingering user manager', async () => {
    const c = Connection.localDir(join(root, 'home2'));
    // This machine has no /run/systemd/system, so the probe says no whatever the tools say…
    expect((await c.run(SYSTEMD_PROBE, { warn: true, hide: true })).exitCode).not.toBe(0);
    // …and "auto" picks the sh supervisor here (its own tests cover it).
    // The user-manager half of the probe, with the directory test taken out:
    const userHalf = SYSTEMD_PROBE.replace('[ -d /run/systemd/system ]', 'true').replace('[ "$(id -u)" = 0 ]', 'false');
    expect((await c.run(userHalf, { warn: true, hide: true })).exitCode).toBe(1);
    process.env.FAKE_LINGER = 'yes';
    expect((await c.run(userHalf, { warn: true, hide: true })).exitCode).toBe(0);
    expect(calls()).toContain('loginctl [show-user] [' + (await c.run('id -un', { hide: true })).stdout.trim() + '] [-p] [Linger]');
  });
});
