// In-process 3-node cluster on an instant network: committed entries per second (batched
// proposals), idle ticks per second, and elections per second. Run from the repo root:
//   node --conditions=@flotilla/source --import tsx packages/raft/bench/throughput.ts
import { performance } from 'node:perf_hooks';
import { InstantCluster } from '../src/testing/index.js';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);

function committedPerSecond(batch: number, payloadBytes: number): { rate: number; entries: number } {
  const c = new InstantCluster([1, 2, 3], { keepApplied: false, electionTicks: 10, heartbeatTicks: 1 });
  c.campaign(1);
  const leader = c.member(1);
  const payload = new Uint8Array(payloadBytes);
  const datas = Array.from({ length: batch }, () => payload);
  // warm-up
  for (let i = 0; i < 200; i++) {
    leader.node.proposeBatch(datas);
    c.stabilize();
  }
  const start0 = leader.appliedCount;
  const t0 = performance.now();
  let rounds = 0;
  while (performance.now() - t0 < DURATION_MS) {
    leader.node.proposeBatch(datas);
    c.stabilize();
    if (++rounds % 64 === 0) compactAll(c);
  }
  const ms = performance.now() - t0;
  const entries = leader.appliedCount - start0;
  for (const m of c.members.values()) {
    if (m.appliedCount !== leader.appliedCount) throw new Error(`member ${m.node.status().id} applied ${m.appliedCount}, leader ${leader.appliedCount}`);
  }
  return { rate: (entries / ms) * 1000, entries };
}

/** Keeps memory flat: snapshot and compact every member at its applied index. */
function compactAll(c: InstantCluster): void {
  for (const m of c.members.values()) {
    const st = m.node.status();
    if (st.applied > m.storage.snapshot().index + 1000) {
      m.storage.createSnapshot(st.applied, st.config, new Uint8Array(0));
      m.storage.compact(st.applied);
    }
  }
}

function ticksPerSecond(): number {
  const c = new InstantCluster([1, 2, 3], { keepApplied: false, electionTicks: 10, heartbeatTicks: 1 });
  c.campaign(1);
  const t0 = performance.now();
  let ticks = 0;
  while (performance.now() - t0 < DURATION_MS) {
    c.tick(1); // one tick on each of the 3 nodes, heartbeats delivered
    ticks += 3;
  }
  if (c.leader() !== 1) throw new Error('leadership changed while idle');
  return (ticks / (performance.now() - t0)) * 1000;
}

function electionsPerSecond(): number {
  const c = new InstantCluster([1, 2, 3], { keepApplied: false, electionTicks: 10, heartbeatTicks: 1, checkQuorum: false });
  c.campaign(1);
  const t0 = performance.now();
  let elections = 0;
  while (performance.now() - t0 < DURATION_MS) {
    const next = (c.leader() % 3) + 1;
    c.campaign(next); // pre-vote round + election + the new leader's no-op committed
    if (c.leader() !== next) throw new Error(`election of ${next} failed`);
    elections++;
  }
  return (elections / (performance.now() - t0)) * 1000;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(`node ${process.version}, ${DURATION_MS} ms per figure`);
for (const [batch, bytes] of [[1, 64], [10, 64], [100, 64], [1000, 64], [1000, 256]] as const) {
  const r = committedPerSecond(batch, bytes);
  console.log(`committed entries/s  batch=${String(batch).padStart(4)} payload=${bytes}B: ${fmt(r.rate).padStart(11)}  (${fmt(r.entries)} entries)`);
}
console.log(`ticks/s (3 nodes, heartbeats delivered): ${fmt(ticksPerSecond())}`);
console.log(`elections/s (pre-vote + vote + no-op commit): ${fmt(electionsPerSecond())}`);
