import { describe, expect, it } from 'vitest';
import { isProcessAlive, parseProcStat, processStartTime, readProcStat, type ProcessProbe } from '@flotilla/sys';
import { onLinux, startSleeper, startZombie } from '@flotilla/sys/testing';

describe('parseProcStat', () => {
  it('counts fields after the last parenthesis (a command name may hold spaces and parentheses)', () => {
    const rest = Array.from({ length: 49 }, (_, i) => String(i + 4)).join(' ');
    const st = parseProcStat(`123 (a b) (c)) Z ${rest}`);
    // after the last ")": field 3 (state), then fields 4, 5, … each holding its own number
    expect(st?.state).toBe('Z');
    expect(st?.startTime).toBe('22');
  });
  it('returns undefined for text that is not a stat line', () => {
    expect(parseProcStat('')).toBeUndefined();
    expect(parseProcStat('123 (x) R 1 2')).toBeUndefined();
  });
});

describe('isProcessAlive with a fake probe', () => {
  const probe = (exists: boolean, state?: string, startTime = '100'): ProcessProbe => ({
    exists: () => exists,
    stat: () => (state === undefined ? undefined : { state, startTime }),
  });
  it('a missing pid is dead; a pid without /proc is alive when kill(pid, 0) finds it', () => {
    expect(isProcessAlive(42, undefined, probe(false, 'S'))).toBe(false);
    expect(isProcessAlive(42, '100', probe(true))).toBe(true);
  });
  it('zombie and dead states are dead', () => {
    expect(isProcessAlive(42, undefined, probe(true, 'Z'))).toBe(false);
    expect(isProcessAlive(42, undefined, probe(true, 'X'))).toBe(false);
    expect(isProcessAlive(42, undefined, probe(true, 'S'))).toBe(true);
  });
  it('another start time means the pid was reused: dead', () => {
    expect(isProcessAlive(42, '99', probe(true, 'S', '100'))).toBe(false);
    expect(isProcessAlive(42, '100', probe(true, 'S', '100'))).toBe(true);
  });
  it('pids that cannot be a process are dead', () => {
    expect(isProcessAlive(0)).toBe(false);
    expect(isProcessAlive(-1)).toBe(false);
    expect(isProcessAlive(1.5)).toBe(false);
  });
});

describe.runIf(onLinux)('isProcessAlive against real processes (Linux: reads /proc)', () => {
  it('this process is alive, with its own start time', () => {
    const start = processStartTime(process.pid);
    expect(start).toMatch(/^\d+$/);
    expect(isProcessAlive(process.pid, start)).toBe(true);
  });

  it('a child killed with SIGKILL and not reaped (a zombie) is dead, though kill(pid, 0) still finds it', async () => {
    const { pid, parent } = await startZombie();
    try {
      expect(readProcStat(pid)?.state).toBe('Z');
      expect(() => process.kill(pid, 0)).not.toThrow(); // what the old check relied on
      expect(isProcessAlive(pid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a live pid with another start time than recorded (a reused pid) is not the holder', async () => {
    const child = await startSleeper();
    try {
      const start = processStartTime(child.pid)!;
      expect(isProcessAlive(child.pid, start)).toBe(true);
      expect(isProcessAlive(child.pid, String(BigInt(start) + 1n))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a process that has exited and was reaped is dead', async () => {
    const child = await startSleeper();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(isProcessAlive(child.pid)).toBe(false);
  });
});
