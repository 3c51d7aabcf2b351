// The one contract every KvStore backend must keep (file, etcd, memory, Raft KV). Each
// backend's test file calls `storeContract` with a factory; tests use their own key
// prefix and relative revisions, so a shared server (etcd) is fine.
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { controller, isConflictError as isReconcileConflict, type WatchableStore } from '@flotilla/reconcile';
import { checkStoreContract } from '@flotilla/reconcile/testing';
import {
  ClusterStore,
  hasLeases,
  keepAliveLeases,
  type KvLeases,
  ResourceStore,
  defineKind,
  isConflictError,
  isManifestError,
  type Instance,
  type KvStore,
  type ResourceWatchEvent,
  type KvWatchEvent,
  type ObjectMeta,
  type ResourceIssue,
} from '../src/index.js';

export interface ContractBackend {
  name: string;
  /** Opens a client on the backend (may be called several times: clients share data). */
  open(): Promise<KvStore>;
  /** Compacts history up to `revision`, when the backend can. */
  compact?(store: KvStore, revision: number): Promise<void>;
  /** Watches deliver progress events within this many ms. */
  progressWithinMs: number;
  skip?: string | undefined;
}

let unique = 0;
const prefixFor = (name: string): string => `/contract/${name}/${process.pid}-${Date.now()}-${unique++}/`;

/** Collects events from a watch until `until` says stop. */
export async function collect(
  it: AsyncIterable<KvWatchEvent>,
  until: (events: KvWatchEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<KvWatchEvent[]> {
  const events: KvWatchEvent[] = [];
  const iterator = it[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(events)}`);
      const r = await Promise.race([
        iterator.next(),
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), left).unref()),
      ]);
      if (r === 'timeout') throw new Error(`timed out; got ${JSON.stringify(events)}`);
      if (r.done) break;
      events.push(r.value);
    }
  } finally {
    await iterator.return?.();
  }
  return events;
}

const changes = (events: KvWatchEvent[]): KvWatchEvent[] => events.filter((e) => e.type === 'put' || e.type === 'delete');

export function storeContract(backend: ContractBackend): void {
  describe.skipIf(backend.skip !== undefined)(`KvStore contract: ${backend.name}`, () => {
    let store: KvStore;
    beforeAll(async () => {
      store = await backend.open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('TTL leases, where the store has them: a key on a lease lives while it is kept alive, and goes when it expires or is revoked', async () => {
      if (!hasLeases(store)) {
        // only the file store has none (no process of its own to expire them): agents refuse it (lease-unsupported)
        expect(backend.name).toMatch(/file/);
        return;
      }
      // The short lease `a` must outlive the five requests of the setup. On a loaded machine they
      // can take longer than its TTL: the store is then right to have expired it, and the setup
      // starts over with a lease twice as long. A lease gone before its TTL had passed (measured
      // from before it was asked for) fails the test.
      for (let ttl = 1; ; ttl *= 2) {
        const p = prefixFor('lease');
        const b = await store.grantLease(600);
        const askedAt = Date.now();
        const a = await store.grantLease(ttl);
        expect(a.ttlSeconds).toBeGreaterThanOrEqual(ttl); // etcd raises a TTL below its minimum (2 s with default election timing)
        const ttlA = a.ttlSeconds;
        let renewed: number | undefined;
        try {
          await store.put(`${p}a`, 'on a', { lease: a.id });
          await store.put(`${p}b`, 'on b', { lease: b.id });
          await store.put(`${p}moved`, 'first on a', { lease: a.id });
          await store.put(`${p}moved`, 'then on b', { lease: b.id, prevRevision: (await store.get(`${p}moved`))!.modRevision });
          renewed = await store.keepAliveLease(a.id);
        } catch (e) {
          if (Date.now() - askedAt < ttlA * 1000) throw e; // the lease was young: not an expiry
        }
        if (renewed === undefined) {
          expect(Date.now() - askedAt, `lease a was gone before its TTL (${ttlA} s) had passed`).toBeGreaterThanOrEqual(ttlA * 1000);
          await store.revokeLease(b.id);
          if (ttl >= 16) throw new Error(`five requests took longer than a lease of ${ttlA} s: the store is too slow to test TTLs`);
          continue;
        }
        expect(renewed).toBe(ttlA);
        // not kept alive any more: the store expires it (its own clock), deleting only its keys
        const deadline = Date.now() + ttlA * 1000 + 60_000;
        while ((await store.get(`${p}a`)) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(await store.get(`${p}a`)).toBeUndefined();
        expect(await store.keepAliveLease(a.id)).toBeUndefined();
        expect((await store.get(`${p}moved`))?.value).toBe('then on b');
        await store.revokeLease(b.id);
        expect(await store.get(`${p}b`)).toBeUndefined();
        expect(await store.get(`${p}moved`)).toBeUndefined();
        await store.revokeLease(b.id); // again: harmless
        return;
      }
    }, 180_000);

    it('renews many leases at once (keepAliveLeases): a TTL per lease in order, undefined for one that is gone; kept-alive keys stay', async () => {
      if (!hasLeases(store)) return; // the file store: see above
      const leases = store; // (narrowed, for the closures below)
      const p = prefixFor('leases');
      // Long leases (revoked at the end): what is checked is the batching, not expiry, so a
      // slow setup on a loaded machine must not expire any of them. Requested all at once.
      const granted = await Promise.all(Array.from({ length: 40 }, () => leases.grantLease(600)));
      await Promise.all(granted.map((g, i) => leases.put(`${p}${i}`, 'on a lease', { lease: g.id })));
      await store.revokeLease(granted[7]!.id);
      const ids = granted.map((g) => g.id);
      const ttls = await keepAliveLeases(store, ids);
      expect(ttls).toEqual(granted.map((g, i) => (i === 7 ? undefined : g.ttlSeconds)));
      // the batched call when the store has one, and the one-by-one fallback, agree
      const single: KvLeases = { grantLease: store.grantLease.bind(store), keepAliveLease: store.keepAliveLease.bind(store), revokeLease: store.revokeLease.bind(store) };
      expect(await keepAliveLeases(single, ids, 4)).toEqual(ttls);
      expect((await store.range(p)).items).toHaveLength(39);
      await Promise.all(ids.map((id) => leases.revokeLease(id)));
      expect((await store.range(p)).items).toHaveLength(0);
    });

    it('puts and gets with etcd revisions: increasing, modRevision = returned revision, version counts', async () => {
      const p = prefixFor('rev');
      const r1 = await store.put(`${p}a`, '1');
      const r2 = await store.put(`${p}a`, '2');
      const r3 = await store.put(`${p}b`, 'x');
      expect(r2).toBeGreaterThan(r1);
      expect(r3).toBeGreaterThan(r2);
      expect(await store.get(`${p}a`)).toEqual({ key: `${p}a`, value: '2', createRevision: r1, modRevision: r2, version: 2 });
      expect(await store.get(`${p}missing`)).toBeUndefined();
      const dr = await store.delete(`${p}a`);
      expect(dr).toBeGreaterThan(r3);
      expect(await store.get(`${p}a`)).toBeUndefined();
      const r4 = await store.put(`${p}a`, 'again');
      expect(await store.get(`${p}a`)).toMatchObject({ createRevision: r4, modRevision: r4, version: 1 });
      expect(await store.delete(`${p}never`)).toBeUndefined();
    });

    it('compare-and-set: 0 means absent, a stale revision conflicts and reports the current one', async () => {
      const p = prefixFor('cas');
      const r1 = await store.put(`${p}k`, 'a', { prevRevision: 0 });
      const err = await store.put(`${p}k`, 'b', { prevRevision: 0 }).catch((e: unknown) => e);
      expect(isConflictError(err)).toBe(true);
      expect((err as { modRevision: number }).modRevision).toBe(r1);
      const r2 = await store.put(`${p}k`, 'b', { prevRevision: r1 });
      const stale = await store.put(`${p}k`, 'c', { prevRevision: r1 }).catch((e: unknown) => e);
      expect(isConflictError(stale)).toBe(true);
      expect((stale as { modRevision: number }).modRevision).toBe(r2);
      expect((await store.get(`${p}k`))!.value).toBe('b');
      const badDelete = await store.delete(`${p}k`, { prevRevision: r1 }).catch((e: unknown) => e);
      expect(isConflictError(badDelete)).toBe(true);
      expect(await store.delete(`${p}k`, { prevRevision: r2 })).toBeGreaterThan(r2);
      const absent = await store.put(`${p}k2`, 'x', { prevRevision: 5 }).catch((e: unknown) => e);
      expect(isConflictError(absent) && (absent as { modRevision: number }).modRevision).toBe(0);
    });

    it('compare-and-set is linearizable: concurrent increments from two clients lose nothing', async () => {
      const p = prefixFor('counter');
      const other = await backend.open();
      try {
        await store.put(`${p}n`, '0');
        const increment = async (client: KvStore): Promise<void> => {
          for (;;) {
            const cur = (await client.get(`${p}n`))!;
            try {
              await client.put(`${p}n`, String(Number(cur.value) + 1), { prevRevision: cur.modRevision });
              return;
            } catch (e) {
              if (!isConflictError(e)) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 === 0 ? store : other)));
        expect((await store.get(`${p}n`))!.value).toBe('20');
        expect((await other.get(`${p}n`))!.value).toBe('20');
      } finally {
        await other.close();
      }
    });

    it('ranges a prefix in key order at one revision', async () => {
      const p = prefixFor('range');
      await store.put(`${p}b`, '2');
      await store.put(`${p}a`, '1');
      await store.put(`${p}c/d`, '3');
      const last = await store.put(`${p.slice(0, -1)}x`, 'outside');
      const { items, revision } = await store.range(p);
      expect(items.map((i) => [i.key.slice(p.length), i.value])).toEqual([
        ['a', '1'],
        ['b', '2'],
        ['c/d', '3'],
      ]);
      expect(revision).toBeGreaterThanOrEqual(last);
    });

    it('watches from now: every change under the prefix in order, deletes with the previous value', async () => {
      const p = prefixFor('watch');
      const { revision } = await store.range(p);
      const watch = store.watch(p, { fromRevision: revision + 1 });
      const done = collect(watch, (ev) => changes(ev).length >= 4);
      await store.put(`${p}a`, '1');
      await store.put(`/elsewhere${p}a`, 'ignored');
      await store.put(`${p}a`, '2');
      await store.put(`${p}b`, '3');
      await store.delete(`${p}a`);
      const got = changes(await done);
      expect(got.map((e) => (e.type === 'put' ? `put ${e.key.slice(p.length)}=${e.value} v${e.version}` : e.type === 'delete' ? `delete ${e.key.slice(p.length)} was ${e.prevValue}` : ''))).toEqual([
        'put a=1 v1',
        'put a=2 v2',
        'put b=3 v1',
        'delete a was 2',
      ]);
      const revs = got.map((e) => (e.type === 'put' || e.type === 'delete' ? e.modRevision : 0));
      expect([...revs].sort((a, b) => a - b)).toEqual(revs);
    });

    it('watches from a past revision, inclusive: replays history then follows', async () => {
      const p = prefixFor('history');
      const r1 = await store.put(`${p}a`, '1');
      await store.put(`${p}a`, '2');
      await store.put(`${p}a`, '3');
      const done = collect(store.watch(p, { fromRevision: r1 + 1 }), (ev) => changes(ev).length >= 3);
      await store.put(`${p}a`, '4');
      const got = changes(await done);
      expect(got.map((e) => (e.type === 'put' ? e.value : '?'))).toEqual(['2', '3', '4']);
    });

    it('sends progress events while idle', async () => {
      const p = prefixFor('progress');
      const r = await store.put(`${p}a`, '1');
      const got = await collect(store.watch(p, { fromRevision: r + 1 }), (ev) => ev.some((e) => e.type === 'progress'), backend.progressWithinMs + 5000);
      const progress = got.find((e) => e.type === 'progress');
      expect(progress?.type === 'progress' ? progress.revision : -1).toBeGreaterThanOrEqual(r);
    });

    it('ends a watch when its signal aborts', async () => {
      const p = prefixFor('abort');
      const controller = new AbortController();
      const watch = store.watch(p, { signal: controller.signal });
      const it = watch[Symbol.asyncIterator]();
      const next = it.next();
      controller.abort();
      expect((await next).done).toBe(true);
    });

    it('watches that end leave no abort listener on the signal they were given (one long-lived signal, many watches)', async () => {
      // An agent passes its own signal to every watch it opens again after a relist or an
      // outage; a listener left per watch piled up (MaxListenersExceededWarning after 11).
      const p = prefixFor('listeners');
      const r = await store.put(`${p}a`, '1');
      const controller = new AbortController();
      for (let i = 0; i < 15; i++) {
        const got = await collect(store.watch(p, { fromRevision: r, signal: controller.signal }), (ev) => changes(ev).length >= 1);
        expect(changes(got)[0]).toMatchObject({ type: 'put', key: `${p}a`, modRevision: r });
      }
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it.skipIf(backend.compact === undefined)('expires a watch from a compacted revision', async () => {
      const p = prefixFor('compact');
      const r1 = await store.put(`${p}a`, '1');
      const r2 = await store.put(`${p}a`, '2');
      await store.put(`${p}a`, '3');
      await backend.compact!(store, r2);
      const got = await collect(store.watch(p, { fromRevision: r1 }), (ev) => ev.some((e) => e.type === 'expired'));
      expect(got.at(-1)?.type).toBe('expired');
      expect(changes(got)).toEqual([]);
    });

    // A kind an embedder defines (issue 17): the same stores, through the typed layer that is
    // reconcile's WatchableStore. Each check uses its own plural, so it starts empty.
    describe('a defined kind (ResourceStore<T> over this backend)', () => {
      interface Backup {
        apiVersion: 'contract.example.com/v1';
        kind: 'Backup';
        metadata: ObjectMeta;
        spec: { schedule: string; keep?: number };
        status?: { phase: string };
      }
      const validate = (b: Backup): ResourceIssue[] => {
        const issues: ResourceIssue[] = [];
        if (typeof b.spec?.schedule !== 'string' || b.spec.schedule === '') issues.push({ path: 'spec.schedule', message: 'is required' });
        if (b.spec?.keep !== undefined && (!Number.isInteger(b.spec.keep) || b.spec.keep < 1)) issues.push({ path: 'spec.keep', message: `must be an integer >= 1, not ${String(b.spec.keep)}` });
        return issues;
      };
      let plurals = 0;
      const kindOf = () =>
        defineKind<Backup>({ apiVersion: 'contract.example.com/v1', kind: 'Backup', plural: `backups-${process.pid}-${Date.now() % 1e9}-${plurals++}`, validate });
      const backup = (name: string, schedule: string, keep?: number): Backup => ({
        apiVersion: 'contract.example.com/v1',
        kind: 'Backup',
        metadata: { name },
        spec: { schedule, ...(keep !== undefined ? { keep } : {}) },
      });
      const written = (b: Backup): unknown => {
        const { resourceVersion: _r, generation: _g, creationTimestamp: _c, ...metadata } = b.metadata;
        return { ...b, metadata };
      };

      it("keeps reconcile's WatchableStore contract (checkStoreContract from @flotilla/reconcile/testing)", async () => {
        await checkStoreContract(() => {
          const backups = new ClusterStore(store).register(kindOf());
          const watchable: WatchableStore<Backup> = backups; // (its get(name) is not CompareAndSetStore's get(key))
          return {
            store: watchable,
            write: (name, object) => backups.upsert({ ...object, metadata: { ...object.metadata, name } }),
            remove: (name) => backups.delete(name),
            keyOf: (name) => backups.keyOf(name),
            sample: (n) => backup(`sample-${n}`, `${n} 3 * * *`, n + 1),
            // the store stamps resourceVersion, generation and creationTimestamp; the name is the write's
            comparable: (b) => ({ ...(written(b) as Backup), metadata: {} }),
          };
        });
      });

      it('keys: /flotilla/<group>/<version>/<plural>/<name> for the defined kind, /flotilla/v1/<plural>/ unchanged for built-ins', async () => {
        const kind = kindOf();
        const cluster = new ClusterStore(store);
        const backups = cluster.register(kind);
        expect(cluster.register(kind)).toBe(backups);
        const created = await backups.create(backup('nightly', '0 3 * * *'));
        expect(created.metadata).toMatchObject({ name: 'nightly', generation: 1, resourceVersion: expect.any(Number) as number });
        const raw = await store.get(`/flotilla/contract.example.com/v1/${kind.plural}/nightly`);
        expect(raw?.modRevision).toBe(created.metadata.resourceVersion);
        const { resourceVersion: _rv, ...stored } = created.metadata; // resourceVersion is the key's modRevision, never stored
        expect(JSON.parse(raw!.value)).toEqual({ ...created, metadata: stored });
        const host = `contract-host-${plurals++}-${process.pid}`;
        await cluster.hosts.create({ apiVersion: 'flotilla.dev/v1', kind: 'Host', metadata: { name: host }, spec: { local: { dir: '/tmp' } } });
        expect(await store.get(`/flotilla/v1/hosts/${host}`)).toBeDefined();
        expect(new ResourceStore(store, 'Host').keyOf(host)).toBe(`/flotilla/v1/hosts/${host}`);
        await cluster.hosts.delete(host);
      });

      it('checks every write: metadata and the kind’s own validate, every problem at once, nothing written', async () => {
        const backups = new ClusterStore(store).register(kindOf());
        const bad = { ...backup('Not_A_Name', ''), apiVersion: 'other.example.com/v1' } as unknown as Backup;
        const err = await backups.create(bad).catch((e: unknown) => e);
        expect(isManifestError(err)).toBe(true);
        expect(isManifestError(err) && err.issues.map((i) => [i.path, i.message])).toEqual([
          ['apiVersion', 'must be contract.example.com/v1, not "other.example.com/v1"'],
          ['metadata.name', expect.stringContaining('"Not_A_Name" is not a valid name') as string],
          ['spec.schedule', 'is required'],
        ]);
        expect((await backups.list()).items).toEqual([]);
        const ok = await backups.create(backup('weekly', '0 4 * * 0'));
        const keep0 = await backups.update({ ...ok, spec: { ...ok.spec, keep: 0 } }).catch((e: unknown) => e);
        expect(isManifestError(keep0) && keep0.issues.map((i) => i.path)).toEqual(['spec.keep']);
        const mutated = await backups.mutate('weekly', (b) => ({ ...b, spec: { ...b.spec, keep: -1 } })).catch((e: unknown) => e);
        expect(isManifestError(mutated)).toBe(true);
        expect((await backups.get('weekly'))?.metadata.resourceVersion).toBe(ok.metadata.resourceVersion);
      });

      it("compare-and-set on resourceVersion; a conflict is reconcile's ConflictError too; generation follows spec", async () => {
        const backups = new ClusterStore(store).register(kindOf());
        const v1 = await backups.create(backup('db', '0 1 * * *'));
        const v2 = await backups.update({ ...v1, spec: { schedule: '0 2 * * *' } });
        expect(v2.metadata.generation).toBe(2);
        const v3 = await backups.update({ ...v2, status: { phase: 'Scheduled' } });
        expect(v3.metadata.generation).toBe(2);
        const stale = await backups.update({ ...v1, spec: { schedule: 'never' } }).catch((e: unknown) => e);
        expect(isConflictError(stale)).toBe(true);
        expect(isReconcileConflict(stale)).toBe(true);
        expect(isReconcileConflict(stale) && [stale.key, stale.currentRevision]).toEqual([backups.keyOf('db'), v3.metadata.resourceVersion]);
        expect(await backups.create(backup('db', 'again')).catch((e: unknown) => isReconcileConflict(e))).toBe(true);
      });

      it('a reconcile controller watches it directly and converges its objects', async () => {
        const backups = new ClusterStore(store).register(kindOf());
        const watchable: WatchableStore<Backup> = backups; // the type is the point: no cast, no adapter
        const stop = new AbortController();
        const ctrl = controller('backups')
          .watches(watchable, (b) => b.metadata.name)
          .complete(async (name) => {
            await backups.mutate(name, (b) => (b.status?.phase === 'Scheduled' ? undefined : { ...b, status: { phase: 'Scheduled' } }));
          });
        const running = ctrl.run(stop.signal);
        try {
          await backups.create(backup('a', '0 1 * * *'));
          await backups.create(backup('b', '0 2 * * *'));
          const deadline = Date.now() + 30_000;
          for (;;) {
            const phases = (await backups.items()).map((b) => b.status?.phase);
            if (phases.length === 2 && phases.every((p) => p === 'Scheduled')) break;
            if (Date.now() > deadline) throw new Error(`not converged: ${JSON.stringify(phases)}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        } finally {
          stop.abort();
          await running;
        }
      });
    });

    describe('transactions, paging and the per-host instance index', () => {
      it('txn: all writes at one revision when every compare holds, nothing otherwise (file store: none, the index falls back)', async () => {
        if (store.txn === undefined) {
          // the file store keeps one record a revision on disk, so it has no txn: its ResourceStore keeps no index
          expect(new ClusterStore(store).instances.indexed).toBe(false);
          return;
        }
        const p = prefixFor('txn');
        const r0 = await store.put(`${p}a`, '0');
        const ok = await store.txn([{ key: `${p}a`, modRevision: r0 }, { key: `${p}b`, modRevision: 0 }], [
          { type: 'put', key: `${p}a`, value: '1' },
          { type: 'put', key: `${p}b`, value: '2' },
        ]);
        expect(ok.succeeded).toBe(true);
        expect((await store.get(`${p}a`))?.modRevision).toBe(ok.revision);
        expect((await store.get(`${p}b`))?.modRevision).toBe(ok.revision);
        const bad = await store.txn([{ key: `${p}a`, modRevision: r0 }, { key: `${p}b`, modRevision: ok.revision }], [{ type: 'delete', key: `${p}a` }]);
        expect(bad).toMatchObject({ succeeded: false, current: [ok.revision, ok.revision] });
        expect((await store.get(`${p}a`))?.value).toBe('1');
        const del = await store.txn([{ key: `${p}a`, modRevision: ok.revision }], [{ type: 'delete', key: `${p}a` }, { type: 'delete', key: `${p}b` }]);
        expect(del.succeeded).toBe(true);
        expect((await store.range(p)).items).toEqual([]);
        await expect(store.txn([], [{ type: 'put', key: `${p}x`, value: '1' }, { type: 'put', key: `${p}x`, value: '2' }])).rejects.toThrow(/a second time/);
      });

      it('range pages with limit and after, in key order, and says when more are left', async () => {
        const p = prefixFor('page');
        for (const k of ['c', 'a', 'e', 'b', 'd']) await store.put(`${p}${k}`, k);
        const first = await store.range(p, { limit: 2 });
        expect(first.items.map((i) => i.value)).toEqual(['a', 'b']);
        expect(first.more).toBe(true);
        const second = await store.range(p, { limit: 2, after: `${p}b` });
        expect(second.items.map((i) => i.value)).toEqual(['c', 'd']);
        const last = await store.range(p, { limit: 2, after: `${p}d` });
        expect(last.items.map((i) => i.value)).toEqual(['e']);
        expect(last.more).toBe(false);
        await expect(store.range(p, { limit: 0 })).rejects.toThrow(/limit/);
      });

      const instance = (name: string, host: string, phase = 'Pending'): Instance => ({
        apiVersion: 'flotilla.dev/v1',
        kind: 'Instance',
        metadata: { name },
        spec: { replicaSet: 'rs', host, templateHash: 'h', template: { command: ['true'] } },
        status: { phase: phase as 'Pending', ready: false, ports: {}, restarts: 0 },
      });

      it('updateMany / deleteMany: status of many objects in batches; one that changed meanwhile gets a ConflictError and the others are written', async () => {
        const cluster = new ClusterStore(store);
        const tag = `um${process.pid % 1000}x${unique++}`;
        const host = `${tag}-h`;
        const created: Instance[] = [];
        for (let i = 0; i < 57; i++) created.push(await cluster.instances.create(instance(`${tag}-i${String(i).padStart(2, '0')}`, host)));
        // one changed by someone else since it was read
        await cluster.instances.update({ ...created[5]!, metadata: { ...created[5]!.metadata, labels: { touched: 'yes' } } });
        await cluster.instances.delete(created[9]!.metadata.name);
        const results = await cluster.instances.updateMany(created.map((o) => ({ ...o, status: { ...o.status!, phase: 'Running' as const, ready: true } })));
        expect(isConflictError(results[5])).toBe(true);
        expect((results[9] as { code?: string }).code).toBe('not-found');
        const ok = results.filter((r): r is Instance => !(r instanceof Error));
        expect(ok).toHaveLength(55);
        for (const r of ok) expect(r.metadata.resourceVersion).toBe((await cluster.instances.get(r.metadata.name))!.metadata.resourceVersion);
        // the index says the same as the objects
        const onHost = await cluster.listInstances({ host });
        expect(onHost.items.filter((e) => e.object.status?.phase === 'Running').map((e) => e.object.metadata.name).sort()).toEqual(ok.map((o) => o.metadata.name).sort());
        expect(onHost.items.find((e) => e.object.metadata.name === created[5]!.metadata.name)?.object.status?.phase).toBe('Pending');
        // delete them all at their current revisions, one of them stale
        const now = onHost.items.map((e) => e.object);
        const stale = { ...now[0]!, metadata: { ...now[0]!.metadata, resourceVersion: 1 } };
        const gone = await cluster.instances.deleteMany([stale, ...now.slice(1)]);
        expect(isConflictError(gone[0])).toBe(true);
        expect(gone.slice(1).every((g) => g === true)).toBe(true);
        expect((await cluster.listInstances({ host })).items.map((e) => e.object.metadata.name)).toEqual([now[0]!.metadata.name]);
        await cluster.instances.delete(now[0]!.metadata.name);
      });

      it('updateMany with conditions: each object also written only if its own conditions hold (a lease key absent); one whose condition fails gets a ConflictError on that key, the others are written', async () => {
        const cluster = new ClusterStore(store);
        const tag = `uc${process.pid % 1000}x${unique++}`;
        const host = `${tag}-h`;
        const created: Instance[] = [];
        for (let i = 0; i < 70; i++) created.push(await cluster.instances.create(instance(`${tag}-i${String(i).padStart(2, '0')}`, host)));
        const guard = (o: Instance): string => `/flotilla-test/${tag}/guard/${o.metadata.name}`;
        if (!store.txn) {
          // no transactions (the file store): refused, saying why; nothing written
          await expect(cluster.instances.updateMany(created, { conditions: (o) => [{ key: guard(o), modRevision: 0 }] })).rejects.toThrow(/needs a store with transactions/);
          await cluster.instances.deleteMany(created);
          return;
        }
        // the conditions of two objects do not hold: their guard keys exist
        await store.put(guard(created[3]!), 'x');
        await store.put(guard(created[64]!), 'x');
        const results = await cluster.instances.updateMany(
          created.map((o) => ({ ...o, status: { ...o.status!, phase: 'Running' as const, ready: true } })),
          { conditions: (o) => [{ key: guard(o), modRevision: 0 }] },
        );
        for (const k of [3, 64]) {
          expect(isConflictError(results[k])).toBe(true);
          expect((results[k] as { key?: string }).key).toBe(guard(created[k]!));
        }
        const ok = results.filter((r): r is Instance => !(r instanceof Error));
        expect(ok).toHaveLength(68);
        const onHost = await cluster.listInstances({ host });
        expect(onHost.items.filter((e) => e.object.status?.phase === 'Running').map((e) => e.object.metadata.name).sort()).toEqual(ok.map((o) => o.metadata.name).sort());
        await cluster.instances.deleteMany(onHost.items.map((e) => e.object));
        await store.delete(guard(created[3]!));
        await store.delete(guard(created[64]!));
      });

      it('createMany: many objects in batches, each with its index entry; one that exists gets a ConflictError and the others are created', async () => {
        const cluster = new ClusterStore(store);
        const tag = `cm${process.pid % 1000}x${unique++}`;
        const host = `${tag}-h`;
        const names = Array.from({ length: 57 }, (_, i) => `${tag}-i${String(i).padStart(2, '0')}`);
        const existing = await cluster.instances.create(instance(names[7]!, host, 'Running'));
        const results = await cluster.instances.createMany(names.map((n) => instance(n, host)));
        expect(isConflictError(results[7])).toBe(true);
        const ok = results.filter((r): r is Instance => !(r instanceof Error));
        expect(ok.map((o) => o.metadata.name)).toEqual(names.filter((_, i) => i !== 7));
        for (const r of ok) {
          const stored = (await cluster.instances.get(r.metadata.name))!;
          expect(stored.metadata.resourceVersion).toBe(r.metadata.resourceVersion);
          expect(stored.metadata.generation).toBe(1);
          expect(stored.metadata.creationTimestamp).toBeDefined();
        }
        // the one that existed is as it was
        expect((await cluster.instances.get(names[7]!))!.metadata.resourceVersion).toBe(existing.metadata.resourceVersion);
        expect((await cluster.instances.get(names[7]!))!.status?.phase).toBe('Running');
        // the index says the same as the objects
        const onHost = await cluster.listInstances({ host });
        expect(onHost.items.map((e) => e.object.metadata.name).sort()).toEqual([...names].sort());
        await cluster.instances.deleteMany(onHost.items.map((e) => e.object));
        expect((await cluster.listInstances({ host })).items).toHaveLength(0);
      });

      it('ResourceStore.list pages with a continue token; a token of another list is refused', async () => {
        const cluster = new ClusterStore(store);
        const tag = `pg${process.pid % 1000}x${unique++}`;
        const hostName = `${tag}-h`;
        for (let i = 0; i < 7; i++) await cluster.instances.create(instance(`${tag}-i${i}`, hostName));
        const names: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await cluster.listInstances({ host: hostName, limit: 3, ...(token !== undefined ? { continue: token } : {}) });
          names.push(...page.items.map((e) => e.object.metadata.name));
          token = page.continue;
          pages++;
        } while (token !== undefined);
        expect(pages).toBe(3);
        expect(names).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `${tag}-i${i}`));
        const all = await cluster.instances.list({ limit: 1 });
        expect(all.continue).toBeDefined();
        await expect(cluster.replicaSets.list({ limit: 1, continue: all.continue! })).rejects.toThrow(/not a continue token of this list/);
        for (let i = 0; i < 7; i++) await cluster.instances.delete(`${tag}-i${i}`);
      });

      it('the per-host index agrees with the whole list after random creates, status writes, deletes (property), and a host watch sees only its host', async () => {
        const cluster = new ClusterStore(store);
        const tag = `ix${process.pid % 1000}x${unique++}`;
        const hosts = [`${tag}-a`, `${tag}-b`, `${tag}-c`];
        const start = (await store.range('/flotilla/v1/instances/', { limit: 1 })).revision;
        // the watch of host a from before the changes, folded into a map, must end equal to host a's list
        const ac = new AbortController();
        const seen = new Map<string, number>();
        const events: ResourceWatchEvent<Instance>[] = [];
        const watching = (async () => {
          for await (const ev of cluster.watchInstances(start + 1, { host: hosts[0]!, signal: ac.signal })) {
            if (ev.type === 'progress' || ev.type === 'expired') continue;
            events.push(ev);
            if (ev.type === 'deleted') seen.delete(ev.object.metadata.name);
            else seen.set(ev.object.metadata.name, ev.revision);
          }
        })();
        const op = fc.oneof(
          fc.record({ t: fc.constant('create' as const), n: fc.integer({ min: 0, max: 7 }), h: fc.integer({ min: 0, max: 2 }) }),
          fc.record({ t: fc.constant('status' as const), n: fc.integer({ min: 0, max: 7 }), h: fc.constant(0) }),
          fc.record({ t: fc.constant('delete' as const), n: fc.integer({ min: 0, max: 7 }), h: fc.constant(0) }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
            for (const o of ops) {
              const name = `${tag}-i${o.n}`;
              if (o.t === 'create') {
                if (!(await cluster.instances.get(name))) await cluster.instances.create(instance(name, hosts[o.h]!));
              } else if (o.t === 'status') await cluster.instances.mutate(name, (cur) => ({ ...cur, status: { ...cur.status!, phase: 'Running', ready: true } }));
              else await cluster.instances.delete(name);
            }
            const all = (await cluster.listInstances()).items.filter((e) => e.object.metadata.name.startsWith(`${tag}-`));
            for (const h of hosts) {
              const mine = await cluster.listInstances({ host: h });
              const expected = all.filter((e) => e.object.spec.host === h);
              expect(mine.items.map((e) => [e.key, e.object.metadata.name, e.revision, e.object.status?.phase])).toEqual(
                expected.map((e) => [e.key, e.object.metadata.name, e.revision, e.object.status?.phase]),
              );
            }
          }),
          { numRuns: 8 },
        );
        const expectA = (await cluster.listInstances({ host: hosts[0]! })).items;
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && JSON.stringify([...seen].sort()) !== JSON.stringify(expectA.map((e) => [e.object.metadata.name, e.revision]).sort())) await new Promise((r) => setTimeout(r, 50));
        ac.abort();
        await watching;
        expect([...seen].sort()).toEqual(expectA.map((e) => [e.object.metadata.name, e.revision]).sort());
        expect(events.every((e) => e.type === 'progress' || e.type === 'expired' || e.object.spec === undefined || e.object.spec.host === hosts[0])).toBe(true);
        for (let i = 0; i < 8; i++) await cluster.instances.delete(`${tag}-i${i}`);
        // the index holds nothing of these once they are gone
        for (const h of hosts) expect((await store.range(`/flotilla/v1/hostinstances/${h}/`)).items).toEqual([]);
      });

      it('watchInstancesOn several hosts (one watch for a hollow process): every change of their instances, in order, none of another host', async () => {
        const cluster = new ClusterStore(store);
        const tag = `wm${process.pid % 1000}x${unique++}`;
        const [a, b, c, other] = [`${tag}-a`, `${tag}-b`, `${tag}-c`, `${tag}-d`];
        const start = (await store.range('/flotilla/v1/instances/', { limit: 1 })).revision;
        const ac = new AbortController();
        const events: { type: string; name: string; revision: number; host?: string }[] = [];
        let enough!: () => void;
        const done = new Promise<void>((resolve) => (enough = resolve));
        const watching = (async () => {
          for await (const ev of cluster.watchInstancesOn([a, b, c], start + 1, { signal: ac.signal, deletedNamesOnly: true })) {
            if (ev.type === 'progress' || ev.type === 'expired') continue;
            events.push({ type: ev.type, name: ev.object.metadata.name, revision: ev.revision, ...(ev.object.spec ? { host: ev.object.spec.host } : {}) });
            if (events.length === 6) enough();
          }
        })();
        await cluster.instances.create(instance(`${tag}-i0`, a));
        await cluster.instances.create(instance(`${tag}-i1`, b));
        await cluster.instances.create(instance(`${tag}-i2`, other));
        await cluster.instances.create(instance(`${tag}-i3`, c));
        await cluster.instances.mutate(`${tag}-i0`, (cur) => ({ ...cur, status: { ...cur.status!, phase: 'Running', ready: true } }));
        await cluster.instances.delete(`${tag}-i1`);
        await cluster.instances.create(instance(`${tag}-i4`, a));
        await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`6 events expected, got ${JSON.stringify(events)}`)), 10_000).unref())]);
        // (the last create is the sixth event on every store: nothing of host d came before it)
        ac.abort();
        await watching;
        const of = (n: number) => events.filter((e) => e.name === `${tag}-i${n}`).map((e) => e.type);
        expect([of(0), of(1), of(2), of(3), of(4)]).toEqual([['added', 'modified'], ['added', 'deleted'], [], ['added'], ['added']]);
        expect(events.every((e) => e.host === undefined || [a, b, c].includes(e.host))).toBe(true);
        // one watch of the store: in revision order
        if (store.watchPrefixes !== undefined && store.txn !== undefined) expect(events.map((e) => e.revision)).toEqual([...events.map((e) => e.revision)].sort((x, y) => x - y));
        for (const n of [0, 2, 3, 4]) await cluster.instances.delete(`${tag}-i${n}`);
      });

      it('reindex covers instances written before the index existed (a store from an older flo) and drops stale entries', async () => {
        if (store.txn === undefined) return; // no index on this backend (see the txn test)
        const cluster = new ClusterStore(store);
        const tag = `ri${process.pid % 1000}x${unique++}`;
        const old = instance(`${tag}-old`, `${tag}-h`);
        await store.put(`/flotilla/v1/instances/${tag}-old`, JSON.stringify(old)); // as an older flo wrote it: no index entry
        await store.put(`/flotilla/v1/hostinstances/${tag}-h/${tag}-gone`, JSON.stringify(instance(`${tag}-gone`, `${tag}-h`)));
        expect((await cluster.listInstances({ host: `${tag}-h` })).items.map((e) => e.object.metadata.name)).toEqual([`${tag}-gone`]);
        const r = await cluster.instances.reindex({ force: true });
        expect(r.indexed).toBeGreaterThanOrEqual(1);
        expect(r.removed).toBeGreaterThanOrEqual(1);
        const mine = await cluster.listInstances({ host: `${tag}-h` });
        expect(mine.items.map((e) => e.object.metadata.name)).toEqual([`${tag}-old`]);
        expect(mine.items[0]!.revision).toBe((await cluster.instances.get(`${tag}-old`))!.metadata.resourceVersion);
        await cluster.instances.delete(`${tag}-old`);
        expect((await store.range(`/flotilla/v1/hostinstances/${tag}-h/`)).items).toEqual([]);
      });
    });
  });
}
