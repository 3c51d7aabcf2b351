import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Lessor, type LeaseTable } from '../src/server/lessor.js';
import { KvStateMachine } from '../src/kv/state-machine.js';
import type { KvCommand } from '../src/kv/types.js';

/** A KV state machine driven the way a leader drives it, with the lessor watching what is applied. */
function leader() {
  let now = 1_000_000;
  const lessor = new Lessor({ now: () => now });
  const kv = new KvStateMachine();
  let scans = 0;
  let lookups = 0;
  const table: LeaseTable = {
    leaseTtls: () => {
      scans++;
      return kv.leaseTtls();
    },
    hasLease: (id) => {
      lookups++;
      return kv.hasLease(id);
    },
  };
  const proposed: string[] = [];
  const apply = (c: KvCommand) => {
    const r = kv.apply(c);
    lessor.applied(c, r);
    return r;
  };
  return {
    kv,
    lessor,
    apply,
    proposed,
    counts: () => ({ scans, lookups }),
    advance: (ms: number) => (now += ms),
    now: () => now,
    /** One lessor tick; proposed expiries are applied at once (a healthy quorum). */
    tick: () =>
      lessor.expire(table, (c) => {
        if (c.op === 'lease-expire') proposed.push(c.id);
        apply(c);
        return Promise.resolve();
      }),
  };
}

describe('Lessor', () => {
  it('expires a lease exactly when its TTL has passed since its grant or last keep-alive, batched keep-alives included', () => {
    const l = leader();
    const a = l.apply({ op: 'lease-grant', ttlSeconds: 10 }) as { id: string };
    const b = l.apply({ op: 'lease-grant', ttlSeconds: 5 }) as { id: string };
    l.apply({ op: 'put', key: 'host/a', value: 'x', lease: a.id });
    l.tick();
    l.advance(4999);
    l.tick();
    expect(l.proposed).toEqual([]);
    l.advance(1);
    l.tick();
    expect(l.proposed).toEqual([b.id]);
    l.advance(3000);
    expect(l.apply({ op: 'lease-keepalives', ids: [a.id, b.id] })).toEqual({ type: 'leases', leases: [{ id: a.id, ttlSeconds: 10 }, { id: b.id, ttlSeconds: 0 }], revision: l.kv.revision });
    l.advance(9999);
    l.tick();
    expect(l.proposed).toEqual([b.id]);
    expect(l.kv.get('host/a')?.value).toBe('x');
    l.advance(1);
    l.tick();
    expect(l.proposed).toEqual([b.id, a.id]);
    expect(l.kv.get('host/a')).toBeUndefined();
    expect(l.lessor.size).toBe(0);
  });

  it('reads the leases once after a promotion, not on every tick (5,000 leases)', () => {
    const l = leader();
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) ids.push((l.apply({ op: 'lease-grant', ttlSeconds: 40 }) as { id: string }).id);
    l.lessor.promoted(); // e.g. a leader change: every clock restarts
    l.tick();
    expect(l.counts()).toEqual({ scans: 1, lookups: 0 });
    for (let t = 0; t < 195; t++) {
      l.advance(200);
      l.tick();
      if (t % 50 === 0) l.apply({ op: 'lease-keepalives', ids });
    }
    // nothing came due: 195 ticks looked at no lease
    expect(l.counts()).toEqual({ scans: 1, lookups: 0 });
    expect(l.proposed).toEqual([]);
    l.advance(40_000);
    l.tick();
    expect(l.proposed).toHaveLength(5000);
    expect(l.counts().lookups).toBe(5000);
    expect(l.kv.leaseCount).toBe(0);
  });

  it('proposes an expiry that did not take effect again after 3 s', () => {
    let now = 0;
    const lessor = new Lessor({ now: () => now });
    const kv = new KvStateMachine();
    const g = kv.apply({ op: 'lease-grant', ttlSeconds: 1 });
    lessor.applied({ op: 'lease-grant', ttlSeconds: 1 }, g);
    const tries: number[] = [];
    const failing = () => {
      tries.push(now);
      return Promise.reject(new Error('no quorum'));
    };
    for (now = 0; now <= 8000; now += 100) lessor.expire(kv, failing);
    expect(tries).toEqual([1000, 4000, 7000]);
  });

  it('agrees with a reference that scans every lease each tick (random grants, keep-alives, revokes, ticks)', () => {
    type Step = { t: 'grant'; ttl: number } | { t: 'keep'; pick: number[] } | { t: 'revoke'; pick: number } | { t: 'tick'; ms: number } | { t: 'promote' };
    const step = fc.oneof(
      fc.record({ t: fc.constant('grant' as const), ttl: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ t: fc.constant('keep' as const), pick: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
      fc.record({ t: fc.constant('revoke' as const), pick: fc.nat() }),
      fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 2500 }) }),
      fc.record({ t: fc.constant('promote' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), (steps: Step[]) => {
        const l = leader();
        // reference: deadline per live lease, expired by a full scan
        const ref = new Map<string, number>();
        const refExpired: string[] = [];
        const live = () => [...l.kv.leaseTtls()].map((x) => x.id);
        for (const s of steps) {
          if (s.t === 'grant') {
            const r = l.apply({ op: 'lease-grant', ttlSeconds: s.ttl }) as { id: string };
            ref.set(r.id, l.now() + s.ttl * 1000);
          } else if (s.t === 'keep') {
            const ids = live();
            if (ids.length === 0) continue;
            const chosen = [...new Set(s.pick.map((p) => ids[p % ids.length]!))];
            l.apply({ op: 'lease-keepalives', ids: chosen });
            for (const id of chosen) ref.set(id, l.now() + l.kv.lease(id)!.ttlSeconds * 1000);
          } else if (s.t === 'revoke') {
            const ids = live();
            if (ids.length === 0) continue;
            const id = ids[s.pick % ids.length]!;
            l.apply({ op: 'lease-revoke', id });
            ref.delete(id);
          } else if (s.t === 'promote') {
            l.lessor.promoted();
            // the reference restarts every clock at the next tick
            for (const id of ref.keys()) ref.set(id, Number.NaN);
          } else {
            l.advance(s.ms);
            for (const [id, at] of ref) if (Number.isNaN(at)) ref.set(id, l.now() + l.kv.lease(id)!.ttlSeconds * 1000);
            const due = [...ref].filter(([, at]) => at <= l.now()).map(([id]) => id);
            for (const id of due) {
              ref.delete(id);
              refExpired.push(id);
            }
            const before = l.proposed.length;
            l.tick();
            expect(new Set(l.proposed.slice(before))).toEqual(new Set(due));
          }
        }
        expect(l.proposed).toHaveLength(refExpired.length);
      }),
      { numRuns: 300 },
    );
  });
});
