// flo events -w and flo get -w as real processes: an instance SIGKILLed under a running
// flo controller shows up in both streams; a watch through a flo server that is killed and
// started again keeps printing changes; SIGINT ends each with exit 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { afterAll, describe, expect, it } from 'vitest';
import { appYaml, floArgv, makeFlo, until, write, type InstanceJson } from './cluster-harness.js';
import { freePorts, runFlo } from './kv-harness.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) await stop(c, 'SIGTERM');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A background flo whose stdout and stderr are collected. */
function watcher(args: string[], cwd: string): { p: ChildProcess; out(): string; err(): string; lines<T>(): T[] } {
  const p = spawn(process.execPath, [...floArgv(), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    p,
    out: () => out,
    err: () => err,
    lines: <T>() =>
      out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as T),
  };
}

/** Signals a child (by its pid) and waits for its exit code. */
async function stop(c: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return c.exitCode;
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  process.kill(c.pid, signal);
  return exited;
}

interface EventJson {
  involved: { kind: string; name: string };
  reason: string;
  message: string;
  time: string;
}

describe('flo events -w and flo get -w beside flo controller', () => {
  it('an instance SIGKILLed: Restarted appears in flo events -w, its new pid in flo get instances -w; SIGINT exits 0', async () => {
    const flo = makeFlo();
    dirs.push(flo.dir);
    await writeSampleArtifact(flo.dir);
    const hosts = ['e1', 'e2'].map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h}}\nspec: {local: {dir: ${path.join(flo.dir, 'hosts', h)}}, capacity: {cpu: 2, memory: 2Gi}}\n---\n`).join('');
    write(flo.dir, 'app.yaml', hosts + appYaml({ replicas: 2, artifact: './sample-app.tar.gz' }));
    flo.run(['apply', '-f', 'app.yaml', '--wait']);
    const store = ['--store', `file://${flo.dir}/store`];
    const victim = flo.json<{ items: InstanceJson[] }>(['get', 'instances']).items[0]!;
    expect(victim.pid).toBeGreaterThan(0);

    const events = watcher(['events', '-w', '-o', 'json', ...store], flo.dir);
    const gets = watcher(['get', 'instances', '-w', '-o', 'json', '--output-watch-events', ...store], flo.dir);
    const table = watcher(['events', '-w', '--for', `instance/${victim.name}`, ...store], flo.dir);
    // each lists first: the Started event of the victim, both instances ADDED
    await until('flo events -w listed', () => events.lines<EventJson>().some((e) => e.reason === 'Started' && e.involved.name === victim.name));
    await until('flo get -w listed', () => gets.lines<{ type: string }>().length >= 2);
    expect(gets.lines<{ type: string; object: InstanceJson }>().slice(0, 2).map((c) => c.type)).toEqual(['ADDED', 'ADDED']);
    await until('flo events -w --for listed', () => table.out().includes('Started'));
    expect(table.out().split('\n')[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);

    children.push(flo.startController()); // stopped by afterAll too, should an expectation fail
    const killedAt = new Date().toISOString();
    process.kill(victim.pid!, 'SIGKILL');
    const restarted = await until('a Restarted event for the victim in flo events -w', () =>
      events.lines<EventJson>().find((e) => e.involved.kind === 'Instance' && e.involved.name === victim.name && e.reason === 'Restarted' && e.time >= killedAt),
    );
    expect(restarted.message).toMatch(/restarted \(restart \d+(, pid \d+)?\)/);
    const healed = await until('the victim with a new pid in flo get -w', () =>
      gets.lines<{ type: string; object: InstanceJson }>().find((c) => c.type === 'MODIFIED' && c.object.name === victim.name && c.object.pid !== undefined && c.object.pid !== victim.pid && c.object.restarts >= 1),
    );
    expect(healed.object).toMatchObject({ replicaSet: 'web', host: victim.host });
    await until('the table row of Restarted', () => /^\S+\s+Warning\s+Restarted\s+instance\/\S+\s+the command exited/m.test(table.out()));
    // events of the other instance are not in the --for stream
    expect(table.out()).not.toContain(`instance/${flo.json<{ items: InstanceJson[] }>(['get', 'instances']).items.find((i) => i.name !== victim.name)!.name}`);

    for (const w of [events, gets, table]) expect(await stop(w.p, 'SIGINT')).toBe(0);
    await flo.stopController();
    flo.run(['delete', '-f', 'app.yaml']);
  });
});

describe('flo get -w through a flo server that is killed and started again', () => {
  it('keeps printing changes after the store comes back', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-watch-server-'));
    dirs.push(dir);
    const [client, peer] = await freePorts(2);
    const serverArgs = ['server', '--id', '1', '--listen', `127.0.0.1:${client}`, '--peer-listen', `127.0.0.1:${peer}`, '--peers', `1=127.0.0.1:${peer}`, '--data', path.join(dir, 'data'), '--tick-ms', '20'];
    const startServer = (): ChildProcess => {
      const p = spawn(process.execPath, [...floArgv(), ...serverArgs], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
      children.push(p);
      return p;
    };
    const ready = async (): Promise<void> => {
      await until('flo server ready', async () => {
        try {
          return (await fetch(`http://127.0.0.1:${client}/readyz`)).status === 200;
        } catch {
          return false;
        }
      });
    };
    let server = startServer();
    await ready();
    const store = ['--store', `flotilla://127.0.0.1:${client}`];
    mkdirSync(path.join(dir, 'hosts'), { recursive: true });
    write(dir, 'hosts.yaml', ['w1', 'w2'].map((h) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${h}}\nspec: {local: {dir: ${path.join(dir, 'hosts', h)}}}\n`).join('---\n'));
    const applied = await runFlo(['apply', '-f', path.join(dir, 'hosts.yaml'), ...store]);
    expect(applied.code, applied.stderr).toBe(0);

    const gets = watcher(['get', 'hosts', '-w', '-o', 'json', '--output-watch-events', ...store], dir);
    await until('the list', () => gets.lines().length === 2);
    const cordon = async (h: string): Promise<void> => {
      const r = await runFlo(['cordon', h, ...store]);
      expect(r.code, r.stderr).toBe(0);
    };
    await cordon('w1');
    await until('w1 cordoned', () => gets.lines<{ type: string; object: { name: string; unschedulable: boolean } }>().some((c) => c.type === 'MODIFIED' && c.object.name === 'w1' && c.object.unschedulable));

    expect(await stop(server, 'SIGKILL')).toBe(null);
    await new Promise((r) => setTimeout(r, 1500)); // the watch notices
    server = startServer();
    await ready();
    await cordon('w2');
    const after = await until('w2 cordoned, printed after the restart', () =>
      gets.lines<{ type: string; object: { name: string; unschedulable: boolean } }>().find((c) => c.type === 'MODIFIED' && c.object.name === 'w2' && c.object.unschedulable),
    );
    expect(after.object.name).toBe('w2');
    // nothing printed twice: one ADDED per host, one MODIFIED per cordon
    const kinds = gets.lines<{ type: string; object: { name: string } }>().map((c) => `${c.type} ${c.object.name}`);
    expect(kinds.sort()).toEqual(['ADDED w1', 'ADDED w2', 'MODIFIED w1', 'MODIFIED w2']);
    expect(await stop(gets.p, 'SIGINT')).toBe(0);
    await stop(server, 'SIGTERM');
  });
});
