// Scripted scenarios with golden output, in the style of etcd-io/raft's interaction tests
// (testdata/*.txt): every message on the wire and the resulting states, as text.
import { describe, expect, it } from 'vitest';
import type { Message } from '../src/index.js';
import { InstantCluster } from '../src/testing/index.js';

function describeMessage(m: Message): string {
  const parts = [`${m.from}->${m.to} ${m.type} term=${m.term}`];
  if (m.type === 'append' || m.type === 'vote' || m.type === 'pre-vote') parts.push(`index=${m.index} logTerm=${m.logTerm}`);
  if (m.type === 'append-response') parts.push(m.reject ? `reject index=${m.index} hint=${m.rejectHint}/${m.logTerm}` : `index=${m.index}`);
  if (m.entries.length > 0) parts.push(`entries=[${m.entries.map((e) => `${e.index}@${e.term}${e.type === 'conf-change' ? ':conf' : e.data.length ? `:${new TextDecoder().decode(e.data)}` : ''}`).join(' ')}]`);
  if (m.type === 'append' || m.type === 'heartbeat') parts.push(`commit=${m.commit}`);
  if ((m.type.endsWith('vote-response')) && m.reject) parts.push('rejected');
  if (m.snapshot) parts.push(`snapshot=${m.snapshot.index}@${m.snapshot.term}`);
  return parts.join(' ');
}

function traced(ids = [1, 2, 3]): { c: InstantCluster; log: string[]; states: () => string } {
  const c = new InstantCluster(ids, { electionTicks: 10, heartbeatTicks: 1 });
  const log: string[] = [];
  c.filter = (m) => {
    log.push(describeMessage(m));
    return true;
  };
  const states = (): string =>
    [...c.members.values()]
      .map((m) => {
        const s = m.node.status();
        return `${s.id}: ${s.state} term=${s.term} commit=${s.commit} last=${s.lastIndex}`;
      })
      .join('\n');
  return { c, log, states };
}

describe('interaction scripts', () => {
  it('pre-vote election, then a proposal', () => {
    const { c, log, states } = traced();
    c.campaign(1);
    c.member(1).node.propose(new TextEncoder().encode('a'));
    c.stabilize();
    expect(log.join('\n')).toMatchInlineSnapshot(`
      "1->2 pre-vote term=2 index=1 logTerm=1
      1->3 pre-vote term=2 index=1 logTerm=1
      2->1 pre-vote-response term=2
      3->1 pre-vote-response term=2
      1->2 vote term=2 index=1 logTerm=1
      1->3 vote term=2 index=1 logTerm=1
      2->1 vote-response term=2
      3->1 vote-response term=2
      1->2 append term=2 index=1 logTerm=1 entries=[2@2] commit=1
      1->3 append term=2 index=1 logTerm=1 entries=[2@2] commit=1
      2->1 append-response term=2 index=2
      3->1 append-response term=2 index=2
      1->2 append term=2 index=2 logTerm=2 commit=2
      1->3 append term=2 index=2 logTerm=2 commit=2
      2->1 append-response term=2 index=2
      3->1 append-response term=2 index=2
      1->2 append term=2 index=2 logTerm=2 entries=[3@2:a] commit=2
      1->3 append term=2 index=2 logTerm=2 entries=[3@2:a] commit=2
      2->1 append-response term=2 index=3
      3->1 append-response term=2 index=3
      1->2 append term=2 index=3 logTerm=2 commit=3
      1->3 append term=2 index=3 logTerm=2 commit=3
      2->1 append-response term=2 index=3
      3->1 append-response term=2 index=3"
    `);
    expect(states()).toMatchInlineSnapshot(`
      "1: leader term=2 commit=3 last=3
      2: follower term=2 commit=3 last=3
      3: follower term=2 commit=3 last=3"
    `);
  });

  it('leadership transfer to a follower', () => {
    const { c, log, states } = traced();
    c.campaign(1);
    log.length = 0;
    c.member(1).node.transferLeadership(3);
    c.stabilize();
    expect(log.join('\n')).toMatchInlineSnapshot(`
      "1->3 timeout-now term=2
      3->1 vote term=3 index=2 logTerm=2
      3->2 vote term=3 index=2 logTerm=2
      1->3 vote-response term=3
      2->3 vote-response term=3
      3->1 append term=3 index=2 logTerm=2 entries=[3@3] commit=2
      3->2 append term=3 index=2 logTerm=2 entries=[3@3] commit=2
      1->3 append-response term=3 index=3
      2->3 append-response term=3 index=3
      3->1 append term=3 index=3 logTerm=3 commit=3
      3->2 append term=3 index=3 logTerm=3 commit=3
      1->3 append-response term=3 index=3
      2->3 append-response term=3 index=3"
    `);
    expect(states()).toMatchInlineSnapshot(`
      "1: follower term=3 commit=3 last=3
      2: follower term=3 commit=3 last=3
      3: leader term=3 commit=3 last=3"
    `);
  });

  it('a lagging follower is found by its rejection hint and caught up', () => {
    const { c, log, states } = traced();
    c.campaign(1);
    const record = c.filter!;
    c.filter = (m) => m.to !== 3 && m.from !== 3; // 3 misses two entries
    c.member(1).node.propose(new TextEncoder().encode('x'));
    c.member(1).node.propose(new TextEncoder().encode('y'));
    c.stabilize();
    c.filter = record;
    log.length = 0;
    c.tick(1);
    expect(log.join('\n')).toMatchInlineSnapshot(`
      "1->2 heartbeat term=2 commit=4
      1->3 heartbeat term=2 commit=2
      2->1 heartbeat-response term=2
      3->1 heartbeat-response term=2
      1->3 append term=2 index=4 logTerm=2 commit=4
      3->1 append-response term=2 reject index=4 hint=2/2
      1->3 append term=2 index=2 logTerm=2 entries=[3@2:x 4@2:y] commit=4
      3->1 append-response term=2 index=4
      1->3 append term=2 index=4 logTerm=2 commit=4
      3->1 append-response term=2 index=4"
    `);
    expect(states()).toMatchInlineSnapshot(`
      "1: leader term=2 commit=4 last=4
      2: follower term=2 commit=4 last=4
      3: follower term=2 commit=4 last=4"
    `);
  });
});
