// `flo store check` / `flo store repair --keep-intact` and a damaged file store, through the
// built flo (issue 12 §2): `flo get` used to exit 0 with 499 of 500 objects and the next apply
// wrote on top; now every command refuses, names the file and offset, and the repair keeps
// every intact record up to the damage and lists what it dropped.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floArgv, makeFlo, write, type Flo } from './cluster-harness.js';

let flo: Flo;
let log: string;
let damagedAt: number;
const name = (i: number): string => `h${String(i).padStart(4, '0')}`;
const hostsYaml = (from: number, to: number): string =>
  Array.from({ length: to - from }, (_, k) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${name(from + k)}}\nspec: {local: {dir: ./hosts/${name(from + k)}}}\n`).join('---\n');

/** Runs flo with exactly these arguments (no store added), capturing both streams. */
function floRaw(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...floArgv(), ...args], { cwd: flo.dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const storeUrl = (): string => `file://${flo.dir}/store`;

beforeAll(() => {
  flo = makeFlo();
  write(flo.dir, 'hosts.yaml', hostsYaml(0, 500));
  flo.run(['apply', '-f', 'hosts.yaml']);
  log = path.join(flo.dir, 'store/store/log.jsonl');
  // damage record 250 of 500 in place (a bad sector, a stray write)
  const bytes = readFileSync(log);
  let line = 0;
  damagedAt = 0;
  for (let i = 0; i < bytes.length && line < 249; i++) {
    if (bytes[i] !== 0x0a) continue;
    line++;
    damagedAt = i + 1;
  }
  bytes.write('#####', damagedAt + 30, 'latin1');
  writeFileSync(log, bytes);
});
afterAll(() => {
  rmSync(flo.dir, { recursive: true, force: true });
});

describe('a damaged file store through flo', () => {
  it('flo get refuses (exit 1) naming the file, the offset and the repair — it used to print 499 of 500', () => {
    const r = floRaw(['get', 'hosts', '-o', 'json', '--store', storeUrl()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`StoreCorruptError: corrupt file store: ${log} at byte ${damagedAt}`);
    expect(r.stderr).toContain(`flo store repair --keep-intact --store ${storeUrl()}`);
  });

  it('the next apply does not write on top of the damage', () => {
    const before = readFileSync(log);
    write(flo.dir, 'more.yaml', hostsYaml(500, 501));
    expect(flo.run(['apply', '-f', 'more.yaml'], 1).stderr).toContain('corrupt file store');
    expect(readFileSync(log)).toEqual(before);
  });

  it('flo store check reports the damage with offsets and what a repair would drop (exit 1); -o json for scripts', () => {
    const text = flo.run(['store', 'check'], 1).stdout;
    expect(text).toContain('status    DAMAGED: 1 problem');
    expect(text).toContain(`${log} at byte ${damagedAt}: record checksum mismatch`);
    expect(text).toContain('keep revision 249 (249 keys)');
    expect(text).toContain('drop 251 records');
    const report = JSON.parse(flo.run(['store', 'check', '-o', 'json'], 1).stdout) as {
      type: string;
      status: string;
      damage: { file: string; offset: number }[];
      repair: { keep: { revision: number }; dropped: { records: number; fromRevision: number; toRevision: number; keys: string[] } };
    };
    expect(report).toMatchObject({ type: 'file', status: 'damaged', damage: [{ file: log, offset: damagedAt }] });
    expect(report.repair).toMatchObject({ keep: { revision: 249 }, dropped: { records: 251, fromRevision: 250, toRevision: 500 } });
    expect(report.repair.dropped.keys).toContain(`/flotilla/v1/hosts/${name(499)}`);
  });

  it('flo store repair without --keep-intact changes nothing, says what it would drop, exits 2', () => {
    const before = readFileSync(log);
    const r = floRaw(['store', 'repair', '--store', storeUrl()]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('would drop 251 records');
    expect(r.stderr).toContain('refusing to repair without --keep-intact');
    expect(readFileSync(log)).toEqual(before);
  });

  it('flo store repair --keep-intact keeps the 249 intact hosts, keeps the damaged files aside, lists what was dropped', () => {
    const original = readFileSync(log);
    const out = flo.run(['store', 'repair', '--keep-intact']).stdout;
    expect(out).toContain('kept revision 249 (249 keys)');
    expect(out).toMatch(/dropped 251 records from byte \d+ of the log on, revisions 250–500/);
    expect(out).toContain(`/flotilla/v1/hosts/${name(250)}`);
    const aside = readdirSync(path.dirname(log)).filter((f) => f.startsWith('log.jsonl.damaged-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(path.dirname(log), aside[0]!))).toEqual(original);
    expect(out).toContain(`original kept as ${path.join(path.dirname(log), aside[0]!)}`);
    const items = flo.json<{ items: { name: string }[] }>(['get', 'hosts']).items;
    expect(items.map((h) => h.name)).toEqual(Array.from({ length: 249 }, (_, i) => name(i)));
    expect(flo.run(['store', 'check']).stdout).toContain('status    ok');
    flo.run(['apply', '-f', 'more.yaml']);
    expect(flo.json<{ items: unknown[] }>(['get', 'hosts']).items).toHaveLength(250);
  });

  it('a torn last record is a notice for check, and cut by the next command with a warning', () => {
    appendFileSync(log, '{"crc":"00000000","rev":251,"type":"put","key":"/flotilla/v1/hosts/x","val');
    expect(flo.run(['store', 'check']).stdout).toMatch(/notice {4}.*torn last record/);
    const r = floRaw(['get', 'hosts', '-o', 'json', '--store', storeUrl()]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/flo: warning: .*cut a torn last record/);
    expect(existsSync(log)).toBe(true);
  });

  it('a store written before checksums is read once and rewritten with them, with a one-line notice', () => {
    const old = path.join(flo.dir, 'old');
    mkdirSync(path.join(old, 'store'), { recursive: true, mode: 0o700 });
    const host = (i: number, rev: number): string =>
      JSON.stringify({ rev, type: 'put', key: `/flotilla/v1/hosts/${name(i)}`, value: JSON.stringify({ apiVersion: 'flotilla.dev/v1', kind: 'Host', metadata: { name: name(i) }, spec: { local: { dir: `./hosts/${name(i)}` } } }), createRevision: rev, version: 1 });
    writeFileSync(path.join(old, 'store/log.jsonl'), `${host(0, 1)}\n${host(1, 2)}\n`, { mode: 0o600 });
    const r = floRaw(['get', 'hosts', '-o', 'json', '--store', `file://${old}`]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { items: { name: string }[] }).items.map((h) => h.name)).toEqual([name(0), name(1)]);
    expect(r.stderr).toMatch(/^flo: warning: .*rewrote the store with CRC-32C checksums \(snapshot at revision 2 and 2 log records\); it was written by an older flo\n$/);
    for (const line of readFileSync(path.join(old, 'store/log.jsonl'), 'utf8').trim().split('\n')) expect(line).toMatch(/^\{"crc":"[0-9a-f]{8}","rev":/);
    expect(floRaw(['get', 'hosts', '--store', `file://${old}`]).stderr).toBe('');
  });

  it('remote stores: check reports reachability (exit 1 when unreachable); repair applies to file stores only (exit 2)', () => {
    const check = floRaw(['store', 'check', '--store', 'etcd://127.0.0.1:1']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('UNREACHABLE');
    expect(check.stdout).toContain('Repair applies to file stores only');
    const repair = floRaw(['store', 'repair', '--keep-intact', '--store', 'flotilla://127.0.0.1:1']);
    expect(repair.code).toBe(2);
    expect(repair.stderr).toContain('store repair applies to file stores only');
  });
});
