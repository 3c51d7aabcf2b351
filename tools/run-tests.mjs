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
const reports = ['.vitest-results.json', '.vitest-e2e-results.json', '.vitest-flaky.json', '.vitest-e2e-flaky.json'];
for (const d of projectDirs) for (const f of reports) rmSync(join(d, f), { force: true });

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
/** Failed and flaky tests by name, so the end of the log says which (a CI log is often cut). */
const failures = [];
const flaky = [];
const firstLine = (m) => String(m ?? '').split('\n').find((l) => l.trim() !== '')?.slice(0, 300) ?? '';
for (const d of projectDirs) {
  const project = d.slice(root.length + 1);
  for (const file of ['.vitest-results.json', '.vitest-e2e-results.json']) {
    const p = join(d, file);
    if (!existsSync(p)) continue;
    try {
      const j = JSON.parse(readFileSync(p, 'utf8'));
      passed += j.numPassedTests ?? 0;
      failedTests += j.numFailedTests ?? 0;
      skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
      for (const f of j.testResults ?? []) {
        const rel = String(f.name ?? '').startsWith(d) ? String(f.name).slice(d.length + 1) : f.name;
        for (const a of f.assertionResults ?? []) {
          if (a.status === 'failed') failures.push(`${project}/${rel}: ${a.fullName}\n      ${firstLine(a.failureMessages?.[0])}`);
        }
        if (f.status === 'failed' && (f.assertionResults ?? []).every((a) => a.status !== 'failed')) {
          failures.push(`${project}/${rel}: ${firstLine(f.message) || 'the file failed outside its tests'}`);
        }
      }
    } catch {
      /* a report that cannot be read counts nothing */
    }
  }
  for (const file of ['.vitest-flaky.json', '.vitest-e2e-flaky.json']) {
    const p = join(d, file);
    if (!existsSync(p)) continue;
    try {
      for (const t of JSON.parse(readFileSync(p, 'utf8'))) {
        const rel = String(t.file).startsWith(d) ? String(t.file).slice(d.length + 1) : t.file;
        flaky.push(`${project}/${rel}: ${t.name} (passed on retry ${t.retries})${t.error ? `\n      first failure: ${firstLine(t.error)}` : ''}`);
      }
    } catch {
      /* as above */
    }
  }
}

console.log('\n=== timings ===');
for (const t of timings) console.log(`${t.phase.padEnd(8)} ${t.seconds.toFixed(1).padStart(7)} s  ${t.ok ? 'ok' : 'FAILED'}`);
console.log(`tests: ${passed} passed, ${failedTests} failed${skipped ? `, ${skipped} skipped` : ''}${flaky.length ? `, ${flaky.length} flaky` : ''}`);
if (flaky.length) console.log(`flaky (failed, then passed when CI retried them once):\n  ${flaky.join('\n  ')}`);
if (failures.length) console.log(`failed:\n  ${failures.join('\n  ')}`);
if (failed) {
  console.error(`npm test: phase ${failed} failed`);
  process.exit(1);
}
