// Behaviour ported from etcd-io/raft's raft_test.go (our own code): flow-control states,
// snapshots to slow followers, unreachable peers, campaign while leader, committing after a
// removal, leadership-transfer corner cases.
import { describe, expect, it } from 'vitest';
import type { Raft } from '../src/core/raft.js';
import { drain, entsWithTerms, msg, newRaft, persist, storageWith } from './helpers.js';

const enc = new TextEncoder();

/** Node 1 leading [1..n] after an election that every peer granted; log persisted. */
function leader(n = 2, o: Parameters<typeof newRaft>[2] = {}): Raft {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const r = newRaft(1, ids, o);
  r.hup(false);
  for (const id of ids.slice(1)) r.step(msg({ type: 'vote-response', from: id, to: 1, term: r.term }));
  expect(r.state).toBe('leader');
  persist(r);
  drain(r);
  return r;
}
const appendsTo = (r: Raft, to: number) => drain(r).filter((m) => m.type === 'append' && m.to === to);

describe('flow control (SendAppendForProgress*)', () => {
  it('probe: one append, then paused until a heartbeat reply', () => {
    const r = leader();
    expect(r.prs.get(2)!.state).toBe('probe');
    r.propose([enc.encode('a')]);
    expect(appendsTo(r, 2)).toHaveLength(0); // the election's append is still unanswered
    r.step(msg({ type: 'heartbeat-response', from: 2, to: 1, term: r.term }));
    expect(appendsTo(r, 2)).toHaveLength(1);
    r.propose([enc.encode('b')]);
    expect(appendsTo(r, 2)).toHaveLength(0);
  });

  it('replicate: every proposal goes out at once, optimistically', () => {
    const r = leader();
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: r.log.lastIndex() }));
    expect(r.prs.get(2)!.state).toBe('replicate');
    drain(r);
    for (let i = 0; i < 5; i++) {
      r.propose([enc.encode(`e${i}`)]);
      const sent = appendsTo(r, 2);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.entries).toHaveLength(1);
    }
    expect(r.prs.get(2)!.inflights.count).toBe(5);
  });

  it('snapshot: nothing is sent while a snapshot is in flight', () => {
    const r = leader();
    r.prs.get(2)!.becomeSnapshot(10);
    r.propose([enc.encode('x')]);
    r.tick();
    expect(appendsTo(r, 2)).toHaveLength(0);
  });

  it('RecvMsgUnreachable: a replicating follower drops back to probing from match + 1', () => {
    const r = leader();
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: r.log.lastIndex() }));
    r.propose([enc.encode('a')]);
    r.propose([enc.encode('b')]);
    const pr = r.prs.get(2)!;
    expect(pr.next).toBe(pr.match + 3);
    r.reportUnreachable(2);
    expect(pr.state).toBe('probe');
    expect(pr.next).toBe(pr.match + 1);
  });

  it('a stale rejection (for an index already matched) is ignored', () => {
    const r = leader();
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: r.log.lastIndex() }));
    const before = { ...r.prs.get(2)! };
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: 0, reject: true, rejectHint: 0 }));
    expect(r.prs.get(2)!.state).toBe(before.state);
    expect(r.prs.get(2)!.next).toBe(before.next);
  });
});

describe('snapshots (ProvideSnap, IgnoreProvidingSnap, RestoreIgnoreSnapshot)', () => {
  function compactedLeader(): Raft {
    const storage = storageWith([1, 2], entsWithTerms(1, 1, 1, 1, 1), { term: 1, vote: 0, commit: 4 });
    storage.createSnapshot(4, { voters: [1, 2], learners: [] }, enc.encode('state'));
    storage.compact(4);
    return leader(2, { storage });
  }

  it('sends a snapshot to an active follower whose next entry was compacted away', () => {
    const r = compactedLeader();
    r.prs.get(2)!.next = 2;
    r.prs.get(2)!.recentActive = true;
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: 1, reject: true, rejectHint: 1, logTerm: 1 }));
    const sent = drain(r).filter((m) => m.to === 2);
    expect(sent.map((m) => m.type)).toEqual(['snapshot']);
    expect(sent[0]!.snapshot!.index).toBe(4);
    expect(r.prs.get(2)!.state).toBe('snapshot');
  });

  it('does not send a snapshot to a follower it has not heard from', () => {
    const r = compactedLeader();
    const pr = r.prs.get(2)!;
    pr.next = 2;
    pr.recentActive = false;
    pr.probeSent = false;
    r.propose([enc.encode('x')]);
    expect(drain(r).filter((m) => m.to === 2)).toEqual([]);
  });

  it('a follower ignores a snapshot at or below its commit, and fast-forwards when its log matches', () => {
    const storage = storageWith([1, 2], entsWithTerms(1, 1, 1, 1), { term: 1, vote: 0, commit: 1 });
    const r = newRaft(2, [1, 2], { storage });
    r.becomeFollower(1, 1);
    const conf = { voters: [1, 2], learners: [] };
    r.step(msg({ type: 'snapshot', from: 1, to: 2, term: 1, snapshot: { index: 1, term: 1, confState: conf, data: new Uint8Array(0) } }));
    expect(r.log.unstable.snapshot).toBeUndefined();
    expect(drain(r).map((m) => [m.type, m.index])).toEqual([['append-response', 1]]);
    r.step(msg({ type: 'snapshot', from: 1, to: 2, term: 1, snapshot: { index: 3, term: 1, confState: conf, data: new Uint8Array(0) } }));
    expect(r.log.unstable.snapshot).toBeUndefined();
    expect(r.log.committed).toBe(3);
  });

  it('a follower whose log does not match installs the snapshot and adopts its membership', () => {
    const storage = storageWith([1, 2], entsWithTerms(1, 1, 1, 1), { term: 1, vote: 0, commit: 1 });
    const r = newRaft(2, [1, 2], { storage });
    r.becomeFollower(2, 1);
    const conf = { voters: [1, 2, 3], learners: [4] };
    r.step(msg({ type: 'snapshot', from: 1, to: 2, term: 2, snapshot: { index: 10, term: 2, confState: conf, data: new Uint8Array(0) } }));
    expect(r.log.unstable.snapshot?.index).toBe(10);
    expect(r.log.committed).toBe(10);
    expect(r.log.lastIndex()).toBe(10);
    expect(r.conf).toEqual(conf);
    expect(drain(r).map((m) => [m.type, m.index])).toEqual([['append-response', 10]]);
  });
});

describe('elections and membership corner cases', () => {
  it('CampaignWhileLeader: campaigning as leader changes nothing', () => {
    const r = leader(1);
    const term = r.term;
    r.hup(false);
    expect([r.state, r.term]).toEqual(['leader', term]);
  });

  it('CommitAfterRemoveNode: removing a silent voter lets the pending entries commit', () => {
    const r = leader(2);
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: r.log.lastIndex() }));
    expect(r.log.committed).toBe(r.log.lastIndex());
    r.propose([enc.encode('pending')]);
    persist(r);
    const pending = r.log.lastIndex();
    expect(r.log.committed).toBeLessThan(pending); // needs node 2, which is silent
    r.proposeConfChange({ type: 'remove-node', nodeId: 2 });
    expect(r.conf.voters).toEqual([1]); // effective on append
    persist(r);
    expect(r.log.committed).toBe(pending + 1);
  });

  it('a learner still answers vote requests (a candidate may know it as promoted already)', () => {
    const r = newRaft(3, [1, 2], { storage: storageWith([1, 2], [], undefined, [3]) });
    r.step(msg({ type: 'vote', from: 1, to: 3, term: 2, index: 0, logTerm: 0 }));
    expect(drain(r).map((m) => [m.type, m.reject])).toEqual([['vote-response', false]]);
  });

  it('a node whose vote is taken backs off when it refuses an up-to-date candidate (liveness)', () => {
    const r = newRaft(2, [1, 2, 3], { storage: storageWith([1, 2, 3], entsWithTerms(1, 1), { term: 3, vote: 2, commit: 0 }) });
    for (let i = 0; i < 7; i++) r.tick();
    expect(r.electionElapsed).toBe(7);
    r.step(msg({ type: 'vote', from: 3, to: 2, term: 3, index: 1, logTerm: 1 }));
    expect(drain(r).map((m) => [m.type, m.reject])).toEqual([['vote-response', true]]);
    expect(r.electionElapsed).toBe(0);
    // A candidate with a worse log does not make it back off.
    for (let i = 0; i < 7; i++) r.tick();
    r.step(msg({ type: 'vote', from: 1, to: 2, term: 3, index: 0, logTerm: 0 }));
    expect(r.electionElapsed).toBe(7);
  });

  it('pre-vote: a granted pre-vote changes neither the term nor the vote', () => {
    const r = newRaft(1, [1, 2, 3], { preVote: true });
    r.step(msg({ type: 'pre-vote', from: 2, to: 1, term: 1, index: 5, logTerm: 1 }));
    expect(drain(r).map((m) => [m.type, m.term, m.reject])).toEqual([['pre-vote-response', 1, false]]);
    expect([r.term, r.vote]).toEqual([0, 0]);
  });
});

describe('leadership transfer corner cases', () => {
  it('to itself or to a non-member is ignored', () => {
    const r = leader(3);
    r.transferLeadership(1);
    r.transferLeadership(9);
    expect(r.leadTransferee).toBe(0);
  });

  it('a second transfer to another node replaces the first; a transfer back to itself is a no-op', () => {
    const r = leader(3);
    r.transferLeadership(2);
    expect(r.leadTransferee).toBe(2);
    r.transferLeadership(3);
    expect(r.leadTransferee).toBe(3);
    r.transferLeadership(3);
    expect(r.leadTransferee).toBe(3);
  });

  it('TimeoutNow goes out as soon as the target acknowledges the whole log', () => {
    const r = leader(3);
    r.transferLeadership(2);
    expect(drain(r).some((m) => m.type === 'timeout-now')).toBe(false);
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index: r.log.lastIndex() }));
    expect(drain(r).filter((m) => m.type === 'timeout-now').map((m) => m.to)).toEqual([2]);
  });

  it('a follower receiving TimeoutNow campaigns at once, without pre-vote', () => {
    const r = newRaft(2, [1, 2, 3], { preVote: true });
    r.becomeFollower(1, 1);
    r.step(msg({ type: 'timeout-now', from: 1, to: 2, term: 1 }));
    expect([r.state, r.term]).toEqual(['candidate', 2]);
    const votes = drain(r).filter((m) => m.type === 'vote');
    expect(votes.map((m) => m.to)).toEqual([1, 3]);
    expect([...votes[0]!.context!]).toEqual([0x54, 0x52]);
  });
});
