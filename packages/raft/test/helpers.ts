// Raft-level test helpers in the spirit of etcd-io/raft's raft_test.go: build a node on a
// MemoryStorage with a given log, step messages into it, read what it sends.
import { Raft, type RaftOptions } from '../src/core/raft.js';
import { seededRandomSource } from '../src/core/random.js';
import type { Entry, HardState, Message, NodeId } from '../src/core/types.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';

/** Entries at indexes from..from+n-1 with the given terms (etcd's index(i).terms(...)). */
export function entsWithTerms(firstIndex: number, ...terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: firstIndex + i, term, type: 'normal' as const, data: new Uint8Array(0) }));
}

/** A storage whose log is empty at index 0 (as in etcd's tests) with the given voters, log and hard state. */
export function storageWith(voters: NodeId[], log: Entry[] = [], hs?: HardState, learners: NodeId[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ index: 0, term: 0, confState: { voters, learners }, data: new Uint8Array(0) });
  s.append(log);
  if (hs) s.setHardState(hs);
  return s;
}

export interface TestRaftOptions extends Partial<Omit<RaftOptions, 'id' | 'storage'>> {
  storage?: MemoryStorage;
  seed?: number;
}

/** A node as the paper describes it: no pre-vote, no check-quorum unless asked. */
export function newRaft(id: NodeId, voters: NodeId[], o: TestRaftOptions = {}): Raft {
  const { storage = storageWith(voters), seed = id, ...rest } = o;
  return new Raft({
    id,
    storage,
    random: seededRandomSource(seed),
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: false,
    checkQuorum: false,
    ...rest,
  });
}

export function msg(m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return { term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m };
}

/** Everything the node wants to send (both queues), sorted by destination then type. */
export function drain(r: Raft): Message[] {
  const out = [...r.msgs, ...r.msgsAfterAppend];
  r.msgs = [];
  r.msgsAfterAppend = [];
  return out.sort((a, b) => a.to - b.to || a.type.localeCompare(b.type));
}

/** Makes the node's unstable entries durable (what the host does before advance()). */
export function persist(r: Raft): void {
  const storage = r.log.storage as MemoryStorage;
  const un = r.log.unstableEntries();
  const last = un[un.length - 1];
  if (r.log.unstable.snapshot) {
    storage.applySnapshot(r.log.unstable.snapshot);
    r.log.stableSnapTo(r.log.unstable.snapshot.index);
  }
  if (last) {
    storage.append(un.slice());
    r.log.stableTo(last.index, last.term);
  }
  storage.setHardState(r.hardState());
  r.onStable();
}

/** index@term of every entry in the node's log. */
export function logTerms(r: Raft): string[] {
  return r.log.allEntries().map((e) => `${e.index}@${e.term}`);
}

/**
 * Rafts joined by a reliable in-order network (etcd's newNetwork): nodes persist their log
 * before their messages go out. Messages to ids without a node are dropped.
 */
export class Network {
  readonly peers = new Map<NodeId, Raft>();
  /** Return false to drop. */
  filter: (m: Message) => boolean = () => true;
  constructor(rafts: Raft[]) {
    for (const r of rafts) this.peers.set(r.id, r);
  }
  send(...initial: Message[]): void {
    let queue = initial;
    for (let rounds = 0; queue.length > 0; rounds++) {
      if (rounds > 10_000) throw new Error('network did not settle');
      const next: Message[] = [];
      for (const m of queue) {
        const r = this.peers.get(m.to);
        if (!r || !this.filter(m)) continue;
        r.step(m);
      }
      for (const r of this.peers.values()) {
        persist(r);
        next.push(...drain(r));
      }
      queue = next;
    }
  }
  /** Lets `id` campaign (as its election timer would). */
  campaign(id: NodeId): void {
    const r = this.peers.get(id)!;
    r.hup(false);
    persist(r);
    this.send(...drain(r));
  }
  propose(id: NodeId, n = 1): void {
    const r = this.peers.get(id)!;
    r.propose(Array.from({ length: n }, (_, i) => new TextEncoder().encode(`p${i}`)));
    persist(r);
    this.send(...drain(r));
  }
}
