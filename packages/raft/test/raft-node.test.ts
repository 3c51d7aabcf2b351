// RaftNode with a state machine of its own (not the KV store): the generic contract — results
// come from apply, check guards proposals and every applied entry, errors are RaftNodeErrors.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStorage, RaftNode, isRaftError } from '../src/index.js';
import { freePort } from '../src/testing/index.js';
import { CounterMachine as Counter, type Add } from './counter-machine.js';

const nodes: RaftNode<Add, number>[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});

async function single(storage = MemoryStorage.bootstrap({ voters: [1], learners: [] }), log?: (l: string) => void) {
  const counter = new Counter();
  const node = new RaftNode<Add, number>({ id: 1, storage, stateMachine: counter, peerListen: `127.0.0.1:${await freePort()}`, tickMs: 10, seed: 1, ...(log ? { log } : {}) });
  nodes.push(node);
  await node.start();
  const deadline = Date.now() + 30_000;
  while (!node.isLeader()) {
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 10));
  }
  return { node, counter };
}

describe('RaftNode with a state machine of its own', () => {
  it('resolves a proposal with what apply returned, and a read after it sees it', async () => {
    const { node, counter } = await single();
    await expect(node.propose({ add: 2 })).resolves.toBe(2);
    await expect(node.propose({ add: 3 })).resolves.toBe(5);
    await node.readIndex();
    expect(counter.value).toBe(5);
    expect(node.appliedIndex).toBeGreaterThanOrEqual(4);
  });

  it('refuses what check refuses: the caller gets check\'s error and nothing is proposed', async () => {
    const { node } = await single();
    const before = node.raftStatus().lastIndex;
    await expect(node.propose({ add: 'x' })).rejects.toThrow('expected {add: number}');
    await expect(node.propose(null)).rejects.toThrow(TypeError);
    expect(node.raftStatus().lastIndex).toBe(before);
  });

  it('applies an entry its check refuses as a no-op with invalidEntry, and keeps serving', async () => {
    const storage = MemoryStorage.bootstrap({ voters: [1], learners: [] });
    const enc = new TextEncoder();
    storage.save({
      entries: [
        { index: 2, term: 1, type: 'normal', data: enc.encode(JSON.stringify({ r: 'x', c: { add: 'poison' } })) },
        { index: 3, term: 1, type: 'normal', data: enc.encode('not json') },
        { index: 4, term: 1, type: 'normal', data: enc.encode(JSON.stringify({ r: 'y', c: { add: 7 } })) },
      ],
      hardState: { term: 1, vote: 1, commit: 4 },
    });
    const logs: string[] = [];
    const { node, counter } = await single(storage, (l) => logs.push(l));
    await node.readIndex();
    expect(counter.value).toBe(7);
    expect(logs.filter((l) => l.includes('applied as a no-op'))).toHaveLength(2);
    await expect(node.propose({ add: 1 })).resolves.toBe(8);
  });

  it('fails waiting proposals with stopped when it stops', async () => {
    const { node } = await single();
    const p = node.propose({ add: 1 }).catch((e: unknown) => e);
    await node.stop();
    const err = await p;
    // either applied before the stop or failed by it, never left hanging
    expect(err === 1 || (isRaftError(err) && err.code === 'stopped')).toBe(true);
    await expect(node.propose({ add: 1 })).rejects.toMatchObject({ code: 'stopped' });
  });
});
