// Each rule of the Raft paper's sections 5.1–5.4 as a named test, after etcd-io/raft's
// raft_paper_test.go (behaviour ported, code our own). Nodes run without pre-vote and
// check-quorum here, as the paper describes them.
import { describe, expect, it } from 'vitest';
import type { StateRole } from '../src/core/types.js';
import { drain, entsWithTerms, logTerms, msg, Network, newRaft, persist, storageWith } from './helpers.js';

describe('§5.1 basics', () => {
  const cases: [StateRole, string][] = [
    ['follower', 'FollowerUpdateTermFromMessage'],
    ['candidate', 'CandidateUpdateTermFromMessage'],
    ['leader', 'LeaderUpdateTermFromMessage'],
  ];
  for (const [role, name] of cases) {
    it(`${name}: a ${role} that sees a larger term adopts it and becomes follower`, () => {
      const r = newRaft(1, [1, 2, 3]);
      if (role !== 'follower') {
        r.hup(false);
        if (role === 'leader') r.step(msg({ type: 'vote-response', from: 2, to: 1, term: r.term }));
      }
      expect(r.state).toBe(role);
      r.step(msg({ type: 'append', from: 2, to: 1, term: 2 }));
      expect(r.term).toBe(2);
      expect(r.state).toBe('follower');
      expect(r.leader).toBe(2);
    });
  }

  it('RejectStaleTermMessage: a request with a stale term is rejected (not applied; answered with our term)', () => {
    const r = newRaft(1, [1, 2, 3], { storage: storageWith([1, 2, 3], [], { term: 2, vote: 0, commit: 0 }) });
    r.step(msg({ type: 'append', from: 2, to: 1, term: 1, entries: entsWithTerms(1, 1) }));
    expect(r.term).toBe(2);
    expect(r.log.lastIndex()).toBe(0);
    expect(drain(r).map((m) => [m.type, m.to, m.term, m.index])).toEqual([['append-response', 2, 2, 0]]);
    // The stale leader learns the newer term from that answer and steps down.
    const stale = newRaft(2, [1, 2, 3], { storage: storageWith([1, 2, 3], [], { term: 1, vote: 0, commit: 0 }) });
    stale.hup(false);
    stale.step(msg({ type: 'vote-response', from: 3, to: 2, term: 2 }));
    expect(stale.state).toBe('leader');
    stale.step(msg({ type: 'append-response', from: 1, to: 2, term: 5 }));
    expect([stale.state, stale.term]).toEqual(['follower', 5]);
  });

  it('StaleCandidateIsTold: a vote request with a stale term is rejected with the current term', () => {
    const voter = newRaft(1, [1, 2, 3], { storage: storageWith([1, 2, 3], [], { term: 5, vote: 0, commit: 0 }) });
    voter.step(msg({ type: 'vote', from: 2, to: 1, term: 3 }));
    const [resp] = drain(voter);
    expect([resp?.type, resp?.term, resp?.reject]).toEqual(['vote-response', 5, true]);
    const candidate = newRaft(2, [1, 2, 3], { storage: storageWith([1, 2, 3], [], { term: 2, vote: 0, commit: 0 }) });
    candidate.hup(false);
    candidate.step(resp!);
    expect([candidate.state, candidate.term]).toEqual(['follower', 5]);
  });

  it('StaleLeaderIsTold: with check-quorum a stale leader gets the current term back', () => {
    const r = newRaft(1, [1, 2, 3], { checkQuorum: true, storage: storageWith([1, 2, 3], [], { term: 2, vote: 0, commit: 0 }) });
    r.step(msg({ type: 'heartbeat', from: 2, to: 1, term: 1 }));
    expect(drain(r).map((m) => [m.type, m.to, m.term])).toEqual([['append-response', 2, 2]]);
  });

  it('StartAsFollower: servers start as followers', () => {
    expect(newRaft(1, [1, 2, 3]).state).toBe('follower');
  });
});

describe('§5.2 leader election', () => {
  it('LeaderBcastBeat: on the heartbeat tick a leader sends heartbeats to every peer', () => {
    const r = newRaft(1, [1, 2, 3], { heartbeatTicks: 1 });
    r.hup(false);
    r.step(msg({ type: 'vote-response', from: 2, to: 1, term: 1 }));
    expect(r.state).toBe('leader');
    persist(r);
    drain(r);
    r.tick();
    expect(drain(r).map((m) => [m.type, m.to, m.term])).toEqual([
      ['heartbeat', 2, 1],
      ['heartbeat', 3, 1],
    ]);
  });

  for (const role of ['follower', 'candidate'] as const) {
    it(`${role === 'follower' ? 'FollowerStartElection' : 'CandidateStartNewElection'}: on election timeout a ${role} starts an election in a new term`, () => {
      const r = newRaft(1, [1, 2, 3]);
      if (role === 'candidate') r.hup(false);
      const term0 = r.term;
      drain(r);
      for (let i = 0; i < 20; i++) r.tick();
      expect(r.term).toBe(term0 + 1);
      expect(r.state).toBe('candidate');
      expect(r.vote).toBe(1);
      const sent = drain(r);
      expect(sent.map((m) => [m.type, m.to, m.term])).toEqual([
        ['vote', 2, term0 + 1],
        ['vote', 3, term0 + 1],
      ]);
      // Vote requests speak for the persisted vote: they wait for the hard state to be durable.
      expect(r.msgsAfterAppend).toEqual([]);
    });
  }

  const oneRound: [number, Record<number, boolean>, StateRole][] = [
    [1, {}, 'leader'],
    [3, { 2: true, 3: true }, 'leader'],
    [3, { 2: true }, 'leader'],
    [5, { 2: true, 3: true, 4: true, 5: true }, 'leader'],
    [5, { 2: true, 3: true, 4: true }, 'leader'],
    [5, { 2: true, 3: true }, 'leader'],
    [3, { 2: false, 3: false }, 'follower'],
    [5, { 2: false, 3: false, 4: false, 5: false }, 'follower'],
    [5, { 2: true, 3: false, 4: false, 5: false }, 'follower'],
    [3, {}, 'candidate'],
    [5, { 2: true }, 'candidate'],
    [5, { 2: false, 3: false }, 'candidate'],
    [5, {}, 'candidate'],
  ];
  it.each(oneRound)('LeaderElectionInOneRoundRPC: %i servers, votes %o → %s', (size, votes, want) => {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const r = newRaft(1, ids);
    r.hup(false);
    for (const [id, granted] of Object.entries(votes)) {
      r.step(msg({ type: 'vote-response', from: Number(id), to: 1, term: r.term, reject: !granted }));
    }
    expect(r.state).toBe(want);
    expect(r.term).toBe(1);
  });

  const followerVote: [number, number, boolean][] = [
    [0, 2, false],
    [0, 3, false],
    [2, 2, false],
    [3, 3, false],
    [2, 3, true],
    [3, 2, true],
  ];
  it.each(followerVote)('FollowerVote: voted for %i, asked by %i → reject %s (first come, first served)', (vote, candidate, reject) => {
    const r = newRaft(1, [1, 2, 3], { storage: storageWith([1, 2, 3], [], { term: 1, vote, commit: 0 }) });
    r.step(msg({ type: 'vote', from: candidate, to: 1, term: 1 }));
    const sent = drain(r);
    expect(sent.map((m) => [m.type, m.to, m.term, m.reject])).toEqual([['vote-response', candidate, 1, reject]]);
  });

  it.each([1, 2])('CandidateFallback: an append from a leader of term %i (≥ ours) makes a candidate follow', (term) => {
    const r = newRaft(1, [1, 2, 3]);
    r.hup(false);
    expect(r.state).toBe('candidate');
    r.step(msg({ type: 'append', from: 2, to: 1, term }));
    expect(r.state).toBe('follower');
    expect(r.term).toBe(term);
  });

  for (const role of ['follower', 'candidate'] as const) {
    it(`${role === 'follower' ? 'Follower' : 'Candidate'}ElectionTimeoutRandomized: timeouts cover [et, 2et)`, () => {
      const et = 10;
      const seen = new Set<number>();
      for (let seed = 1; seed <= 200; seed++) {
        const r = newRaft(1, [1, 2, 3], { seed });
        if (role === 'candidate') r.hup(false);
        const term0 = r.term;
        let ticks = 0;
        while (r.term === term0) {
          r.tick();
          ticks++;
        }
        seen.add(ticks);
      }
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: et }, (_, i) => et + i));
    });
  }

  it('FollowersElectionTimeoutNonconflict: followers rarely time out in the same tick', () => {
    let conflicts = 0;
    const rounds = 500;
    for (let round = 0; round < rounds; round++) {
      const rs = [1, 2, 3, 4, 5].map((id) => newRaft(id, [1, 2, 3, 4, 5], { seed: round * 10 + id }));
      let timedOut = 0;
      while (timedOut === 0) {
        for (const r of rs) {
          r.tick();
          if (r.state === 'candidate') timedOut++;
        }
      }
      if (timedOut > 1) conflicts++;
    }
    expect(conflicts / rounds).toBeLessThanOrEqual(0.3);
  });
});

describe('§5.3 log replication', () => {
  function leaderOf3(): ReturnType<typeof newRaft> {
    const r = newRaft(1, [1, 2, 3]);
    r.hup(false);
    r.step(msg({ type: 'vote-response', from: 2, to: 1, term: 1 }));
    persist(r);
    drain(r);
    return r;
  }
  const ack = (r: ReturnType<typeof newRaft>, from: number, index: number) =>
    r.step(msg({ type: 'append-response', from, to: 1, term: r.term, index }));

  it('LeaderStartReplication: a proposal is appended and sent with the preceding index/term and commit', () => {
    const r = leaderOf3();
    ack(r, 2, 1);
    ack(r, 3, 1);
    drain(r);
    const li = r.log.lastIndex();
    r.propose([new TextEncoder().encode('some data')]);
    expect(r.log.lastIndex()).toBe(li + 1);
    expect(r.log.committed).toBe(li);
    const sent = drain(r);
    expect(sent.map((m) => [m.type, m.to, m.index, m.logTerm, m.commit, m.entries.map((e) => `${e.index}@${e.term}`)])).toEqual([
      ['append', 2, li, 1, li, [`${li + 1}@1`]],
      ['append', 3, li, 1, li, [`${li + 1}@1`]],
    ]);
  });

  it('LeaderCommitEntry: once replicated on a majority the entry commits and followers learn it', () => {
    const r = leaderOf3();
    ack(r, 2, 1);
    ack(r, 3, 1);
    drain(r);
    r.propose([new TextEncoder().encode('x')]);
    persist(r);
    for (const m of drain(r)) ack(r, m.to, m.index + m.entries.length);
    expect(r.log.committed).toBe(2);
    expect(r.log.nextCommittedEntries(Infinity).map((e) => e.index)).toEqual([1, 2]);
    const sent = drain(r);
    expect(sent.length).toBeGreaterThan(0);
    for (const m of sent) expect(m.commit).toBe(2);
  });

  const acks: [number, number[], boolean][] = [
    [1, [], true],
    [3, [], false],
    [3, [2], true],
    [3, [2, 3], true],
    [5, [], false],
    [5, [2], false],
    [5, [2, 3], true],
    [5, [2, 3, 4], true],
    [5, [2, 3, 4, 5], true],
  ];
  it.each(acks)('LeaderAcknowledgeCommit: %i servers, acks from %o → committed %s', (size, acceptors, committed) => {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const r = newRaft(1, ids);
    r.hup(false);
    for (const id of ids.slice(1)) r.step(msg({ type: 'vote-response', from: id, to: 1, term: 1 }));
    expect(r.state).toBe('leader');
    persist(r);
    const li = r.log.lastIndex();
    r.propose([new TextEncoder().encode('x')]);
    persist(r);
    drain(r);
    // Each acceptor acknowledges the whole log (the leader's own write is durable: persist above).
    for (const id of acceptors) ack(r, id, r.log.lastIndex());
    expect(r.log.committed > li).toBe(committed);
  });

  it('LeaderCommitPrecedingEntries: committing a current-term entry commits everything before it', () => {
    for (const prior of [[], [2], [1, 2], [1]]) {
      const storage = storageWith([1, 2, 3], entsWithTerms(1, ...prior), { term: 2, vote: 0, commit: 0 });
      const r = newRaft(1, [1, 2, 3], { storage });
      r.hup(false);
      r.step(msg({ type: 'vote-response', from: 2, to: 1, term: 3 }));
      r.propose([new TextEncoder().encode('x')]);
      persist(r);
      drain(r);
      ack(r, 2, r.log.lastIndex());
      const li = prior.length;
      expect(r.log.committed).toBe(li + 2);
      expect(r.log.nextCommittedEntries(Infinity).map((e) => e.term)).toEqual([...prior, 3, 3]);
    }
  });

  it('FollowerCommitEntry: a follower applies entries up to the leader commit it learns', () => {
    const cases: [number, number][] = [
      [1, 1],
      [2, 2],
      [2, 1],
      [3, 3],
    ];
    for (const [n, commit] of cases) {
      const r = newRaft(1, [1, 2, 3]);
      r.becomeFollower(1, 2);
      const es = entsWithTerms(1, ...Array.from({ length: n }, () => 1));
      r.step(msg({ type: 'append', from: 2, to: 1, term: 1, entries: es, commit }));
      expect(r.log.committed).toBe(commit);
      expect(r.log.nextCommittedEntries(Infinity).map((e) => e.index)).toEqual(es.slice(0, commit).map((e) => e.index));
    }
  });

  const checkApp: [number, number, boolean, number, number][] = [
    // [term, index, reject, rejectHint, hintTerm]; an accepted append is answered with max(index, commit)
    [0, 0, false, 0, 0],
    [1, 1, false, 0, 0],
    [2, 2, false, 0, 0],
    [1, 2, true, 1, 1], // term mismatch at index 2: hint index 1 (term 1)
    [3, 3, true, 2, 2], // index beyond our log: hint our last index
  ];
  it.each(checkApp)('FollowerCheckMsgApp: append after (term %i, index %i) → reject %s, hint %i/%i', (term, index, reject, hint, hintTerm) => {
    const storage = storageWith([1, 2, 3], entsWithTerms(1, 1, 2), { term: 0, vote: 0, commit: 1 });
    const r = newRaft(1, [1, 2, 3], { storage });
    r.becomeFollower(2, 2);
    r.step(msg({ type: 'append', from: 2, to: 1, term: 2, logTerm: term, index, commit: 1 }));
    const [m] = drain(r);
    expect(m?.type).toBe('append-response');
    expect(m?.reject).toBe(reject);
    if (reject) {
      expect(m?.index).toBe(index);
      expect([m?.rejectHint, m?.logTerm]).toEqual([hint, hintTerm]);
    } else {
      expect(m?.index).toBe(Math.max(index, 1));
    }
  });

  const followerAppend: [number, number, number[], string[]][] = [
    [2, 2, [3], ['1@1', '2@2', '3@3']],
    [1, 1, [3, 4], ['1@1', '2@3', '3@4']],
    [0, 0, [1], ['1@1', '2@2']],
    [0, 0, [3], ['1@3']],
  ];
  it.each(followerAppend)('FollowerAppendEntries: after (%i, term %i) append terms %o → %o', (index, term, terms, want) => {
    const storage = storageWith([1, 2, 3], entsWithTerms(1, 1, 2));
    const r = newRaft(1, [1, 2, 3], { storage });
    r.becomeFollower(2, 2);
    r.step(msg({ type: 'append', from: 2, to: 1, term: 2, logTerm: term, index, entries: entsWithTerms(index + 1, ...terms) }));
    expect(logTerms(r)).toEqual(want);
  });

  // Figure 7: the leader brings each follower's log (a)–(f) into agreement with its own.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: [string, number[]][] = [
    ['a', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ['b', [1, 1, 1, 4]],
    ['c', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['d', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['e', [1, 1, 1, 4, 4, 4, 4]],
    ['f', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ];
  it.each(followers)('LeaderSyncFollowerLog: figure 7 follower (%s) ends with the leader log', (_name, flog) => {
    const term = 8;
    const lead = newRaft(1, [1, 2, 3], { storage: storageWith([1, 2, 3], entsWithTerms(1, ...leaderLog), { term, vote: 0, commit: leaderLog.length }) });
    const follower = newRaft(2, [1, 2, 3], { storage: storageWith([1, 2, 3], entsWithTerms(1, ...flog), { term: term - 1, vote: 0, commit: 0 }) });
    const net = new Network([lead, follower]);
    net.campaign(1);
    // Node 3 (not simulated) grants its vote, since 2 may hold a longer log.
    net.send(msg({ type: 'vote-response', from: 3, to: 1, term: term + 1 }));
    expect(lead.state).toBe('leader');
    net.propose(1);
    expect(logTerms(follower)).toEqual(logTerms(lead));
  });

  it('FastBacktracking: a follower with a long divergent suffix is repaired in few round trips', () => {
    const leadTerms = [1, ...Array.from({ length: 200 }, () => 3)];
    const followTerms = [1, ...Array.from({ length: 300 }, () => 2)];
    const lead = newRaft(1, [1, 2, 3], { storage: storageWith([1, 2, 3], entsWithTerms(1, ...leadTerms), { term: 3, vote: 0, commit: 1 }) });
    const follower = newRaft(2, [1, 2, 3], { storage: storageWith([1, 2, 3], entsWithTerms(1, ...followTerms), { term: 3, vote: 0, commit: 1 }) });
    const net = new Network([lead, follower]);
    let rejections = 0;
    net.filter = (m) => {
      if (m.type === 'append-response' && m.reject) rejections++;
      return true;
    };
    net.campaign(1);
    net.send(msg({ type: 'vote-response', from: 3, to: 1, term: 4 }));
    net.propose(1);
    expect(logTerms(follower)).toEqual(logTerms(lead));
    expect(rejections).toBeLessThanOrEqual(3);
  });
});

describe('§5.4 safety', () => {
  it.each([
    [[1], 2],
    [[1, 2], 3],
  ])('VoteRequest: log %o → vote requests carry the last index and term, in term %i', (terms, wterm) => {
    const r = newRaft(1, [1, 2, 3]);
    r.step(msg({ type: 'append', from: 2, to: 1, term: wterm - 1, entries: entsWithTerms(1, ...terms) }));
    drain(r);
    for (let i = 1; i < 20; i++) r.tick();
    const votes = drain(r).filter((m) => m.type === 'vote');
    expect(votes.map((m) => [m.to, m.term, m.index, m.logTerm])).toEqual([
      [2, wterm, terms.length, terms[terms.length - 1]],
      [3, wterm, terms.length, terms[terms.length - 1]],
    ]);
  });

  const voter: [number[], number, number, boolean][] = [
    [[1], 1, 1, false],
    [[1], 1, 2, false],
    [[1, 1], 1, 1, true],
    [[1], 2, 1, false],
    [[1], 2, 2, false],
    [[1, 1], 2, 1, false],
    [[2], 1, 1, true],
    [[2], 1, 2, true],
    [[2, 2], 1, 1, true],
    [[1, 1], 1, 1, true],
  ];
  it.each(voter)('Voter: log terms %o, candidate last (term %i, index %i) → reject %s', (terms, logTerm, index, reject) => {
    const r = newRaft(1, [1, 2], { storage: storageWith([1, 2], entsWithTerms(1, ...terms)) });
    r.step(msg({ type: 'vote', from: 2, to: 1, term: 3, logTerm, index }));
    const sent = drain(r);
    expect(sent.map((m) => [m.type, m.reject])).toEqual([['vote-response', reject]]);
  });

  it.each([
    [1, 0],
    [2, 0],
    [3, 3],
  ])('LeaderOnlyCommitsLogFromCurrentTerm (figure 8): an ack up to %i commits %i', (index, wcommit) => {
    const storage = storageWith([1, 2], entsWithTerms(1, 1, 2), { term: 2, vote: 0, commit: 0 });
    const r = newRaft(1, [1, 2], { storage });
    r.hup(false);
    r.step(msg({ type: 'vote-response', from: 2, to: 1, term: 3 }));
    expect(r.state).toBe('leader');
    persist(r);
    r.propose([new Uint8Array(0)]);
    persist(r);
    r.step(msg({ type: 'append-response', from: 2, to: 1, term: r.term, index }));
    expect(r.log.committed).toBe(wcommit);
  });
});
