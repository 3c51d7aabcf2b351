import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizable, type Operation } from '../src/testing/index.js';

const put = (client: number, value: string, call: number, ret: number, key = 'k'): Operation => ({ client, key, input: { kind: 'put', value }, output: null, call, ret });
const get = (client: number, output: string | null, call: number, ret: number, key = 'k'): Operation => ({ client, key, input: { kind: 'get' }, output, call, ret });

describe('checkLinearizable (per-key register)', () => {
  const table: [string, Operation[], 'ok' | 'illegal'][] = [
    ['empty history', [], 'ok'],
    ['read of the initial value', [get(1, null, 1, 2)], 'ok'],
    ['sequential write then read', [put(1, 'a', 1, 2), get(2, 'a', 3, 4)], 'ok'],
    ['stale read after a completed write', [put(1, 'a', 1, 2), put(1, 'b', 3, 4), get(2, 'a', 5, 6)], 'illegal'],
    ['read of a value never written', [put(1, 'a', 1, 2), get(2, 'z', 3, 4)], 'illegal'],
    ['read concurrent with a write may see either (old)', [put(1, 'a', 1, 4), get(2, null, 2, 3)], 'ok'],
    ['read concurrent with a write may see either (new)', [put(1, 'a', 1, 4), get(2, 'a', 2, 3)], 'ok'],
    ['reads must not go back in time', [put(1, 'a', 1, 10), get(2, 'a', 2, 3), get(3, null, 4, 5)], 'illegal'],
    ['unknown-outcome write observed', [put(1, 'a', 1, Infinity), get(2, 'a', 2, 3)], 'ok'],
    ['unknown-outcome write never observed', [put(1, 'a', 1, Infinity), get(2, null, 2, 3)], 'ok'],
    ['unknown-outcome write cannot take effect before its call', [get(2, 'a', 1, 2), put(1, 'a', 3, Infinity)], 'illegal'],
    ['keys are independent', [put(1, 'a', 1, 2, 'x'), get(2, null, 3, 4, 'y'), get(2, 'a', 5, 6, 'x')], 'ok'],
    ['a write lost after it was acknowledged', [put(1, 'a', 1, 2), put(2, 'b', 3, 4), get(3, 'b', 5, 6), get(3, 'a', 7, 8)], 'illegal'],
  ];
  it.each(table)('%s → %s', (_name, history, want) => {
    expect(checkLinearizable(history)).toBe(want);
  });

  // A brute-force reference: try every order consistent with real time, where an operation
  // with an unknown outcome may also be left out.
  function bruteForce(history: Operation[]): boolean {
    const byKey = new Map<string, Operation[]>();
    for (const op of history) byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
    for (const ops of byKey.values()) if (!searchKey(ops, new Set(), null)) return false;
    return true;
  }
  function searchKey(ops: Operation[], done: Set<number>, value: string | null): boolean {
    const pending = ops.map((_, i) => i).filter((i) => !done.has(i));
    if (pending.every((i) => ops[i]!.ret === Infinity)) return true;
    for (const i of pending) {
      const op = ops[i]!;
      // op may go next only if no other pending operation returned before op was called.
      if (pending.some((j) => j !== i && ops[j]!.ret < op.call)) continue;
      if (op.input.kind === 'get' && op.output !== value) continue;
      const next = op.input.kind === 'put' ? op.input.value : value;
      done.add(i);
      if (searchKey(ops, done, next)) {
        done.delete(i);
        return true;
      }
      done.delete(i);
    }
    return false;
  }

  const history = fc
    .array(
      fc.record({
        client: fc.integer({ min: 1, max: 3 }),
        key: fc.constantFrom('a', 'b'),
        put: fc.boolean(),
        value: fc.constantFrom('x', 'y', 'z'),
        read: fc.constantFrom<string | null>(null, 'x', 'y', 'z'),
        start: fc.integer({ min: 0, max: 30 }),
        length: fc.integer({ min: 1, max: 10 }),
        unknown: fc.boolean(),
      }),
      { maxLength: 7 },
    )
    .map((raw) =>
      raw.map((r, i): Operation => {
        const call = r.start * 20 + i; // distinct times
        const ret = r.put && r.unknown ? Infinity : call + r.length * 20 + 1;
        return r.put ? put(r.client, `${r.value}${i}`, call, ret, r.key) : get(r.client, r.read === null ? null : `${r.read}${(i + 1) % 3}`, call, ret, r.key);
      }),
    );

  it('agrees with a brute-force search on random small histories', () => {
    fc.assert(
      fc.property(history, (h) => {
        expect(checkLinearizable(h) === 'ok').toBe(bruteForce(h));
      }),
      { numRuns: 400, seed: 20261126 },
    );
  });

  it('accepts every history produced by a real atomic register', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ put: fc.boolean(), start: fc.integer({ min: 0, max: 50 }), len: fc.integer({ min: 0, max: 20 }), at: fc.double({ min: 0, max: 1, noNaN: true }) }), { maxLength: 30 }),
        (raw) => {
          // Each operation takes effect at a point inside its interval; replay in that order.
          const ops = raw.map((r, i) => ({ ...r, i, call: r.start * 100 + i, ret: (r.start + r.len) * 100 + 50 + i }));
          const points = ops.map((o) => ({ o, t: o.call + (o.ret - o.call) * o.at })).sort((a, b) => a.t - b.t);
          let value: string | null = null;
          const out: Operation[] = [];
          for (const { o } of points) {
            if (o.put) {
              value = `v${o.i}`;
              out.push(put(o.i, value, o.call, o.ret));
            } else out.push(get(o.i, value, o.call, o.ret));
          }
          expect(checkLinearizable(out)).toBe('ok');
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});
