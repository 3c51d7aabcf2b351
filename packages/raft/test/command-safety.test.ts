import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KvStateMachine } from '../src/kv/state-machine.js';
import { checkCommand } from '../src/kv/validate.js';
import { isKvError } from '../src/kv/errors.js';
import type { KvCommand } from '../src/kv/types.js';

/** Any JSON-ish value, biased towards things that look like commands. */
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('', 'a', 'b/c', 'é'), fc.integer(), fc.constant(null));
const commandLike: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.record(
    {
      op: fc.oneof(fc.constantFrom('put', 'delete', 'txn', 'compact', 'lease-grant', 'lease-keepalive', 'lease-revoke', 'lease-expire', 'nope'), fc.jsonValue()),
      key,
      value: fc.oneof(fc.string({ maxLength: 4 }), fc.jsonValue()),
      prevRevision: fc.oneof(fc.nat(5), fc.jsonValue()),
      lease: fc.oneof(fc.constantFrom('1', '2', 'x'), fc.jsonValue()),
      revision: fc.oneof(fc.nat(5), fc.jsonValue()),
      ttlSeconds: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.jsonValue()),
      id: fc.oneof(fc.constantFrom('1', '2', ''), fc.jsonValue()),
      compare: fc.oneof(fc.array(fc.record({ key, modRevision: fc.oneof(fc.nat(5), fc.jsonValue()) }, { requiredKeys: [] }), { maxLength: 3 }), fc.jsonValue()),
      success: fc.oneof(
        fc.array(
          fc.oneof(
            fc.record({ put: fc.record({ key, value: fc.oneof(fc.string({ maxLength: 3 }), fc.jsonValue()), lease: fc.constantFrom('1', 'x') }, { requiredKeys: [] }) }),
            fc.record({ delete: fc.record({ key }, { requiredKeys: [] }) }),
            fc.record({ get: fc.record({ key }, { requiredKeys: [] }) }),
            fc.jsonValue(),
          ),
          { maxLength: 4 },
        ),
        fc.jsonValue(),
      ),
      failure: fc.jsonValue(),
    },
    { requiredKeys: ['op'] },
  ),
);

/** A small valid history so commands meet existing keys and leases. */
function seeded(): KvStateMachine {
  const sm = new KvStateMachine();
  sm.apply({ op: 'lease-grant', ttlSeconds: 10 });
  sm.apply({ op: 'put', key: 'a', value: '1' });
  sm.apply({ op: 'put', key: 'b/c', value: '2', lease: '1' });
  return sm;
}

describe('command validation and apply safety', () => {
  it('the forged commands of issue 12 neither throw nor change anything they should not', () => {
    const sm = seeded();
    const before = sm.revision;
    // Before the change, this threw "Cannot read properties of undefined (reading 'every')" on every member.
    expect(() => sm.apply({ op: 'txn' } as unknown as KvCommand)).not.toThrow();
    for (const bad of [{ op: 'put', key: 5 }, { op: 'nope' }, null, 'x', { op: 'txn', success: 'x' }, { op: 'lease-revoke' }, { op: 'compact', revision: -1 }]) {
      const r = sm.apply(bad as unknown as KvCommand);
      expect(r).toMatchObject({ type: 'error', code: 'invalid' });
    }
    expect(sm.revision).toBe(before);
    expect(sm.get('a')?.value).toBe('1');
  });

  it('fuzz: checkCommand accepts or refuses with a KvError, and what it accepts is a fixed point', () => {
    fc.assert(
      fc.property(commandLike, (v) => {
        let c: KvCommand;
        try {
          c = checkCommand(v);
        } catch (err) {
          expect(isKvError(err) && (err.code === 'bad-request' || err.code === 'too-large')).toBe(true);
          return;
        }
        expect(checkCommand(JSON.parse(JSON.stringify(c)))).toEqual(c);
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: applying any value never throws and is deterministic (two members agree on result and state)', () => {
    fc.assert(
      fc.property(fc.array(commandLike, { maxLength: 8 }), (cmds) => {
        const a = seeded();
        const b = seeded();
        for (const c of cmds) {
          // Each member sees the command as decoded from the log (its own copy).
          const ra = a.apply(JSON.parse(JSON.stringify(c ?? null)) as KvCommand);
          const rb = b.apply(JSON.parse(JSON.stringify(c ?? null)) as KvCommand);
          expect(ra).toEqual(rb);
        }
        expect(Buffer.from(a.snapshot()).equals(Buffer.from(b.snapshot()))).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it('a command refused by checkCommand changes nothing when applied', () => {
    fc.assert(
      fc.property(commandLike, (v) => {
        let valid = true;
        try {
          checkCommand(v);
        } catch {
          valid = false;
        }
        fc.pre(!valid);
        const sm = seeded();
        const snap = Buffer.from(sm.snapshot());
        expect(sm.apply(v as KvCommand)).toMatchObject({ type: 'error', code: 'invalid' });
        expect(Buffer.from(sm.snapshot()).equals(snap)).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });
});
