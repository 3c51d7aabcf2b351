// flo events and flo get -w, in process against a file store: what they print in each format,
// and that a watch prints a change made by another command, then stops on SIGINT with exit 0.
// (e2e/events.test.ts runs them as real processes against flo controller and flo server.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type ClusterEvent, type ClusterStore } from '@flotilla/cluster';
import { main } from '../src/cli.js';

function io(cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  return { io: { stdout, stderr, stdin: new PassThrough(), env: {}, cwd }, out: () => out.join(''), err: () => err.join('') };
}

async function poll(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let dir: string;
let url: string;
let store: ClusterStore;
let seq = 0;
const ago = (s: number): string => new Date(Date.now() - s * 1000).toISOString();
function event(kind: ClusterEvent['involved']['kind'], name: string, reason: string, time: string, type: ClusterEvent['type'] = 'Normal'): ClusterEvent {
  return { apiVersion: 'flotilla.dev/v1', kind: 'Event', metadata: { name: `${name}.e${seq++}` }, involved: { kind, name }, type, reason, message: `${reason} message`, time };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flo-watch-'));
  url = `file://${dir}/store`;
  writeFileSync(
    join(dir, 'hosts.yaml'),
    ['a', 'b'].map((n) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}, labels: {zone: ${n === 'a' ? 'x' : 'y'}}}\nspec: {local: {dir: ./hosts/${n}}, capacity: {cpu: 2, memory: 1Gi}}\n`).join('---\n'),
  );
  const t = io(dir);
  expect(await main(['apply', '-f', 'hosts.yaml', '--store', url], t.io)).toBe(0);
  store = await openStore(url);
  await store.events.create(event('Host', 'b', 'HostNotReady', ago(30), 'Warning'));
  await store.events.create(event('Host', 'a', 'HostReady', ago(200)));
  await store.events.create(event('Host', 'b', 'HostReady', ago(100)));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('flo events', () => {
  it('prints LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, oldest first', async () => {
    const t = io(dir);
    expect(await main(['events', '--store', url], t.io)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ['3m', 'Normal', 'HostReady', 'host/a', 'HostReady message'],
      ['100s', 'Normal', 'HostReady', 'host/b', 'HostReady message'],
      ['30s', 'Warning', 'HostNotReady', 'host/b', 'HostNotReady message'],
    ]);
    const n = io(dir);
    expect(await main(['events', '--store', url, '--no-headers'], n.io)).toBe(0);
    expect(n.out().split('\n')[0]).toMatch(/^3m\s+Normal\s+HostReady/);
  });

  it('-l by the labels of the object an event is about; --for KIND/NAME', async () => {
    const t = io(dir);
    expect(await main(['events', '--store', url, '-l', 'zone=y', '-o', 'name'], t.io)).toBe(0);
    expect(t.out().trimEnd().split('\n')).toHaveLength(2);
    expect(t.out()).toMatch(/^event\/b\.e\d+\nevent\/b\.e\d+\n$/);
    const f = io(dir);
    expect(await main(['events', '--store', url, '--for', 'host/a', '-o', 'json'], f.io)).toBe(0);
    const doc = JSON.parse(f.out()) as { items: ClusterEvent[] };
    expect(doc.items.map((e) => [e.involved, e.reason])).toEqual([[{ kind: 'Host', name: 'a' }, 'HostReady']]);
    expect(doc.items[0]!.metadata).not.toHaveProperty('resourceVersion');
    const none = io(dir);
    expect(await main(['events', '--store', url, '--for', 'instance/nope'], none.io)).toBe(0);
    expect(none.out()).toBe('');
    expect(none.err()).toBe('No events found.\n');
  });

  it('-o yaml: one document per event', async () => {
    const t = io(dir);
    expect(await main(['events', '--store', url, '-o', 'yaml'], t.io)).toBe(0);
    const { parseAllDocuments } = await import('yaml');
    const docs = parseAllDocuments(t.out()).map((d) => d.toJS() as ClusterEvent);
    expect(docs.map((d) => d.reason)).toEqual(['HostReady', 'HostReady', 'HostNotReady']);
  });

  it('bad --for and bad -l are usage errors (exit 2) saying what to give', async () => {
    const t = io(dir);
    expect(await main(['events', '--store', url, '--for', 'pods/x'], t.io)).toBe(2);
    expect(t.err()).toContain('--for pods/x: expected KIND/NAME');
    const l = io(dir);
    expect(await main(['events', '--store', url, '-l', 'zone in (x'], l.io)).toBe(2);
    expect(l.err()).toContain('-l:');
  });

  it('-w prints the recorded events, then each new one as it is recorded; SIGINT ends it with exit 0', async () => {
    const t = io(dir);
    const running = main(['events', '--store', url, '-w', '-o', 'json'], t.io);
    await poll('the three recorded events', () => t.out().split('\n').length > 3);
    await store.events.create(event('Host', 'a', 'HostNotReady', new Date().toISOString(), 'Warning'));
    await poll('the new event', () => t.out().split('\n').length > 4);
    const lines = t.out().trimEnd().split('\n').map((l) => JSON.parse(l) as ClusterEvent);
    expect(lines.map((e) => `${e.involved.name} ${e.reason}`)).toEqual(['a HostReady', 'b HostReady', 'b HostNotReady', 'a HostNotReady']);
    process.emit('SIGINT');
    expect(await running).toBe(0);
  });
});

describe('flo get -w', () => {
  it('prints the list, then a row per change (aligned with the list), until SIGINT', async () => {
    const t = io(dir);
    const running = main(['get', 'hosts', '--store', url, '-w'], t.io);
    await poll('the list', () => t.out().split('\n').length > 3);
    expect(t.out()).toMatch(/^NAME\s+STATUS\s+ADDRESS\s+CPU\(m\)\s+MEMORY\(Mi\)\s+LOAD1\na\s+NotReady\s+\S+\/hosts\/a\s+0\/2000\s+0\/1024\s+-\nb\s+NotReady/);
    const c = io(dir);
    expect(await main(['cordon', 'b', '--store', url], c.io)).toBe(0);
    await poll('the change', () => t.out().split('\n').length > 4);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[3]).toMatch(/^b\s+NotReady,SchedulingDisabled\s+\S+\/hosts\/b\s/);
    // columns at least as wide as the list's (a wider cell pushes the rest of its row only)
    expect(lines[3]!.indexOf('NotReady')).toBe(lines[0]!.indexOf('STATUS'));
    expect(lines[3]!.indexOf(dir)).toBeGreaterThan(lines[0]!.indexOf('ADDRESS'));
    process.emit('SIGINT');
    expect(await running).toBe(0);
    expect(await main(['uncordon', 'b', '--store', url], io(dir).io)).toBe(0);
  });

  it('--watch-only -o json --output-watch-events -l: only changes of matching objects, as {"type","object"} lines', async () => {
    const t = io(dir);
    const running = main(['get', 'hosts', '--store', url, '--watch-only', '-o', 'json', '--output-watch-events', '-l', 'zone=x'], t.io);
    await new Promise((r) => setTimeout(r, 1500)); // the list is in (it prints nothing)
    expect(await main(['cordon', 'b', '--store', url], io(dir).io)).toBe(0); // zone=y: not printed
    expect(await main(['cordon', 'a', '--store', url], io(dir).io)).toBe(0);
    await poll('the change of a', () => t.out().length > 0);
    const changes = t.out().trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; object: { name: string; unschedulable: boolean } });
    expect(changes).toEqual([{ type: 'MODIFIED', object: expect.objectContaining({ name: 'a', unschedulable: true }) }]);
    await store.hosts.mutate('a', (h) => ({ ...h, metadata: { ...h.metadata, labels: { zone: 'z' } } })); // stops matching
    await poll('a no longer matching', () => t.out().trimEnd().split('\n').length === 2);
    expect(JSON.parse(t.out().trimEnd().split('\n')[1]!)).toMatchObject({ type: 'DELETED', object: { name: 'a' } });
    process.emit('SIGINT');
    expect(await running).toBe(0);
  });

  it('a name that does not exist: exit 1 at once; --output-watch-events without -w: exit 2', async () => {
    const t = io(dir);
    expect(await main(['get', 'hosts', 'nope', '--store', url, '-w'], t.io)).toBe(1);
    expect(t.err()).toContain('host/nope not found');
    const u = io(dir);
    expect(await main(['get', 'hosts', '--store', url, '--output-watch-events'], u.io)).toBe(2);
    expect(u.err()).toContain('--output-watch-events goes with -w');
  });
});

describe('events counted (deduplicated or combined by the controllers\' recorder)', () => {
  it('flo events and flo describe print LAST SEEN as kubectl does: "30s (x5 over 10m)"; -o json keeps count, firstTimestamp, lastTimestamp', async () => {
    const counted: ClusterEvent = { ...event('Host', 'a', 'NetworkSyncFailed', ago(30), 'Warning'), count: 5, firstTimestamp: ago(600), lastTimestamp: ago(30) };
    await store.events.create(counted);
    const t = io(dir);
    expect(await main(['events', '--store', url, '--for', 'host/a'], t.io)).toBe(0);
    const rows = t.out().trimEnd().split('\n').slice(1).map((l) => l.split(/\s{2,}/));
    expect(rows.find((r) => r[2] === 'NetworkSyncFailed')).toEqual(['30s (x5 over 10m)', 'Warning', 'NetworkSyncFailed', 'host/a', 'NetworkSyncFailed message']);
    // once: as before
    expect(rows.find((r) => r[2] === 'HostReady')?.[0]).toBe('3m');
    const j = io(dir);
    expect(await main(['events', '--store', url, '--for', 'host/a', '-o', 'json'], j.io)).toBe(0);
    const doc = JSON.parse(j.out()) as { items: ClusterEvent[] };
    expect(doc.items.find((e) => e.reason === 'NetworkSyncFailed')).toMatchObject({ count: 5, firstTimestamp: counted.firstTimestamp, lastTimestamp: counted.lastTimestamp, time: counted.time });
    const d = io(dir);
    expect(await main(['describe', 'host/a', '--store', url], d.io)).toBe(0);
    const events = d.out().slice(d.out().indexOf('\nEvents:\n'));
    expect(events).toMatch(/Warning\s+NetworkSyncFailed\s+30s \(x5 over 10m\)\s+NetworkSyncFailed message/);
    expect(events).toMatch(/Normal\s+HostReady\s+3m\s+HostReady message/);
  });
});
