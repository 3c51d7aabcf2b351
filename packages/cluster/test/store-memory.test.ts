import type { KvStore } from '../src/index.js';
import { MemoryKvStore } from '../src/testing/index.js';
import { storeContract } from './store-contract.js';

// One shared in-memory store; every "client" of the suite is a view whose close() is a no-op.
const shared = new MemoryKvStore({ progressIntervalMs: 200 });
const client = (): KvStore => ({
  get: (k) => shared.get(k),
  range: (p) => shared.range(p),
  put: (k, v, o) => shared.put(k, v, o),
  delete: (k, o) => shared.delete(k, o),
  watch: (p, o) => shared.watch(p, o),
  close: () => Promise.resolve(),
});
storeContract({
  name: 'memory',
  open: () => Promise.resolve(client()),
  compact: (_s, revision) => Promise.resolve(shared.compact(revision)),
  progressWithinMs: 200,
});
