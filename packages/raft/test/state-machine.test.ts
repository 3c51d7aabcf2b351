import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KvStateMachine, SNAPSHOT_CHUNK_ITEMS } from '../src/kv/state-machine.js';
import { compareKeys } from '../src/kv/key-order.js';
import { isKvError } from '../src/kv/errors.js';
import type { KvCommand, KvResult, WatchEvent } from '../src/kv/types.js';

function ok<T extends KvResult['type']>(r: KvResult, type: T): Extract<KvResult, { type: T }> {
  if (r.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(r)}`);
  return r as Extract<KvResult, { type: T }>;
}

function collect(kv: KvStateMachine, prefix: string, from?: number) {
  const batches: WatchEvent[][] = [];
  const compacted: number[] = [];
  const handle = kv.watch(prefix, from, {
    onEvents: (e) => batches.push([...e]),
    onCompacted: (r) => compacted.push(r),
  });
  return { batches, compacted, handle, events: () => batches.flat() };
}

describe('revisions (etcd semantics)', () => {
  it('starts at revision 1 and each write advances it by one; the write revision is the key modRevision', () => {
    const kv = new KvStateMachine();
    expect(kv.revision).toBe(1);
    const r1 = ok(kv.apply({ op: 'put', key: 'a', value: '1' }), 'put');
    expect(r1.revision).toBe(2);
    expect(kv.get('a')).toEqual({ key: 'a', value: '1', createRevision: 2, modRevision: 2, version: 1 });
    const r2 = ok(kv.apply({ op: 'put', key: 'a', value: '2' }), 'put');
    expect(r2.revision).toBe(3);
    expect(kv.get('a')).toEqual({ key: 'a', value: '2', createRevision: 2, modRevision: 3, version: 2 });
    ok(kv.apply({ op: 'put', key: 'b', value: 'x' }), 'put');
    expect(kv.revision).toBe(4);
  });

  it('delete advances the revision, and a re-created key starts a new incarnation', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'a', value: '1' });
    kv.apply({ op: 'put', key: 'a', value: '2' });
    expect(ok(kv.apply({ op: 'delete', key: 'a' }), 'delete').revision).toBe(4);
    expect(kv.get('a')).toBeUndefined();
    kv.apply({ op: 'put', key: 'a', value: '3' });
    expect(kv.get('a')).toEqual({ key: 'a', value: '3', createRevision: 5, modRevision: 5, version: 1 });
  });

  it.each<[string, KvCommand, Partial<KvResult>]>([
    ['delete of an absent key', { op: 'delete', key: 'zz' }, { type: 'error', code: 'not-found' }],
    ['put with a stale prevRevision', { op: 'put', key: 'a', value: 'v', prevRevision: 1 }, { type: 'error', code: 'conflict', modRevision: 2 }],
    ['put create-only on a present key', { op: 'put', key: 'a', value: 'v', prevRevision: 0 }, { type: 'error', code: 'conflict', modRevision: 2 }],
    ['delete with a stale prevRevision', { op: 'delete', key: 'a', prevRevision: 7 }, { type: 'error', code: 'conflict', modRevision: 2 }],
    ['put with a missing lease', { op: 'put', key: 'a', value: 'v', lease: '99' }, { type: 'error', code: 'lease-not-found' }],
    ['compaction into the future', { op: 'compact', revision: 50 }, { type: 'error', code: 'future-revision' }],
    ['keepalive of a missing lease', { op: 'lease-keepalive', id: '5' }, { type: 'error', code: 'lease-not-found' }],
  ])('%s fails without any effect', (_name, cmd, expected) => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'a', value: 'orig' });
    const before = kv.snapshot();
    expect(kv.apply(cmd)).toMatchObject(expected);
    expect(kv.revision).toBe(2);
    expect(new TextDecoder().decode(kv.snapshot())).toBe(new TextDecoder().decode(before));
  });

  it('compare-and-set succeeds with the current modRevision and create-only with 0', () => {
    const kv = new KvStateMachine();
    expect(ok(kv.apply({ op: 'put', key: 'k', value: 'a', prevRevision: 0 }), 'put').revision).toBe(2);
    expect(ok(kv.apply({ op: 'put', key: 'k', value: 'b', prevRevision: 2 }), 'put').revision).toBe(3);
    expect(ok(kv.apply({ op: 'delete', key: 'k', prevRevision: 3 }), 'delete').revision).toBe(4);
    expect(kv.apply({ op: 'put', key: 'k', value: 'c', prevRevision: 3 })).toMatchObject({ code: 'conflict', modRevision: 0 });
  });
});

describe('transactions', () => {
  it('all writes of a txn share one revision, reads see earlier ops of the same branch', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'x', value: '0' });
    const r = ok(
      kv.apply({
        op: 'txn',
        compare: [{ key: 'x', modRevision: 2 }, { key: 'y', modRevision: 0 }],
        success: [{ put: { key: 'x', value: '1' } }, { put: { key: 'y', value: '2' } }, { get: { key: 'y' } }, { delete: { key: 'nope' } }],
        failure: [],
      }),
      'txn',
    );
    expect(r.succeeded).toBe(true);
    expect(r.revision).toBe(3);
    expect(r.results).toEqual([
      { put: { revision: 3 } },
      { put: { revision: 3 } },
      { get: { key: 'y', value: '2', createRevision: 3, modRevision: 3, version: 1 } },
      { delete: { deleted: 0, revision: 3 } },
    ]);
    expect(kv.get('x')?.modRevision).toBe(3);
    expect(kv.get('y')?.modRevision).toBe(3);
  });

  it('a failed compare runs the failure branch; a read-only txn keeps the revision', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'x', value: '0' });
    const r = ok(
      kv.apply({ op: 'txn', compare: [{ key: 'x', modRevision: 1 }], success: [{ delete: { key: 'x' } }], failure: [{ get: { key: 'x' } }] }),
      'txn',
    );
    expect(r.succeeded).toBe(false);
    expect(r.revision).toBe(2);
    expect(r.results).toEqual([{ get: kv.get('x') }]);
  });

  it('an empty compare list succeeds', () => {
    const kv = new KvStateMachine();
    expect(ok(kv.apply({ op: 'txn', compare: [], success: [{ put: { key: 'a', value: 'b' } }], failure: [] }), 'txn').succeeded).toBe(true);
  });
});

describe('range', () => {
  it('orders by key bytes, filters by prefix and pages with after/limit', () => {
    const kv = new KvStateMachine();
    for (const k of ['b/2', 'a', 'b/1', 'b/10', 'c', 'b']) kv.apply({ op: 'put', key: k, value: k });
    expect(kv.range({ prefix: 'b/' }).items.map((i) => i.key)).toEqual(['b/1', 'b/10', 'b/2']);
    const p1 = kv.range({ prefix: 'b', limit: 2 });
    expect(p1.items.map((i) => i.key)).toEqual(['b', 'b/1']);
    expect(p1.more).toBe(true);
    const p2 = kv.range({ prefix: 'b', limit: 2, after: 'b/1' });
    expect(p2.items.map((i) => i.key)).toEqual(['b/10', 'b/2']);
    expect(p2.more).toBe(false);
    expect(p2.revision).toBe(kv.revision);
    expect(kv.range().items).toHaveLength(6);
  });

  it('sorts like UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF61 (3 UTF-8 bytes, EF BD A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8 byte order.
    const a = '\uff61';
    const b = '\u{1f600}';
    expect(compareKeys(a, b)).toBeLessThan(0);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBeLessThan(0);
  });

  it('agrees with a sorted reference map (property)', () => {
    const keyArb = fc.string({ minLength: 1, maxLength: 4, unit: fc.constantFrom('a', 'b', '/', 'é', '\u{1f600}') });
    const cmdArb = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
      fc.record({ op: fc.constant('delete' as const), key: keyArb }),
    );
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 60 }), keyArb, fc.option(keyArb, { nil: undefined }), fc.integer({ min: 1, max: 5 }), (cmds, prefix, after, limit) => {
        const kv = new KvStateMachine();
        const ref = new Map<string, string>();
        for (const c of cmds) {
          kv.apply(c);
          if (c.op === 'put') ref.set(c.key, c.value);
          else ref.delete(c.key);
        }
        const expectedAll = [...ref.keys()]
          .filter((k) => k.startsWith(prefix) && (after === undefined || Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0))
          .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        const got = kv.range({ prefix, limit, ...(after !== undefined ? { after } : {}) });
        expect(got.items.map((i) => i.key)).toEqual(expectedAll.slice(0, limit));
        expect(got.more).toBe(expectedAll.length > limit);
        for (const i of got.items) expect(i.value).toBe(ref.get(i.key));
      }),
      { numRuns: 300 },
    );
  });
});

describe('leases', () => {
  it('attaches keys, deletes them in one revision on revoke or expiry, and detaches on overwrite', () => {
    const kv = new KvStateMachine();
    const l = ok(kv.apply({ op: 'lease-grant', ttlSeconds: 10 }), 'lease');
    expect(l).toMatchObject({ id: '1', ttlSeconds: 10 });
    kv.apply({ op: 'put', key: 'a', value: '1', lease: l.id });
    kv.apply({ op: 'put', key: 'b', value: '1', lease: l.id });
    kv.apply({ op: 'put', key: 'c', value: '1', lease: l.id });
    kv.apply({ op: 'put', key: 'c', value: '2' }); // detached
    expect(kv.lease(l.id)?.keys).toEqual(['a', 'b']);
    const w = collect(kv, '');
    const r = ok(kv.apply({ op: 'lease-expire', id: l.id }), 'lease');
    expect(r.revision).toBe(6);
    expect(kv.get('a')).toBeUndefined();
    expect(kv.get('b')).toBeUndefined();
    expect(kv.get('c')?.value).toBe('2');
    expect(w.batches).toEqual([
      [
        { type: 'delete', key: 'a', value: '', createRevision: 0, modRevision: 6, version: 0 },
        { type: 'delete', key: 'b', value: '', createRevision: 0, modRevision: 6, version: 0 },
      ],
    ]);
    expect(kv.apply({ op: 'lease-revoke', id: l.id })).toMatchObject({ code: 'lease-not-found' });
    expect(ok(kv.apply({ op: 'lease-grant', ttlSeconds: 5 }), 'lease').id).toBe('2');
  });

  it('keepalive answers the TTL; revoking a lease without keys keeps the revision', () => {
    const kv = new KvStateMachine();
    const l = ok(kv.apply({ op: 'lease-grant', ttlSeconds: 3 }), 'lease');
    expect(kv.apply({ op: 'lease-keepalive', id: l.id })).toMatchObject({ type: 'lease', ttlSeconds: 3 });
    expect(ok(kv.apply({ op: 'lease-revoke', id: l.id }), 'lease').revision).toBe(1);
    expect(kv.leases()).toEqual([]);
  });
});

describe('watch', () => {
  it('replays history from fromRevision (inclusive), then delivers live events filtered by prefix', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'a/1', value: 'x' }); // 2
    kv.apply({ op: 'put', key: 'b/1', value: 'y' }); // 3
    kv.apply({ op: 'put', key: 'a/2', value: 'z' }); // 4
    const w = collect(kv, 'a/', 3);
    expect(w.events().map((e) => [e.key, e.modRevision])).toEqual([['a/2', 4]]);
    kv.apply({ op: 'delete', key: 'a/1' }); // 5
    kv.apply({ op: 'put', key: 'b/2', value: 'q' }); // 6
    expect(w.events().map((e) => [e.type, e.key, e.modRevision])).toEqual([
      ['put', 'a/2', 4],
      ['delete', 'a/1', 5],
    ]);
    w.handle.cancel();
    kv.apply({ op: 'put', key: 'a/3', value: 'q' });
    expect(w.events()).toHaveLength(2);
    expect(kv.watcherCount).toBe(0);
  });

  it('defaults to the next revision', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'a', value: 'x' });
    const w = collect(kv, '');
    expect(w.events()).toEqual([]);
    kv.apply({ op: 'put', key: 'a', value: 'y' });
    expect(w.events()).toEqual([{ type: 'put', key: 'a', value: 'y', createRevision: 2, modRevision: 3, version: 2 }]);
  });

  it('several prefixes are one watch of their union: each change once (overlapping prefixes too), a revision\'s events together, history and live', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'h1/a', value: '1' }); // 2
    kv.apply({ op: 'put', key: 'x', value: '1' }); // 3
    kv.apply({ op: 'put', key: 'h22/b', value: '1' }); // 4
    const batches: WatchEvent[][] = [];
    const handle = kv.watch(['h1/', 'h22/', 'h22/b', 'h1/'], 2, { onEvents: (e) => batches.push([...e]), onCompacted: () => undefined });
    expect(batches.map((b) => b.map((e) => [e.key, e.modRevision]))).toEqual([[['h1/a', 2]], [['h22/b', 4]]]);
    kv.apply({ op: 'txn', compare: [], success: [{ put: { key: 'h1/c', value: '2' } }, { put: { key: 'y', value: '2' } }, { put: { key: 'h22/b', value: '2' } }], failure: [] }); // 5
    kv.apply({ op: 'delete', key: 'h1/a' }); // 6
    expect(batches.slice(2).map((b) => b.map((e) => [e.type, e.key, e.modRevision]))).toEqual([
      [['put', 'h1/c', 5], ['put', 'h22/b', 5]],
      [['delete', 'h1/a', 6]],
    ]);
    handle.cancel();
    expect(kv.watcherCount).toBe(0);
    // the prefixes it alone used are gone with it: a single watch still works
    const w = collect(kv, 'h1/');
    kv.apply({ op: 'put', key: 'h22/z', value: '3' });
    kv.apply({ op: 'put', key: 'h1/z', value: '3' });
    expect(w.events().map((e) => e.key)).toEqual(['h1/z']);
  });

  it('a fromRevision past the current revision (a follower behind what the client saw) delivers nothing before it', () => {
    const kv = new KvStateMachine();
    kv.apply({ op: 'put', key: 'a', value: 'x' }); // 2
    const w = collect(kv, '', 5);
    for (let i = 0; i < 5; i++) kv.apply({ op: 'put', key: `k${i}`, value: 'v' }); // 3..7
    expect(w.events().map((e) => e.modRevision)).toEqual([5, 6, 7]);
  });

  it('refuses a compacted fromRevision with the compact revision; the compact revision itself is still served', () => {
    const kv = new KvStateMachine();
    for (let i = 0; i < 5; i++) kv.apply({ op: 'put', key: 'k', value: String(i) }); // revs 2..6
    expect(ok(kv.apply({ op: 'compact', revision: 4 }), 'compact').revision).toBe(4);
    expect(kv.compactRevision).toBe(4);
    let err: unknown;
    try {
      kv.watch('', 3, { onEvents: () => undefined, onCompacted: () => undefined });
    } catch (e) {
      err = e;
    }
    expect(isKvError(err) && err.code === 'compacted' && err.compactRevision === 4).toBe(true);
    const w = collect(kv, '', 4);
    expect(w.events().map((e) => e.modRevision)).toEqual([4, 5, 6]);
    expect(kv.apply({ op: 'compact', revision: 4 })).toMatchObject({ code: 'compacted', compactRevision: 4 });
  });
});

describe('snapshot and restore', () => {
  it('round-trips the whole state, and a restored replica continues identically', () => {
    const a = new KvStateMachine();
    const cmds: KvCommand[] = [
      { op: 'put', key: 'x', value: '1' },
      { op: 'lease-grant', ttlSeconds: 9 },
      { op: 'put', key: 'y', value: '2', lease: '1' },
      { op: 'delete', key: 'x' },
      { op: 'compact', revision: 3 },
    ];
    for (const c of cmds) a.apply(c);
    const b = new KvStateMachine();
    b.restore(a.snapshot());
    expect(b.revision).toBe(a.revision);
    expect(b.compactRevision).toBe(3);
    expect(b.range()).toEqual(a.range());
    expect(b.leases()).toEqual(a.leases());
    const next: KvCommand[] = [{ op: 'lease-grant', ttlSeconds: 1 }, { op: 'lease-revoke', id: '1' }, { op: 'put', key: 'z', value: '3' }];
    for (const c of next) expect(b.apply(c)).toEqual(a.apply(c));
    expect(new TextDecoder().decode(b.snapshot())).toBe(new TextDecoder().decode(a.snapshot()));
  });

  it('a watcher of a restored replica continues from history, or is told it was compacted', () => {
    const leader = new KvStateMachine();
    const follower = new KvStateMachine();
    const w = collect(follower, '');
    for (let i = 0; i < 4; i++) leader.apply({ op: 'put', key: `k${i}`, value: 'v' }); // 2..5
    follower.restore(leader.snapshot());
    expect(w.events().map((e) => e.modRevision)).toEqual([2, 3, 4, 5]);
    leader.apply({ op: 'compact', revision: 5 });
    const late = new KvStateMachine();
    const w2 = collect(late, '');
    late.restore(leader.snapshot());
    expect(w2.compacted).toEqual([5]);
    expect(late.watcherCount).toBe(0);
  });

  it('rejects a snapshot that is not one', () => {
    expect(() => new KvStateMachine().restore(new TextEncoder().encode('nope'))).toThrow(/not valid JSON/);
  });
});

describe('KvStateMachine.captureSnapshot', () => {
  const concat = (parts: Iterable<Uint8Array>) => Buffer.concat([...parts]).toString('utf8');

  it.each([
    ['an empty store', 0, 0],
    ['one chunk', 5, 0],
    ['several chunks of keys and history, with leases', SNAPSHOT_CHUNK_ITEMS * 2 + 3, 3],
  ])('%s: the chunks, read after later writes, are the state at capture time', (_name, keys, leases) => {
    const kv = new KvStateMachine();
    for (let l = 0; l < leases; l++) kv.apply({ op: 'lease-grant', ttlSeconds: 10 + l });
    for (let i = 0; i < keys; i++) kv.apply({ op: 'put', key: `k/${i % 700}`, value: `v${i}`, ...(leases > 0 && i % 3 === 0 ? { lease: '1' } : {}) });
    if (keys > 0) kv.apply({ op: 'delete', key: 'k/0' });
    const expected = new TextDecoder().decode(kv.snapshot());
    const capture = kv.captureSnapshot();
    // Changes after the capture: new keys, overwrites, a compaction, a revoked lease.
    for (let i = 0; i < 50; i++) kv.apply({ op: 'put', key: `k/${i}`, value: 'later' });
    kv.apply({ op: 'compact', revision: kv.revision - 10 });
    if (leases > 0) kv.apply({ op: 'lease-revoke', id: '1' });
    const got = concat(capture);
    expect(got).toBe(expected);
    const restored = new KvStateMachine();
    restored.restore(new TextEncoder().encode(got));
    expect(restored.revision).toBe(JSON.parse(expected).revision);
    expect(new TextDecoder().decode(restored.snapshot())).toBe(expected);
  });

  it('yields more than one chunk for a large state, so a host can serialize between other work', () => {
    const kv = new KvStateMachine();
    for (let i = 0; i < SNAPSHOT_CHUNK_ITEMS * 3; i++) kv.apply({ op: 'put', key: `k${i}`, value: 'x' });
    expect([...kv.captureSnapshot()].length).toBeGreaterThan(3);
  });
});
