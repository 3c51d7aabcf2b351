// The heart of the proof: seeded simulations of a faulty network, checked after every step
// for election safety, log matching, leader completeness and state-machine safety, for
// liveness once healed, and for linearizability of the client history. A failing seed
// throws a SimulationFailure whose message contains the exact runSimulation(...) call.
import { describe, expect, it } from 'vitest';
import { seededRandomSource } from '../src/index.js';
import { randomSimulationOptions, runSimulation, SimulationFailure, type SimulationOptions, type SimulationResult } from '../src/testing/index.js';

/** Seeds per configuration in the normal test run (see README: "Simulation"). */
const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 4000);
const CHUNK = 250;

function sweep(label: string, base: Omit<SimulationOptions, 'seed'>, seeds: number, firstSeed: number): void {
  describe(label, () => {
    for (let from = firstSeed; from < firstSeed + seeds; from += CHUNK) {
      const to = Math.min(from + CHUNK, firstSeed + seeds);
      // A generous timeout: the machine is shared, and a chunk's CPU time is a few seconds.
      it(`seeds ${from}..${to - 1}`, { timeout: 300_000 }, () => {
        const totals = { leaders: 0, crashes: 0, conf: 0, confCommitted: 0, leaderRemovals: 0, snaps: 0, ops: 0, unknown: 0 };
        for (let seed = from; seed < to; seed++) {
          const r: SimulationResult = runSimulation({ ...base, seed });
          totals.leaders += r.leadersElected;
          totals.crashes += r.crashes;
          totals.conf += r.confChanges;
          totals.confCommitted += r.confChangesCommitted;
          totals.leaderRemovals += r.leaderRemovals;
          totals.snaps += r.snapshotsSent;
          totals.ops += r.operations;
          totals.unknown += r.unknownOutcomes;
        }
        // The faults really happened (a simulation that exercises nothing proves nothing).
        expect(totals.leaders).toBeGreaterThan(to - from);
        expect(totals.crashes).toBeGreaterThan(0);
        expect(totals.ops).toBeGreaterThan(10 * (to - from));
        if (base.membershipRate !== 0) {
          expect(totals.confCommitted).toBeGreaterThan(0);
          expect(totals.leaderRemovals).toBeGreaterThan(0);
        }
        expect(totals.unknown).toBeGreaterThan(0);
        expect(totals.snaps).toBeGreaterThan(0);
      });
    }
  });
}

sweep('3 voters, 2 spares, safe ReadIndex (default faults)', {}, SEEDS, 1);
sweep('5 voters, 3 spares, heavier faults', { voters: 5, spares: 3, dropRate: 0.1, crashRate: 0.02, partitionRate: 0.04, membershipRate: 0.02 }, SEEDS / 4, 100_001);
sweep('lease-based ReadIndex', { readOnly: 'lease-based' }, SEEDS / 8, 200_001);
// Fast network, long elections, one hot key: the profile that exposes stale lease reads from
// a deposed leader (it caught the lease-after-TimeoutNow bug in ~1 of 500 seeds).
sweep('lease-based ReadIndex, fast network, leader isolation', { readOnly: 'lease-based', maxDelay: 0, electionTicks: 20, heartbeatTicks: 1, keys: 1, clients: 6, partitionRate: 0.04 }, SEEDS / 4, 500_001);
sweep('no pre-vote', { preVote: false, checkQuorum: true }, SEEDS / 8, 300_001);
// The KV server's ready loop applies (and answers clients) before its own fsync, as etcd does.
sweep('apply before persist, fast network, crashes', { applyBeforePersist: true, maxDelay: 0, keys: 1, clients: 6, partitionRate: 0.04, crashRate: 0.03 }, SEEDS / 8, 600_001);
// Without pre-vote and check-quorum, on a fast network: found a candidate stuck behind higher
// terms it never heard of (stale vote requests were ignored instead of rejected).
// Two founding voters growing and shrinking without pre-vote/check-quorum: found a leader
// that never heard of the higher terms (stale appends were ignored instead of answered).
sweep('2 voters, heavy membership churn, no pre-vote, no check-quorum', { voters: 2, spares: 4, membershipRate: 0.05, preVote: false, checkQuorum: false }, SEEDS / 8, 700_001);
sweep('no pre-vote, no check-quorum, fast network', { preVote: false, checkQuorum: false, maxDelay: 0, keys: 1, clients: 6, partitionRate: 0.04 }, SEEDS / 8, 900_001);
sweep('long runs (1500 fault steps, tiny snapshots, small elections)', { faultSteps: 1500, snapshotEvery: 7, electionTicks: 5, heartbeatTicks: 1 }, SEEDS / 8, 400_001);

describe('random configuration mixes', () => {
  // Each run draws its own options; the generator is seeded, so the set is fixed.
  const runs = SEEDS / 8;
  for (let from = 0; from < runs; from += CHUNK) {
    it(`mixes ${from}..${Math.min(from + CHUNK, runs) - 1}`, { timeout: 300_000 }, () => {
      const random = seededRandomSource(20261126 + from);
      for (let i = from; i < Math.min(from + CHUNK, runs); i++) runSimulation(randomSimulationOptions(random, 800_001 + i));
    });
  }
});

describe('the simulator itself', () => {
  it('is deterministic: the same seed and options replay the same run', () => {
    for (const seed of [3, 99, 12345]) {
      expect(runSimulation({ seed, voters: 5 })).toEqual(runSimulation({ seed, voters: 5 }));
    }
    expect(runSimulation({ seed: 1 })).not.toEqual(runSimulation({ seed: 2 }));
  });

  it('a failure names its seed and the exact call that replays it', () => {
    const f = new SimulationFailure(424242, 17, 'election safety: nodes 1 and 2 both lead term 5', { seed: 424242, voters: 5, dropRate: 0.1 });
    expect(f.message).toContain('runSimulation({"seed":424242,"voters":5,"dropRate":0.1})');
    expect(f.message).toContain('at step 17: election safety');
  });

  it('reports a lack of progress when the cluster cannot make any (liveness is really checked)', () => {
    // Five steps are too few for any election: the run must fail, loudly and replayably.
    let caught: unknown;
    try {
      runSimulation({ seed: 5, voters: 3, electionTicks: 10, faultSteps: 0, livenessSteps: 5 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SimulationFailure);
    expect(String((caught as Error).message)).toMatch(/no progress within 5 steps after the network healed[\s\S]*runSimulation\(\{"seed":5/);
  });
});
