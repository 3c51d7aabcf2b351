// The core on real files: a 3-node cluster whose members persist through FileStorage with
// fsync, crash (the object is dropped, the last WAL record torn) and restart from disk.
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeConfChange, applyConfChangeToState, FileStorage, RawNode, seededRandomSource, type ConfState, type Message, type NodeId } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'flotilla-raft-cluster-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Member {
  id: NodeId;
  dir: string;
  storage: FileStorage;
  node: RawNode;
  applied: string[];
  appliedIndex: number;
  conf: ConfState;
}

const dec = new TextDecoder();
const conf0: ConfState = { voters: [1, 2, 3], learners: [] };

async function start(id: NodeId, dir: string, incarnation: number): Promise<Member> {
  const storage = await FileStorage.open(dir, { segmentBytes: 4096 });
  if (storage.isNew) await storage.bootstrap(conf0);
  const snap = storage.snapshot();
  // The state machine: the list of applied strings, stored as the snapshot data.
  const applied = snap.data.length > 0 ? (JSON.parse(dec.decode(snap.data)) as string[]) : [];
  const node = new RawNode({ id, storage, random: seededRandomSource(id * 100 + incarnation), electionTicks: 10, heartbeatTicks: 1, applied: snap.index });
  return { id, dir, storage, node, applied, appliedIndex: snap.index, conf: snap.confState };
}

class Cluster {
  members = new Map<NodeId, Member>();
  queue: Message[] = [];
  down = new Set<NodeId>();

  async pump(rounds = 200): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      let busy = false;
      const q = this.queue;
      this.queue = [];
      for (const m of q) if (!this.down.has(m.to)) this.members.get(m.to)?.node.step(m);
      if (q.length > 0) busy = true;
      for (const m of this.members.values()) {
        if (this.down.has(m.id) || !m.node.hasReady()) continue;
        busy = true;
        const rd = m.node.ready();
        this.queue.push(...rd.messages);
        await m.storage.save(rd);
        this.queue.push(...rd.persistedMessages);
        if (rd.snapshot) {
          m.applied = JSON.parse(dec.decode(rd.snapshot.data)) as string[];
          m.appliedIndex = rd.snapshot.index;
          m.conf = rd.snapshot.confState;
        }
        for (const e of rd.committedEntries) {
          if (e.index <= m.appliedIndex) continue;
          if (e.type === 'conf-change') m.conf = applyConfChangeToState(m.conf, decodeConfChange(e.data));
          else if (e.data.length > 0) m.applied.push(dec.decode(e.data));
          m.appliedIndex = e.index;
        }
        m.node.advance();
      }
      if (!busy) return;
    }
  }

  async tick(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) if (!this.down.has(m.id)) m.node.tick();
      await this.pump();
    }
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => !this.down.has(m.id) && m.node.status().state === 'leader');
  }

  async snapshotAll(): Promise<void> {
    for (const m of this.members.values()) {
      if (this.down.has(m.id) || m.appliedIndex <= m.storage.snapshot().index) continue;
      await m.storage.createSnapshot(m.appliedIndex, m.conf, new TextEncoder().encode(JSON.stringify(m.applied)));
      await m.storage.compact(m.appliedIndex);
    }
  }
}

describe('a cluster on FileStorage', () => {
  it('survives crashes with torn WAL tails and restarts, losing nothing committed', async () => {
    const c = new Cluster();
    for (const id of [1, 2, 3]) c.members.set(id, await start(id, join(root, `n${id}`), 0));
    c.members.get(1)!.node.campaign();
    await c.pump();
    let n = 0;
    const propose = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) c.leader()!.node.propose(new TextEncoder().encode(`op${n++}`));
      await c.pump();
    };
    await propose(40);
    await c.snapshotAll();
    await propose(20);

    // Crash follower 2 and tear its last WAL record.
    c.down.add(2);
    await c.members.get(2)!.storage.close();
    const walDir = join(root, 'n2', 'wal');
    const last = readdirSync(walDir).sort().at(-1)!;
    const size = statSync(join(walDir, last)).size;
    truncateSync(join(walDir, last), size - 3);
    await propose(20);
    c.members.set(2, await start(2, join(root, 'n2'), 1));
    c.down.delete(2);
    await c.tick(3);

    // Crash the leader; the others elect a new one and keep going.
    const old = c.leader()!;
    c.down.add(old.id);
    await old.storage.close();
    await c.tick(40);
    expect(c.leader()?.id).not.toBe(old.id);
    await propose(10);
    c.members.set(old.id, await start(old.id, old.dir, 2));
    c.down.delete(old.id);
    await c.tick(5);

    const want = Array.from({ length: n }, (_, i) => `op${i}`);
    for (const m of c.members.values()) expect(m.applied, `member ${m.id}`).toEqual(want);

    // Full restart of everyone from disk: same state, same commit index.
    const commits = [...c.members.values()].map((m) => m.node.status().commit);
    for (const m of c.members.values()) await m.storage.close();
    const again = new Cluster();
    for (const id of [1, 2, 3]) again.members.set(id, await start(id, join(root, `n${id}`), 3));
    await again.pump();
    for (const [i, m] of [...again.members.values()].entries()) {
      expect(m.node.status().commit).toBe(commits[i]);
      expect(m.applied).toEqual(want);
    }
    for (const m of again.members.values()) await m.storage.close();
  });
});
