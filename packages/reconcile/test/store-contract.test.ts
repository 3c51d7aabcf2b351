import { describe, expect, it } from 'vitest';
import type { WatchableStore } from '../src/index.js';
import { checkStoreContract, MemoryStore } from '../src/testing/index.js';

describe('checkStoreContract', () => {
  it('passes for MemoryStore', async () => {
    await checkStoreContract(() => {
      const store = new MemoryStore<{ n: number }>();
      return {
        store,
        write: (name, object) => store.put(`/objects/${name}`, object),
        remove: (name) => store.delete(`/objects/${name}`),
        keyOf: (name) => `/objects/${name}`,
        sample: (n) => ({ n }),
      };
    });
  });

  it('catches a store whose watch is exclusive of its start revision', async () => {
    await expect(
      checkStoreContract(() => {
        const inner = new MemoryStore<number>({ progressIntervalMs: 0 });
        const store: WatchableStore<number> = { list: (o) => inner.list(o), watch: (rev, o) => inner.watch(rev + 1, o) };
        return { store, write: (n, v) => inner.put(n, v), remove: (n) => inner.delete(n), sample: (n) => n };
      }, { timeoutMs: 200 }),
    ).rejects.toThrow(/watch after list: first event should be added b, got modified a/);
  });

  it('catches a delete event without the last object', async () => {
    await expect(
      checkStoreContract(() => {
        const inner = new MemoryStore<number>({ progressIntervalMs: 0 });
        const store: WatchableStore<number> = {
          list: (o) => inner.list(o),
          async *watch(rev, o) {
            for await (const e of inner.watch(rev, o)) yield e.type === 'deleted' ? { ...e, object: -1 } : e;
          },
        };
        return { store, write: (n, v) => inner.put(n, v), remove: (n) => inner.delete(n), sample: (n) => n };
      }),
    ).rejects.toThrow(/a deleted event carries the last object/);
  });

  it('compares what `comparable` keeps: a store that stamps its objects passes with it, fails without', async () => {
    interface Stamped { n: number; stamp?: number }
    let stamps = 0;
    const make = (comparable?: (o: Stamped) => unknown) => () => {
      const inner = new MemoryStore<Stamped>({ progressIntervalMs: 0 });
      return {
        store: inner,
        write: (name: string, object: Stamped) => inner.put(name, { ...object, stamp: ++stamps }),
        remove: (name: string) => inner.delete(name),
        sample: (n: number): Stamped => ({ n }),
        ...(comparable ? { comparable } : {}),
      };
    };
    await checkStoreContract(make(({ n }) => n));
    await expect(checkStoreContract(make(), { timeoutMs: 200 })).rejects.toThrow(/listed object differs from the last write/);
  });
});
