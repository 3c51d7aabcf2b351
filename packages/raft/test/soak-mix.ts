// Random configuration mixes: each run draws its own simulator options (cluster size,
// timing, fault rates, read mode, pre-vote/check-quorum, flow-control limits, apply order)
// from a seeded generator. Run from the repo root:
//   node --conditions=@flotilla/source --import tsx packages/raft/test/soak-mix.ts [runs] [base]
// Prints the runSimulation({...}) call of the first failures and a summary; exits 1 on failure.
import { seededRandomSource } from '../src/index.js';
import { randomSimulationOptions, runSimulation } from '../src/testing/index.js';

const runs = Number(process.argv[2] ?? 1000);
const base = Number(process.argv[3] ?? 1);
const random = seededRandomSource(base);
let fails = 0;
const t0 = Date.now();
for (let i = 0; i < runs; i++) {
  const options = randomSimulationOptions(random, base * 100_000 + i);
  try {
    runSimulation(options);
  } catch (err) {
    fails++;
    if (fails <= 6) console.error(String(err).slice(0, 1000));
  }
}
console.log(`soak-mix: ${runs} random configurations from base ${base}, ${fails} failed, ${Math.round((Date.now() - t0) / 1000)} s`);
if (fails > 0) process.exit(1);
