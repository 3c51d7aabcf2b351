import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countCpuList, InventoryError, LOAD_COMMAND, orderByLoad, parseFacts, parseInventory, selectHosts } from '../src/index.js';

describe('facts', () => {
  it('parses Linux output', () => {
    const text = [
      '0.52 0.58 0.59 1/467 12345',
      '---',
      '4',
      '---',
      'MemTotal:       16318460 kB',
      'MemAvailable:   12000000 kB',
      '---',
      '/dev/sda1 102400 51200 40960 56% /',
      '---',
      'Linux',
      '---',
      'Debian GNU/Linux 12 (bookworm)',
    ].join('\n');
    expect(parseFacts('h1', text)).toEqual({
      host: 'h1',
      load1: 0.52,
      load5: 0.58,
      load15: 0.59,
      cores: 4,
      memTotalBytes: 16318460 * 1024,
      memAvailableBytes: 12000000 * 1024,
      diskFreeBytes: 40960 * 1024,
      os: 'Linux',
      distro: 'Debian GNU/Linux 12 (bookworm)',
    });
  });
  it('parses BSD sysctl and uptime forms', () => {
    expect(parseFacts('b', '{ 1.50 1.20 1.00 }\n---\n8').load1).toBe(1.5);
    expect(parseFacts('u', ' 10:00  up 3 days, load averages: 2.10 1.90 1.80\n---\n2').load1).toBe(2.1);
    expect(parseFacts('u', ' 10:00:00 up 3 days,  0 users,  load average: 0.10, 0.20, 0.30\n---\n2').load15).toBe(0.3);
  });
  it('rejects output without a load average', () => {
    expect(() => parseFacts('x', 'nope')).toThrow(/cannot read load average/);
  });
  it.each([
    ['0', 1],
    ['0-1', 2],
    ['0-3,8,10-11', 7],
    ['0,2,4,6', 4],
    [' 0-63\n', 64],
    ['', Number.NaN],
    ['3-1', Number.NaN],
    ['0-', Number.NaN],
    ['a', Number.NaN],
  ])('counts the Linux CPU list %j as %d', (list, n) => {
    expect(countCpuList(list)).toBe(n);
  });
  it('parses the built-in-only Linux form of LOAD_COMMAND', () => {
    expect(parseFacts('h', '0.25 0.50 1.00 2/300 999\n---\ncpus 0-3,6\n')).toMatchObject({ load1: 0.25, cores: 5 });
    expect(() => parseFacts('h', '0.25 0.50 1.00 2/300 999\n---\ncpus 7-2\n')).toThrow(/cannot read load average and cores/);
  });
  it('LOAD_COMMAND run by sh here gives this machine\'s online CPUs and a load average', () => {
    const out = execFileSync('/bin/sh', ['-c', LOAD_COMMAND], { encoding: 'utf8' });
    const f = parseFacts('here', out);
    expect(f.cores).toBe(cpus().length || availableParallelism());
    expect(f.load1).toBeGreaterThanOrEqual(0);
    // No /proc or /sys (another Unix): the fallback's commands answer instead.
    const fallback = LOAD_COMMAND.replaceAll('/proc/loadavg', '/nonexistent/loadavg');
    const f2 = parseFacts('here', execFileSync('/bin/sh', ['-c', fallback], { encoding: 'utf8' }));
    expect(f2.cores).toBe(f.cores);
  });
});

describe('orderByLoad (injected facts)', () => {
  it('orders by load per core, lowest first, ties by name', () => {
    const ranked = orderByLoad([
      { host: 'big', load1: 4, cores: 8 },
      { host: 'small', load1: 1, cores: 1 },
      { host: 'idle', load1: 0, cores: 2 },
      { host: 'alpha', load1: 0.5, cores: 1 },
      { host: 'beta', load1: 0.5, cores: 1 },
    ]);
    expect(ranked.map((r) => r.host)).toEqual(['idle', 'alpha', 'beta', 'big', 'small']);
    expect(ranked[3]).toEqual({ host: 'big', load1: 4, cores: 8, loadPerCore: 0.5 });
  });
  it('agrees with a simple reference (property)', () => {
    const fact = fc.record({ host: fc.string({ minLength: 1, maxLength: 4 }), load1: fc.double({ min: 0, max: 64, noNaN: true }), cores: fc.integer({ min: 1, max: 64 }) });
    fc.assert(
      fc.property(fc.uniqueArray(fact, { selector: (f) => f.host, maxLength: 20 }), (facts) => {
        const got = orderByLoad(facts).map((r) => r.host);
        const ref = [...facts].sort((a, b) => {
          const d = a.load1 / a.cores - b.load1 / b.cores;
          return d !== 0 ? d : a.host < b.host ? -1 : a.host > b.host ? 1 : 0;
        });
        expect(got).toEqual(ref.map((f) => f.host));
      }),
      { seed: 11, numRuns: 200 },
    );
  });
});

const inv = `
apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h01, labels: {zone: a, role: web}}
spec: {address: 127.0.0.11, user: deploy}
---
apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h02, labels: {zone: b, role: db}}
spec: {address: h02.example, port: 2222}
---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: ignored}
---
apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h03, labels: {zone: a, role: web}}
spec: {local: {dir: ./hosts/h03}}
`;

describe('inventory', () => {
  const hosts = parseInventory(inv);
  it('reads kind: Host documents and ignores other kinds', () => {
    expect(hosts.map((h) => h.name)).toEqual(['h01', 'h02', 'h03']);
    expect(hosts[0]).toMatchObject({ address: '127.0.0.11', user: 'deploy', labels: { zone: 'a', role: 'web' } });
    expect(hosts[1]!.port).toBe(2222);
    expect(hosts[2]!.local).toEqual({ dir: './hosts/h03' });
  });
  it('reports every problem at once, with the document and line', () => {
    const bad = 'kind: Host\nmetadata: {labels: {"bad key!": x}}\nspec: {port: 99999}\n---\nkind: Host\nmetadata: {name: a}\nspec: {address: x}\n---\nkind: Host\nmetadata: {name: a}\nspec: {address: y}\n';
    let err: unknown;
    try {
      parseInventory(bad, 'inv.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InventoryError);
    const issues = (err as InventoryError).issues.join('\n');
    expect(issues).toMatch(/document 1 \(line 1\): metadata.name is required/);
    expect(issues).toMatch(/document 1 .*metadata.labels/);
    expect(issues).toMatch(/document 1 \(line 1\): spec: needs address: \(an ssh address or ssh_config alias\) or local: \{dir\}/);
    expect(issues).toMatch(/document 1 \(line 1\): spec\.port: must be between 1 and 65535, not 99999/);
    expect(issues).toMatch(/document 3 \(line 9\): metadata.name "a" is used twice/);
  });
  it('an unresolved alias or an alias bomb is an issue of its document, not a bare ReferenceError (issue 12 §6)', () => {
    const laughs = ['kind: Host', 'metadata: {name: lol}', 'spec:', '  address: x', '  l0: &l0 lol'];
    for (let i = 1; i <= 9; i++) laughs.push(`  l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]`);
    const text = `kind: Host\nmetadata: {name: a}\nspec: {address: *nowhere}\n---\n${laughs.join('\n')}\n`;
    let err: unknown;
    try {
      parseInventory(text, 'inv.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InventoryError);
    expect((err as InventoryError).issues).toEqual([
      expect.stringMatching(/^document 1 \(line 1\): YAML: Unresolved alias .*nowhere/),
      expect.stringMatching(/^document 2 \(line 5\): YAML: Excessive alias count/),
    ]);
    expect((err as Error).message).toMatch(/^inv\.yaml: 2 problems/);
  });
  it.each([
    [{ hosts: ['h02', 'h01'] }, ['h02', 'h01']],
    [{ roles: ['web'] }, ['h01', 'h03']],
    [{ roles: ['web', 'db'] }, ['h01', 'h02', 'h03']],
    [{ selector: 'zone=a,role!=db' }, ['h01', 'h03']],
    [{ selector: 'zone in (b)' }, ['h02']],
    [{ hosts: ['h02'], roles: ['web'] }, ['h02', 'h01', 'h03']],
    [{ roles: ['web'], selector: 'zone=b' }, []],
    [{ hosts: ['user@10.1.2.3:2200', 'h01', 'h01'] }, ['user@10.1.2.3:2200', 'h01']],
  ])('selects %j', (selection, names) => {
    expect(selectHosts(hosts, selection).map((r) => r.name)).toEqual(names);
  });
  it('hosts not in the inventory keep their destination', () => {
    expect(selectHosts(hosts, { hosts: ['u@x:1'] })).toEqual([{ name: 'u@x:1', destination: 'u@x:1' }]);
  });
  it('a bad selector is a syntax error with a position', () => {
    expect(() => selectHosts(hosts, { selector: 'app in (a,b))' })).toThrow(/position/);
  });
});
