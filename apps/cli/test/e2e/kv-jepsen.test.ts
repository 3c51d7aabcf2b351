import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvClient, isKvError } from '@flotilla/raft/client';
import { checkPartition, type Model } from '@flotilla/raft/testing';
import { FloCluster } from './kv-harness.js';

type Input = { kind: 'put'; value: string } | { kind: 'get' } | { kind: 'cas'; expected: string | null; value: string };
/** get: the value read; cas: whether it applied; undefined: unknown outcome (timed out). */
type Output = string | null | boolean | undefined;

/**
 * A register with compare-and-set. Every written value is unique, so "the key's modRevision
 * is r" (what the server compares) is the same as "the key holds the value written at r".
 */
const casRegister: Model<string | null, Input, Output> = {
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'put':
        return { ok: true, state: input.value };
      case 'get':
        return { ok: output === state, state };
      case 'cas':
        if (output === undefined) return { ok: true, state: state === input.expected ? input.value : state };
        if (output === true) return { ok: state === input.expected, state: input.value };
        return { ok: state !== input.expected, state };
    }
  },
  hash: (s) => (s === null ? '\u0000' : s),
};

interface Op {
  key: string;
  input: Input;
  output: Output;
  call: number;
  ret: number;
}

/** A small seeded PRNG so a failing run can be replayed with FLO_JEPSEN_SEED. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the compare-and-set register model', () => {
  it('rejects non-linearizable histories (so the check below can fail)', () => {
    const ops = (...o: [Input, Output, number, number][]) => o.map(([input, output, call, ret]) => ({ input, output, call, ret }));
    // A stale read after a completed write.
    expect(checkPartition(casRegister, ops([{ kind: 'put', value: 'a' }, undefined, 0, 1], [{ kind: 'get' }, null, 2, 3]), { steps: 1e5 })).toBe('illegal');
    // Two compare-and-sets from the same expected value both succeeding.
    expect(
      checkPartition(casRegister, ops([{ kind: 'cas', expected: null, value: 'x' }, true, 0, 1], [{ kind: 'cas', expected: null, value: 'y' }, true, 2, 3]), { steps: 1e5 }),
    ).toBe('illegal');
    // An unknown-outcome write may or may not have happened.
    expect(checkPartition(casRegister, ops([{ kind: 'put', value: 'a' }, undefined, 0, Infinity], [{ kind: 'get' }, null, 2, 3], [{ kind: 'get' }, 'a', 4, 5]), { steps: 1e5 })).toBe('ok');
  });
});

describe('Jepsen-style: concurrent put/get/compare-and-set while members are killed, paused and restarted', () => {
  const cluster = new FloCluster();
  beforeAll(async () => {
    await cluster.start(3);
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('the history is linearizable (timed-out operations count as unknown)', async () => {
    const seed = Number(process.env.FLO_JEPSEN_SEED ?? Date.now() % 100000);
    const random = rng(seed);
    const keys = ['j/a', 'j/b', 'j/c'];
    const history: Op[] = [];
    const runMs = Number(process.env.FLO_JEPSEN_MS ?? 20_000);
    const start = performance.now();
    const now = () => performance.now() - start;
    let running = true;
    let unique = 0;

    const worker = async (w: number) => {
      const client = new KvClient({ endpoints: cluster.urls(), requestTimeoutMs: 1500, retryWindowMs: 1000 });
      const r = rng(seed * 31 + w);
      try {
        while (running) {
          const key = keys[Math.floor(r() * keys.length)]!;
          const p = r();
          if (p < 0.4) {
            const call = now();
            try {
              const kv = await client.get(key);
              history.push({ key, input: { kind: 'get' }, output: kv?.value ?? null, call, ret: now() });
            } catch (e) {
              if (!isKvError(e)) throw e; // a failed read has no effect: leave it out
            }
          } else if (p < 0.7) {
            const value = `w${w}-${unique++}`;
            const call = now();
            try {
              await client.put(key, value);
              history.push({ key, input: { kind: 'put', value }, output: undefined, call, ret: now() });
            } catch (e) {
              if (!isKvError(e)) throw e;
              if (e.mayHaveEffect) history.push({ key, input: { kind: 'put', value }, output: undefined, call, ret: Infinity });
            }
          } else {
            // Read, then compare-and-set on the revision read.
            let expected: string | null;
            let prevRevision: number;
            try {
              const call = now();
              const kv = await client.get(key);
              expected = kv?.value ?? null;
              prevRevision = kv?.modRevision ?? 0;
              history.push({ key, input: { kind: 'get' }, output: expected, call, ret: now() });
            } catch (e) {
              if (!isKvError(e)) throw e;
              continue;
            }
            const value = `w${w}-${unique++}`;
            const call = now();
            try {
              await client.put(key, value, { prevRevision });
              history.push({ key, input: { kind: 'cas', expected, value }, output: true, call, ret: now() });
            } catch (e) {
              if (!isKvError(e)) throw e;
              if (e.code === 'conflict') history.push({ key, input: { kind: 'cas', expected, value }, output: false, call, ret: now() });
              else if (e.mayHaveEffect) history.push({ key, input: { kind: 'cas', expected, value }, output: undefined, call, ret: Infinity });
            }
          }
        }
      } finally {
        client.close();
      }
    };

    const nemesis = async () => {
      const ids = [1, 2, 3];
      const log: string[] = [];
      while (running) {
        await new Promise((r) => setTimeout(r, 1500 + random() * 1000));
        if (!running) break;
        const id = ids[Math.floor(random() * ids.length)]!;
        const action = random() < 0.5 ? 'kill' : 'pause';
        log.push(`${Math.round(now())}ms ${action} ${id}`);
        if (action === 'kill') {
          await cluster.kill(id);
          await new Promise((r) => setTimeout(r, 500 + random() * 1000));
          cluster.spawn(id);
        } else {
          cluster.signal(id, 'SIGSTOP');
          await new Promise((r) => setTimeout(r, 1000 + random() * 1500));
          cluster.signal(id, 'SIGCONT');
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      return log;
    };

    const workers = [0, 1, 2, 3].map(worker);
    const nem = nemesis();
    await new Promise((r) => setTimeout(r, runMs));
    running = false;
    await Promise.all(workers);
    const actions = await nem;

    const completed = history.filter((o) => o.ret !== Infinity && o.input.kind !== 'get').length;
    expect(actions.length, 'the nemesis acted').toBeGreaterThan(2);
    expect(completed, `acknowledged writes (seed ${seed})`).toBeGreaterThan(20);
    for (const key of keys) {
      const ops = history.filter((o) => o.key === key);
      const verdict = checkPartition(casRegister, ops, { steps: 20_000_000 });
      expect(verdict, `key ${key}: ${ops.length} operations, seed ${seed}, nemesis: ${actions.join('; ')}`).toBe('ok');
    }
  });
});
