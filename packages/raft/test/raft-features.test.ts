// Behaviour beyond §5: pre-vote, check-quorum and leases, leadership transfer, ReadIndex,
// snapshots, membership, flow control, the parallel leader write, restart, errors.
import { describe, expect, it } from 'vitest';
import {
  isRaftError,
  MemoryStorage,
  ProposalDroppedError,
  RawNode,
  seededRandomSource,
  type Message,
  type NodeId,
} from '../src/index.js';
import { InstantCluster } from '../src/testing/index.js';
import { drain, msg, newRaft, storageWith } from './helpers.js';

const enc = new TextEncoder();
const data = (s: string): Uint8Array => enc.encode(s);

function cluster(ids: NodeId[] = [1, 2, 3], opts: ConstructorParameters<typeof InstantCluster>[1] = {}): InstantCluster {
  const c = new InstantCluster(ids, { electionTicks: 10, heartbeatTicks: 1, ...opts });
  c.campaign(ids[0]!);
  expect(c.leader()).toBe(ids[0]);
  return c;
}

function proposeOn(c: InstantCluster, id: NodeId, n: number, prefix = 'v'): void {
  const node = c.member(id).node;
  for (let i = 0; i < n; i++) node.propose(data(`${prefix}${i}`));
  c.stabilize();
}

function appliedData(c: InstantCluster, id: NodeId): string[] {
  return c.member(id).applied.filter((e) => e.type === 'normal' && e.data.length > 0).map((e) => new TextDecoder().decode(e.data));
}

describe('pre-vote and check-quorum', () => {
  it('a partitioned follower that rejoins does not disrupt the leader (pre-vote keeps its term)', () => {
    const c = cluster([1, 2, 3], { preVote: true, checkQuorum: false });
    const term = c.member(1).node.status().term;
    c.isolate(3);
    c.tick(100);
    expect(c.member(3).node.status().term).toBe(term);
    expect(c.member(3).node.status().state).toBe('pre-candidate');
    c.heal();
    c.tick(3);
    expect(c.leader()).toBe(1);
    expect(c.member(1).node.status().term).toBe(term);
  });

  it('without pre-vote the same rejoin forces a new term (the disruption pre-vote prevents)', () => {
    const c = cluster([1, 2, 3], { preVote: false, checkQuorum: false });
    const term = c.member(1).node.status().term;
    c.isolate(3);
    c.tick(100);
    expect(c.member(3).node.status().term).toBeGreaterThan(term);
    c.heal();
    c.tick(30);
    expect(c.member(1).node.status().term).toBeGreaterThan(term);
  });

  it('check-quorum: a leader that cannot hear a quorum steps down, and the rest elect a new one', () => {
    const c = cluster([1, 2, 3], { checkQuorum: true });
    c.isolate(1);
    c.tick(25);
    expect(c.member(1).node.status().state).not.toBe('leader');
    expect([2, 3]).toContain(c.leader());
  });

  it('leases: a follower that heard from its leader within the election timeout ignores a vote request', () => {
    const r = newRaft(1, [1, 2, 3], { checkQuorum: true });
    r.step(msg({ type: 'heartbeat', from: 2, to: 1, term: 1 }));
    drain(r);
    r.step(msg({ type: 'vote', from: 3, to: 1, term: 2, index: 10, logTerm: 1 }));
    expect(r.term).toBe(1);
    expect(drain(r)).toEqual([]);
    // ...but a vote caused by leadership transfer is honoured.
    r.step(msg({ type: 'vote', from: 3, to: 1, term: 2, index: 10, logTerm: 1, context: new Uint8Array([0x54, 0x52]) }));
    expect(r.term).toBe(2);
    expect(drain(r).map((m) => [m.type, m.reject])).toEqual([['vote-response', false]]);
  });

  it('a learner (or removed node) never campaigns', () => {
    const r = newRaft(4, [1, 2, 3], { storage: storageWith([1, 2, 3], [], undefined, [4]) });
    for (let i = 0; i < 100; i++) r.tick();
    expect(r.state).toBe('follower');
    expect(drain(r)).toEqual([]);
  });
});

describe('leadership transfer (TimeoutNow)', () => {
  it('hands over to an up-to-date follower at once', () => {
    const c = cluster();
    c.member(1).node.transferLeadership(2);
    c.stabilize();
    expect(c.leader()).toBe(2);
    expect(c.member(1).node.status().state).toBe('follower');
  });

  it('catches a lagging follower up first; proposals are refused while it runs', () => {
    const c = cluster();
    c.filter = (m) => m.to !== 3;
    proposeOn(c, 1, 5);
    c.heal();
    // Transfer starts; node 3 lags until the leader's append arrives.
    c.filter = (m) => !(m.to === 3 && m.type === 'append');
    c.member(1).node.transferLeadership(3);
    c.stabilize();
    let refused: unknown;
    try {
      c.member(1).node.propose(data('during'));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ProposalDroppedError);
    expect((refused as ProposalDroppedError).reason).toBe('transferring');
    c.heal();
    c.tick(1);
    expect(c.leader()).toBe(3);
    expect(appliedData(c, 3)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('gives up after an election timeout when the target does not catch up', () => {
    const c = cluster();
    c.isolate(3);
    c.member(1).node.transferLeadership(3);
    c.stabilize();
    expect(c.member(1).node.status().leadTransferee).toBe(3);
    c.filter = (m) => m.to !== 3 && m.from !== 3;
    c.tick(11);
    expect(c.member(1).node.status().leadTransferee).toBe(0);
    expect(c.leader()).toBe(1);
    expect(() => c.member(1).node.propose(data('after'))).not.toThrow();
  });
});

describe('ReadIndex', () => {
  it('safe mode: the read point is the commit index, confirmed by a heartbeat quorum', () => {
    const c = cluster();
    proposeOn(c, 1, 3);
    const commit = c.member(1).node.status().commit;
    c.member(1).node.readIndex(data('r1'));
    c.stabilize();
    expect(c.member(1).readStates).toEqual([{ index: commit, context: data('r1') }]);
  });

  it('a follower forwards the request to the leader and gets the read point back', () => {
    const c = cluster();
    proposeOn(c, 1, 2);
    c.member(2).node.readIndex(data('f'));
    c.stabilize();
    expect(c.member(2).readStates).toEqual([{ index: c.member(1).node.status().commit, context: data('f') }]);
  });

  it('a leader cut off from the quorum cannot confirm a read', () => {
    const c = cluster();
    c.isolate(1);
    c.member(1).node.readIndex(data('stale?'));
    c.stabilize();
    expect(c.member(1).readStates).toEqual([]);
  });

  it('a new leader defers reads until its no-op commits', () => {
    const n = new InstantCluster([1, 2, 3], { electionTicks: 10, heartbeatTicks: 1 });
    n.filter = (m) => m.type !== 'append-response';
    n.campaign(1);
    n.member(1).node.readIndex(data('early'));
    n.stabilize();
    expect(n.member(1).readStates).toEqual([]);
    n.heal();
    n.tick(1);
    expect(n.member(1).readStates.map((r) => r.index)).toEqual([n.member(1).node.status().commit]);
  });

  it('lease-based mode answers from the lease without a round trip', () => {
    const c = cluster([1, 2, 3], { readOnly: 'lease-based', checkQuorum: true });
    c.tick(2); // heartbeats acknowledged: the lease is established
    c.filter = (m) => m.type !== 'heartbeat';
    c.member(1).node.readIndex(data('lease'));
    c.stabilize();
    expect(c.member(1).readStates).toHaveLength(1);
    // Once the acknowledgements are older than the lease, reads need a heartbeat round again.
    c.tick(10);
    c.member(1).node.readIndex(data('expired'));
    c.stabilize();
    expect(c.member(1).readStates).toHaveLength(1);
    c.heal();
    c.tick(1);
    expect(c.member(1).readStates.map((r) => new TextDecoder().decode(r.context))).toEqual(['lease', 'expired']);
  });

  it('lease-based mode never serves a stale read from a deposed leader that has not noticed yet', () => {
    // Find runs where the cut-off old leader still believes it leads while a new leader has
    // committed a write (the window between the followers' election and check-quorum).
    let windows = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const c = new InstantCluster([1, 2, 3], { electionTicks: 10, heartbeatTicks: 1, readOnly: 'lease-based', checkQuorum: true, seed });
      c.campaign(1);
      c.tick(3);
      c.isolate(1);
      for (let t = 0; t < 40; t++) {
        c.tick(1);
        const other = [2, 3].find((id) => c.member(id).node.status().state === 'leader');
        if (other === undefined || c.member(1).node.status().state !== 'leader') continue;
        windows++;
        c.member(other).node.propose(data('w'));
        c.stabilize();
        const committed = c.member(other).node.status().commit;
        c.member(1).node.readIndex(data('r'));
        c.stabilize();
        for (const rs of c.member(1).readStates) expect(rs.index).toBeGreaterThanOrEqual(committed);
        break;
      }
    }
    expect(windows).toBeGreaterThan(10);
  });

  it('lease-based mode: a leader that handed over with TimeoutNow stops trusting its lease', () => {
    const c = cluster([1, 2, 3], { readOnly: 'lease-based', checkQuorum: true });
    c.tick(2);
    // Node 1 never hears about the new term (its inbound traffic is lost after the transfer starts).
    c.filter = (m) => m.to !== 1;
    c.member(1).node.transferLeadership(2);
    c.stabilize();
    expect(c.member(2).node.status().state).toBe('leader');
    expect(c.member(1).node.status().state).toBe('leader');
    c.member(2).node.propose(data('after transfer'));
    c.stabilize();
    const committed = c.member(2).node.status().commit;
    c.member(1).node.readIndex(data('stale?'));
    c.stabilize();
    for (const rs of c.member(1).readStates) expect(rs.index).toBeGreaterThanOrEqual(committed);
    expect(c.member(1).readStates).toEqual([]);
  });

  it('lease-based mode: a restarted member refuses votes for one election timeout', () => {
    const c = cluster([1, 2, 3], { readOnly: 'lease-based', checkQuorum: true });
    c.tick(2);
    const restarted = c.addMember(2, c.member(2).storage);
    c.isolate(1);
    c.member(3).node.campaign();
    c.stabilize();
    expect(c.member(3).node.status().state).not.toBe('leader');
    for (let i = 0; i < 12; i++) restarted.node.tick();
    c.member(3).node.campaign();
    c.stabilize();
    expect(c.member(3).node.status().state).toBe('leader');
  });
});

describe('snapshots and compaction', () => {
  it('a follower behind the compacted log is caught up with InstallSnapshot', () => {
    const c = cluster();
    c.isolate(3);
    proposeOn(c, 1, 30);
    const leader = c.member(1);
    const applied = leader.node.status().applied;
    leader.storage.createSnapshot(applied, leader.node.status().config, data(`state@${applied}`));
    leader.storage.compact(applied);
    c.heal();
    const seen: Message[] = [];
    c.filter = (m) => {
      seen.push(m);
      return true;
    };
    c.tick(2);
    expect(seen.some((m) => m.type === 'snapshot' && m.to === 3)).toBe(true);
    const follower = c.member(3);
    expect(follower.storage.snapshot().index).toBe(applied);
    expect(new TextDecoder().decode(follower.storage.snapshot().data)).toBe(`state@${applied}`);
    proposeOn(c, 1, 2, 'after');
    expect(appliedData(c, 3)).toEqual(['after0', 'after1']);
    expect(c.member(1).node.status().progress.get(3)?.state).toBe('replicate');
  });
});

describe('membership (single-server changes, effective on append)', () => {
  function addNode(c: InstantCluster, id: NodeId, type: 'add-learner' | 'add-voter' = 'add-learner'): void {
    c.addMember(id, new MemoryStorage());
    c.member(c.leader()).node.proposeConfChange({ type, nodeId: id });
    c.stabilize();
    c.tick(2);
  }

  it('adds a learner that catches up, does not vote, and is promoted', () => {
    const c = cluster();
    proposeOn(c, 1, 3);
    addNode(c, 4);
    expect(c.member(1).node.status().config).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(appliedData(c, 4)).toEqual(['v0', 'v1', 'v2']);
    expect(c.member(4).node.status().commit).toBe(c.member(1).node.status().commit);
    c.member(1).node.proposeConfChange({ type: 'add-voter', nodeId: 4 });
    c.stabilize();
    expect(c.member(4).node.status().config.voters).toEqual([1, 2, 3, 4]);
  });

  it('a learner does not count towards commitment', () => {
    const c = cluster();
    addNode(c, 4);
    c.filter = (m) => m.to !== 2 && m.to !== 3;
    const before = c.member(1).node.status().commit;
    c.member(1).node.propose(data('x'));
    c.stabilize();
    expect(c.member(4).node.status().lastIndex).toBe(c.member(1).node.status().lastIndex);
    expect(c.member(1).node.status().commit).toBe(before);
  });

  it('takes effect on append, and refuses a second change while one is uncommitted', () => {
    const c = cluster();
    c.filter = (m) => m.from !== 1;
    c.addMember(4, new MemoryStorage());
    c.member(1).node.proposeConfChange({ type: 'add-learner', nodeId: 4 });
    c.stabilize();
    expect(c.member(1).node.status().config.learners).toEqual([4]);
    expect(() => c.member(1).node.proposeConfChange({ type: 'add-learner', nodeId: 5 })).toThrow(/not committed yet/);
    try {
      c.member(1).node.proposeConfChange({ type: 'remove-node', nodeId: 2 });
    } catch (err) {
      expect(isRaftError(err, 'config-change-refused')).toBe(true);
    }
    c.heal();
    c.tick(1);
    expect(() => c.member(1).node.proposeConfChange({ type: 'add-learner', nodeId: 5 })).not.toThrow();
  });

  it('refuses changes before the new leader has committed an entry of its term', () => {
    const c = new InstantCluster([1, 2, 3], { electionTicks: 10, heartbeatTicks: 1 });
    c.filter = (m) => m.type !== 'append';
    c.campaign(1);
    expect(c.leader()).toBe(1);
    expect(() => c.member(1).node.proposeConfChange({ type: 'remove-node', nodeId: 3 })).toThrow(/has not committed an entry in term/);
  });

  it('reverts a configuration entry that a new leader overwrites', () => {
    const r = newRaft(2, [1, 2, 3]);
    r.step(msg({ type: 'append', from: 1, to: 2, term: 1, entries: [{ index: 1, term: 1, type: 'conf-change', data: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 16, 64]) }] }));
    expect(r.conf.voters).toEqual([1, 2, 3, 4]);
    r.step(msg({ type: 'append', from: 3, to: 2, term: 2, entries: [{ index: 1, term: 2, type: 'normal', data: new Uint8Array(0) }] }));
    expect(r.conf.voters).toEqual([1, 2, 3]);
  });

  it('removes a follower; the rest keep committing', () => {
    const c = cluster();
    c.member(1).node.proposeConfChange({ type: 'remove-node', nodeId: 3 });
    c.stabilize();
    c.isolate(3);
    proposeOn(c, 1, 2);
    expect(appliedData(c, 2)).toEqual(['v0', 'v1']);
    expect(c.member(1).node.status().config.voters).toEqual([1, 2]);
  });

  it('removes the leader: it steps down once the change commits and the others elect a leader', () => {
    const c = cluster();
    c.member(1).node.proposeConfChange({ type: 'remove-node', nodeId: 1 });
    c.stabilize();
    c.tick(1);
    expect(c.member(1).node.status().state).toBe('follower');
    c.tick(30);
    const leader = c.leader();
    expect([2, 3]).toContain(leader);
    expect(c.member(leader).node.status().config.voters).toEqual([2, 3]);
    proposeOn(c, leader, 1, 'new');
    expect(appliedData(c, leader === 2 ? 3 : 2)).toContain('new0');
    // The removed node never campaigns again.
    expect(c.member(1).node.status().state).toBe('follower');
  });

  it('replaces the leader: add a new voter, transfer, then remove the old leader', () => {
    const c = cluster();
    addNode(c, 4);
    c.member(1).node.proposeConfChange({ type: 'add-voter', nodeId: 4 });
    c.stabilize();
    c.member(1).node.transferLeadership(4);
    c.stabilize();
    expect(c.leader()).toBe(4);
    c.tick(1);
    c.member(4).node.proposeConfChange({ type: 'remove-node', nodeId: 1 });
    c.stabilize();
    expect(c.member(4).node.status().config.voters).toEqual([2, 3, 4]);
    c.isolate(1);
    proposeOn(c, 4, 1, 'replaced');
    expect(appliedData(c, 2)).toContain('replaced0');
  });
});

describe('host contract', () => {
  it('the leader sends appends before its own write and does not count itself until advance (thesis §10.2.1)', () => {
    const c = cluster();
    const leader = c.member(1).node;
    leader.propose(data('parallel'));
    const rd = leader.ready();
    expect(rd.entries).toHaveLength(1);
    const appends = rd.messages.filter((m) => m.type === 'append');
    expect(appends.map((m) => m.to)).toEqual([2, 3]);
    // One follower acknowledges: 1 of 3 without the leader's own durable copy is no quorum.
    const first = c.handleReady(member2(c, appends[0]!));
    for (const m of first) leader.step(m);
    expect(leader.status().commit).toBeLessThan(rd.entries[0]!.index);
    // The second acknowledgement makes a quorum of followers: committed before the leader's fsync.
    const second = c.handleReady(member2(c, appends[1]!));
    for (const m of second) leader.step(m);
    expect(leader.status().commit).toBe(rd.entries[0]!.index);
    c.member(1).storage.append(rd.entries);
    leader.advance();
  });

  it('heartbeats flow while a Ready is being persisted (takeMessages)', () => {
    const c = cluster();
    const leader = c.member(1).node;
    leader.propose(data('slow fsync'));
    leader.ready();
    leader.tick();
    const beats = leader.takeMessages().filter((m) => m.type === 'heartbeat');
    expect(beats.map((m) => m.to)).toEqual([2, 3]);
    expect(() => leader.ready()).toThrow(/before advance/);
  });

  it("a follower answers heartbeats at once while its fsync is in flight; its append acknowledgement waits for the fsync", () => {
    const c = cluster();
    const leader = c.member(1).node;
    const follower = c.member(2).node;
    leader.propose(data('entry'));
    const rd = leader.ready();
    for (const m of rd.messages) if (m.to === 2) follower.step(m);
    const frd = follower.ready(); // the follower's write starts and has not finished
    expect(frd.entries.length).toBeGreaterThan(0);
    expect(frd.persistedMessages.map((m) => m.type)).toContain('append-response');
    expect(frd.messages.map((m) => m.type)).not.toContain('append-response');
    // A heartbeat arrives meanwhile: the response goes out now, not after the fsync.
    for (let i = 0; i < 3; i++) leader.tick();
    const beat = leader.takeMessages().find((m) => m.type === 'heartbeat' && m.to === 2)!;
    follower.step(beat);
    const now = follower.takeMessages();
    expect(now.map((m) => [m.type, m.to])).toEqual([['heartbeat-response', 1]]);
    c.member(1).storage.append(rd.entries);
    leader.advance();
    c.member(2).storage.append(frd.entries);
    follower.advance();
  });

  it('a leader whose fsync takes three election timeouts keeps its followers from campaigning', () => {
    const c = cluster();
    const leader = c.member(1);
    leader.node.propose(data('slow'));
    const rd = leader.node.ready(); // the leader's write starts... and takes 30 ticks
    const term = leader.node.status().term;
    const deliver = (ms: readonly Message[]): void => {
      for (const m of ms) {
        if (m.to === 1) leader.node.step(m);
        else c.member(m.to).node.step(m);
      }
    };
    deliver(rd.messages);
    for (let t = 0; t < 30; t++) {
      for (const id of [1, 2, 3]) c.member(id).node.tick();
      deliver(leader.node.takeMessages());
      for (const id of [2, 3]) {
        const f = c.member(id);
        if (f.node.hasReady()) deliver(c.handleReady(f));
      }
    }
    for (const id of [2, 3]) expect(c.member(id).node.status()).toMatchObject({ state: 'follower', term, leader: 1 });
    // The followers' acknowledgements already committed the entry; the write completes.
    leader.storage.append(rd.entries);
    if (rd.hardState) leader.storage.setHardState(rd.hardState);
    deliver(rd.persistedMessages);
    leader.node.advance();
    c.stabilize();
    expect(appliedData(c, 2)).toEqual(['slow']);
  });

  it('recovers term, vote and the commit index from storage on restart', () => {
    const c = cluster();
    proposeOn(c, 1, 4);
    const st = c.member(2).node.status();
    const storage = c.member(2).storage;
    const again = new RawNode({ id: 2, storage, random: seededRandomSource(9) });
    const s2 = again.status();
    expect([s2.term, s2.commit, s2.state]).toEqual([st.term, st.commit, 'follower']);
    const rd = again.ready();
    expect(rd.committedEntries.map((e) => e.index)).toEqual(Array.from({ length: st.commit - 1 }, (_, i) => i + 2));
  });

  it('proposals on a follower are refused with the leader to redirect to', () => {
    const c = cluster();
    try {
      c.member(2).node.propose(data('x'));
      expect.unreachable();
    } catch (err) {
      expect(isRaftError(err, 'proposal-dropped')).toBe(true);
      expect((err as ProposalDroppedError).reason).toBe('not-leader');
      expect((err as ProposalDroppedError).leader).toBe(1);
    }
  });

  it('rejects bad options with a TypeError naming expected and received', () => {
    const storage = MemoryStorage.bootstrap({ voters: [1], learners: [] });
    const random = seededRandomSource(1);
    expect(() => new RawNode({ id: 0, storage, random })).toThrow(/id: expected a positive integer, received 0/);
    expect(() => new RawNode({ id: 1, storage, random, electionTicks: 2, heartbeatTicks: 2 })).toThrow(/heartbeatTicks: expected less than electionTicks/);
    expect(() => new RawNode({ id: 1, storage, random, readOnly: 'lease-based', checkQuorum: false })).toThrow(TypeError);
    expect(() => new RawNode({ id: 1, storage, random: {} as never })).toThrow(/random: expected a RandomSource/);
  });
});

describe('flow control and batching', () => {
  it('replicate state keeps at most maxInflightMsgs appends outstanding', () => {
    const c = cluster([1, 2, 3], { maxInflightMsgs: 3, maxSizePerMsg: 1 });
    let outstanding = 0;
    let maxOutstanding = 0;
    c.filter = (m) => {
      if (m.to === 2 && m.type === 'append' && m.entries.length > 0) {
        outstanding++;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
      }
      return !(m.from === 2 && m.type === 'append-response'); // 2's acks are lost
    };
    for (let i = 0; i < 20; i++) c.member(1).node.propose(data(`e${i}`));
    c.stabilize();
    expect(maxOutstanding).toBe(3);
  });

  it('a probing follower gets one append at a time until it answers', () => {
    const r = newRaft(1, [1, 2]);
    r.hup(false);
    r.step(msg({ type: 'vote-response', from: 2, to: 1, term: 1 }));
    drain(r);
    r.propose([data('a')]);
    r.propose([data('b')]);
    expect(drain(r).filter((m) => m.type === 'append')).toHaveLength(0);
  });

  it('batches entries into messages bounded by maxSizePerMsg', () => {
    const c = cluster([1, 2, 3], { maxSizePerMsg: 1000 });
    const sizes: number[] = [];
    c.filter = (m) => {
      if (m.type === 'append' && m.to === 2 && m.entries.length > 0) sizes.push(m.entries.length);
      return true;
    };
    c.member(1).node.proposeBatch(Array.from({ length: 100 }, () => new Uint8Array(100)));
    c.stabilize();
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(9);
    expect(sizes.length).toBeLessThan(20);
  });
});

/** Delivers `m` to its target in `c` and returns that member (for handleReady). */
function member2(c: InstantCluster, m: Message) {
  const target = c.member(m.to);
  target.node.step(m);
  return target;
}
