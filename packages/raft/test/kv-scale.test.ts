// The KV state machine's structures for large stores (issue 15): the block-sorted key list,
// the prefix index of watchers, and snapshot parsing that never builds one huge string.
// Each is checked against a plain reference implementation on random inputs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KvStateMachine } from '../src/kv/state-machine.js';
import { SortedKeys, BLOCK_KEYS } from '../src/kv/sorted-keys.js';
import { parseSnapshotJson } from '../src/kv/snapshot-parse.js';
import { compareKeys } from '../src/kv/key-order.js';
import type { WatchEvent } from '../src/kv/types.js';

const keyArb = fc.string({ minLength: 1, maxLength: 5, unit: fc.constantFrom('a', 'b', 'c', '/', 'é', '\u{1f600}', '\u{e000}') });

describe('SortedKeys', () => {
  it('agrees with a sorted array under random inserts and deletes, and scans like a filter (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), keyArb), { maxLength: 400 }),
        fc.string({ maxLength: 2, unit: fc.constantFrom('a', 'b', '/') }),
        fc.option(keyArb, { nil: undefined }),
        (ops, prefix, after) => {
          const s = new SortedKeys();
          const ref = new Set<string>();
          for (const [add, k] of ops) {
            if (add) {
              s.insert(k);
              ref.add(k);
            } else expect(s.delete(k)).toBe(ref.delete(k));
          }
          const sorted = [...ref].sort(compareKeys);
          expect(s.toArray()).toEqual(sorted);
          expect(s.size).toBe(sorted.length);
          const want = sorted.filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0));
          expect([...s.scan(prefix, after)]).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('splits blocks: many keys in and out in any order stay sorted', () => {
    const s = new SortedKeys();
    const n = BLOCK_KEYS * 9;
    const keys = Array.from({ length: n }, (_, i) => `/k/${((i * 7919) % n).toString().padStart(6, '0')}`);
    for (const k of keys) s.insert(k);
    expect(s.toArray()).toEqual([...keys].sort(compareKeys));
    for (const k of keys.filter((_, i) => i % 3 === 0)) s.delete(k);
    const left = keys.filter((_, i) => i % 3 !== 0).sort(compareKeys);
    expect(s.toArray()).toEqual(left);
    expect([...s.scan('/k/0001')]).toEqual(left.filter((k) => k.startsWith('/k/0001')));
    expect(SortedKeys.fromSorted(left).toArray()).toEqual(left);
  });
});

describe('watch fan-out by prefix', () => {
  it('every watcher gets exactly the changes under its prefix, in order, one batch per revision (property, vs a filter)', () => {
    const prefixArb = fc.string({ maxLength: 3, unit: fc.constantFrom('a', 'b', '/') });
    fc.assert(
      fc.property(
        fc.array(prefixArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.oneof(fc.tuple(fc.constant('put' as const), fc.array(keyArb, { minLength: 1, maxLength: 3 })), fc.tuple(fc.constant('cancel' as const), fc.nat())), { maxLength: 40 }),
        (prefixes, steps) => {
          const kv = new KvStateMachine();
          const got = prefixes.map(() => [] as WatchEvent[][]);
          const all: WatchEvent[][] = [];
          const cancelledAt = prefixes.map(() => Infinity);
          kv.watch('', undefined, { onEvents: (e) => all.push([...e]), onCompacted: () => undefined });
          const handles = prefixes.map((p, i) => kv.watch(p, undefined, { onEvents: (e) => got[i]!.push([...e]), onCompacted: () => undefined }));
          for (const [op, arg] of steps) {
            if (op === 'cancel') {
              const i = arg % prefixes.length;
              handles[i]!.cancel();
              cancelledAt[i] = Math.min(cancelledAt[i]!, kv.revision);
            } else {
              const keys = [...new Set(arg)];
              kv.apply({ op: 'txn', compare: [], success: keys.map((key) => ({ put: { key, value: 'v' } })), failure: [] });
            }
          }
          prefixes.forEach((p, i) => {
            const want = all.map((batch) => batch.filter((e) => e.key.startsWith(p) && e.modRevision <= cancelledAt[i]!)).filter((b) => b.length > 0);
            expect(got[i]).toEqual(want);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a restore replays to watchers under many prefixes what they had not seen, and nothing twice', () => {
    const a = new KvStateMachine();
    const seen: string[] = [];
    a.watch('/h/1/', undefined, { onEvents: (e) => seen.push(...e.map((x) => x.key)), onCompacted: () => undefined });
    a.apply({ op: 'put', key: '/h/2/x', value: '1' });
    a.apply({ op: 'put', key: '/h/1/x', value: '1' });
    const b = new KvStateMachine();
    for (const key of ['/h/2/x', '/h/1/x', '/h/2/y', '/h/1/y']) b.apply({ op: 'put', key, value: '1' });
    a.restore(b.snapshot());
    expect(seen).toEqual(['/h/1/x', '/h/1/y']);
  });
});

describe('snapshot parsing', () => {
  it('piece by piece equals JSON.parse for any snapshot-shaped JSON (property)', () => {
    const value = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(value, fc.array(value, { maxLength: 6 }))), fc.boolean(), (obj, spaced) => {
        const text = spaced ? JSON.stringify(obj, null, 1) : JSON.stringify(obj);
        const bytes = new TextEncoder().encode(text);
        expect(parseSnapshotJson(bytes, 0)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses bad JSON with the byte where it stopped', () => {
    expect(() => parseSnapshotJson(new TextEncoder().encode('{"kvs":[{"a":1},'), 0)).toThrow(SyntaxError);
    expect(() => parseSnapshotJson(new TextEncoder().encode('{"v":1} x'), 0)).toThrow(/after the snapshot at byte/);
  });

  it('a store restored from a snapshot parsed in pieces is the same store', () => {
    const a = new KvStateMachine();
    for (let i = 0; i < 2000; i++) a.apply({ op: 'put', key: `/k/${i % 700}/é${i}`, value: `"v\\${i}\u{1f600}` });
    a.apply({ op: 'lease-grant', ttlSeconds: 10 });
    const snap = a.snapshot();
    const parsed = parseSnapshotJson(snap, 0);
    expect(parsed).toEqual(JSON.parse(new TextDecoder().decode(snap)));
    const b = new KvStateMachine();
    b.restore(snap);
    expect(b.range({ prefix: '/k/1' })).toEqual(a.range({ prefix: '/k/1' }));
    expect(b.revision).toBe(a.revision);
  });
});
