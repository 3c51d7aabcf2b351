// The long soak: many more seeds and longer fault phases than the normal test run.
//   node --conditions=@flotilla/source --import tsx packages/raft/test/soak.ts [seeds] [firstSeed]
// Environment: SOAK_FAULT_STEPS (default 2000). Exits 1 on the first failing seed and
// prints the runSimulation(...) call that reproduces it.
import { runSimulation, SimulationFailure, type SimulationOptions } from '../src/testing/index.js';

const seeds = Number(process.argv[2] ?? 100_000);
const first = Number(process.argv[3] ?? 1_000_000);
const faultSteps = Number(process.env.SOAK_FAULT_STEPS ?? 2000);
const profiles: Omit<SimulationOptions, 'seed'>[] = [
  { faultSteps },
  { faultSteps, voters: 5, spares: 3, dropRate: 0.1, crashRate: 0.02, partitionRate: 0.04, membershipRate: 0.02 },
  { faultSteps, readOnly: 'lease-based' },
  { faultSteps, preVote: false },
  { faultSteps, snapshotEvery: 5, electionTicks: 5, heartbeatTicks: 1, maxDelay: 6 },
  { faultSteps, readOnly: 'lease-based', maxDelay: 0, electionTicks: 20, heartbeatTicks: 1, keys: 1, clients: 6, partitionRate: 0.04 },
  { faultSteps, voters: 2, spares: 6, membershipRate: 0.05, preVote: false, checkQuorum: false },
  { faultSteps, preVote: false, checkQuorum: false, maxDelay: 0, keys: 1, clients: 6, partitionRate: 0.04, membershipRate: 0.03, spares: 4 },
  { faultSteps, maxSizePerMsg: 1, maxInflightMsgs: 1, maxDelay: 6, snapshotEvery: 3 },
  { faultSteps, applyBeforePersist: true, maxDelay: 0, keys: 1, clients: 6, partitionRate: 0.04, crashRate: 0.03 },
];
const t0 = Date.now();
for (let i = 0; i < seeds; i++) {
  const seed = first + i;
  const profile = profiles[i % profiles.length]!;
  try {
    runSimulation({ ...profile, seed });
  } catch (err) {
    if (err instanceof SimulationFailure) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  if ((i + 1) % 1000 === 0) console.log(`${i + 1}/${seeds} seeds ok (${Math.round((Date.now() - t0) / 1000)} s)`);
}
console.log(`soak: ${seeds} seeds from ${first}, ${faultSteps} fault steps each, all passed in ${Math.round((Date.now() - t0) / 1000)} s`);
