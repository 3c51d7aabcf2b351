// deploy's host lock and its holder check (issue 12 §3): the holder line carries the process
// start time, and a zombie or a reused pid is not mistaken for a running flo.
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHolder, processStartTime } from '@flotilla/sys';
import { onLinux, startSleeper, startZombie } from '@flotilla/sys/testing';
import { Connection, withDeployLock } from '../src/index.js';
import { isStaleHolder } from '../src/lock.js';

const root = mkdtempSync(join(tmpdir(), 'flo-deploy-lock-'));
const conns: Connection[] = [];
afterAll(async () => {
  await Promise.all(conns.map((c) => c.close()));
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
function host(): Connection {
  const c = Connection.localDir(join(root, `h${++n}`), { name: `h${n}` });
  conns.push(c);
  return c;
}
const OLD_PATTERN = /^\S+@(\S+) pid (\d+) since /; // what earlier versions parse

describe('deploy lock holder', { timeout: 60_000 }, () => {
  it('records user@machine pid N since T, then start= and boot= (older flo versions still parse it)', async () => {
    const c = host();
    const line = await withDeployLock(c, () => c.run('cat .flotilla/locks/deploy', { hide: true }).then((r) => r.stdout.trim()));
    const m = OLD_PATTERN.exec(line);
    expect(m?.[1]).toBe(hostname());
    expect(Number(m?.[2])).toBe(process.pid);
    if (onLinux) expect(line).toMatch(/ start=\d+ boot=\S+$/);
    expect(parseHolder(line)).toMatchObject({ pid: process.pid, host: hostname() });
  });

  it.runIf(onLinux)('(Linux) a holder that was SIGKILLed and not yet reaped (a zombie) is stale, and its lock is taken with a warning', async () => {
    const { pid, parent } = await startZombie();
    try {
      const holder = `ann@${hostname()} pid ${pid} since 2026-01-01T00:00:00.000Z`;
      expect(isStaleHolder(holder)).toBe(true);
      const c = host();
      await c.run(`mkdir -p .flotilla/locks && printf '%s\\n' '${holder}' > .flotilla/locks/deploy`);
      const warnings: string[] = [];
      expect(await withDeployLock(c, () => Promise.resolve('ran'), { onWarning: (w) => warnings.push(w) })).toBe('ran');
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`removed a stale deploy lock \\(ann@.* pid ${pid} .*no longer runs\\)`))]);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it.runIf(onLinux)('(Linux) a live pid with another start time than recorded (the pid was reused) is stale; with its own, not', async () => {
    const child = await startSleeper();
    try {
      const start = processStartTime(child.pid)!;
      const line = (s: string) => `ann@${hostname()} pid ${child.pid} since 2026-01-01T00:00:00.000Z start=${s}`;
      expect(isStaleHolder(line(start))).toBe(false);
      expect(isStaleHolder(line(String(BigInt(start) + 1n)))).toBe(true);
      expect(isStaleHolder(`ann@${hostname()} pid ${child.pid} since 2026-01-01T00:00:00.000Z`)).toBe(false); // old line: pid alone
    } finally {
      child.kill('SIGKILL');
    }
  });
});
