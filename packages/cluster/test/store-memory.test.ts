import { describe, expect, it } from 'vitest';
import type { KvLeases, KvStore } from '../src/index.js';
import { MemoryKvStore } from '../src/testing/index.js';
import { storeContract } from './store-contract.js';

// One shared in-memory store; every "client" of the suite is a view whose close() is a no-op.
const shared = new MemoryKvStore({ progressIntervalMs: 200 });
const client = (): KvStore & KvLeases => ({
  get: (k) => shared.get(k),
  range: (p, o) => shared.range(p, o),
  txn: (c, o) => shared.txn(c, o),
  put: (k, v, o) => shared.put(k, v, o),
  delete: (k, o) => shared.delete(k, o),
  watch: (p, o) => shared.watch(p, o),
  grantLease: (ttl) => shared.grantLease(ttl),
  keepAliveLease: (id) => shared.keepAliveLease(id),
  revokeLease: (id) => shared.revokeLease(id),
  close: () => Promise.resolve(),
});
storeContract({
  name: 'memory',
  open: () => Promise.resolve(client()),
  compact: (_s, revision) => Promise.resolve(shared.compact(revision)),
  progressWithinMs: 200,
});

// Specific to the in-memory store (the shared suite above holds the contract's assertions).
describe('MemoryKvStore instances', () => {
  it('are independent: keys and revisions of one never show in another', async () => {
    const a = new MemoryKvStore();
    const b = new MemoryKvStore();
    const ra = await a.put('/k', 'from-a');
    await a.put('/k', 'again');
    expect(await b.get('/k')).toBeUndefined();
    // b's revisions start where a's did: nothing of a's history counted in b.
    const rb = await b.put('/k', 'from-b');
    expect(rb).toBe(ra);
    expect((await a.get('/k'))?.value).toBe('again');
    expect((await b.get('/k'))?.value).toBe('from-b');
  });
});
