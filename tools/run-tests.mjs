#!/usr/bin/env node
// The repository's one test command (`npm test`): every phase of every project, in order,
// each timed. Fails on the first failing phase.
//   static   lint + typecheck (type-checked eslint rules, tsc strict), then the API reference
//            check (tools/api-docs.mjs --check: TypeDoc over every package's TSDoc, no warnings)
//   unit     vitest suites, reading workspace packages from source (no build needed)
//   package  build with tsup, then pack-check: publint, attw, and a packed install into an
//            empty project that type-checks and imports every export
//   e2e      end-to-end suites against real processes (sshd, etcd, flo server); they use the
//            built CLI and run one at a time
// Extra arguments are passed to nx (e.g. `npm test -- --skip-nx-cache`).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const extra = process.argv.slice(2);
const phases = [
  { name: 'static', targets: ['lint', 'typecheck'], after: ['tools/api-docs.mjs', '--check'] },
  { name: 'unit', targets: ['test'] },
  { name: 'package', targets: ['build', 'pack-check'] },
  { name: 'e2e', targets: ['e2e'] },
];

const projectDirs = ['packages', 'apps']
  .flatMap((p) => (existsSync(join(root, p)) ? readdirSync(join(root, p)).map((n) => join(root, p, n)) : []))
  .filter((d) => existsSync(join(d, 'package.json')));
for (const d of projectDirs) rmSync(join(d, '.vitest-results.json'), { force: true });

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const timings = [];
let failed = null;
for (const phase of phases) {
  const start = process.hrtime.bigint();
  console.log(`\n=== phase ${phase.name}: nx run-many -t ${phase.targets.join(' ')} ===`);
  const r = spawnSync(
    join(root, 'node_modules', '.bin', 'nx'),
    ['run-many', '-t', ...phase.targets, '--outputStyle=stream', ...extra],
    { cwd: root, stdio: 'inherit', env },
  );
  let status = r.status;
  if (status === 0 && phase.after) {
    console.log(`\n=== phase ${phase.name}: node ${phase.after.join(' ')} ===`);
    status = spawnSync(process.execPath, phase.after, { cwd: root, stdio: 'inherit', env }).status;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  timings.push({ phase: phase.name, seconds, ok: status === 0 });
  if (status !== 0) {
    failed = phase.name;
    break;
  }
}

let passed = 0;
let failedTests = 0;
let skipped = 0;
for (const d of projectDirs) {
  for (const file of ['.vitest-results.json', '.vitest-e2e-results.json']) {
    const p = join(d, file);
    if (!existsSync(p)) continue;
    try {
      const j = JSON.parse(readFileSync(p, 'utf8'));
      passed += j.numPassedTests ?? 0;
      failedTests += j.numFailedTests ?? 0;
      skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
    } catch {
      /* a report that cannot be read counts nothing */
    }
  }
}

console.log('\n=== timings ===');
for (const t of timings) console.log(`${t.phase.padEnd(8)} ${t.seconds.toFixed(1).padStart(7)} s  ${t.ok ? 'ok' : 'FAILED'}`);
console.log(`tests: ${passed} passed, ${failedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (failed) {
  console.error(`npm test: phase ${failed} failed`);
  process.exit(1);
}
