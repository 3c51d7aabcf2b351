// How long `flo --version` takes, start to exit, as a user's shell sees it (issue 17: under
// 100 ms), against the floor of any Node program, `node -e 0`, measured in the same run.
// The two are interleaved (flo, node, flo, node, …) so that load on a shared machine falls on
// both alike. Needs the built CLI (npx nx run flotilla:build). Usage:
//   npm run bench -w flotilla [-- RUNS]        (default 60 runs of each, after 5 warm-ups)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/flo.js', import.meta.url));
if (!existsSync(fileURLToPath(new URL('../dist/main.js', import.meta.url)))) {
  console.error('apps/cli/dist/main.js is missing: build the CLI first (npx nx run flotilla:build)');
  process.exit(2);
}
const runs = Number(process.argv[2] ?? 60);
const cases: Record<string, string[]> = {
  'flo --version': [bin, '--version'],
  'node -e 0': ['-e', '0'],
};

/**
 * Also asked of each child, at its exit (through a tiny --import hook given to both alike): the
 * CPU time it used (user + system), which load on a shared machine disturbs far less than the
 * wall time.
 */
const hook = `data:text/javascript,${encodeURIComponent("import { writeSync } from 'node:fs'; process.on('exit', () => { const u = process.cpuUsage(); writeSync(3, String((u.user + u.system) / 1000)); });")}`;

function once(args: string[]): { wallMs: number; cpuMs: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', hook, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const wallMs = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wallMs, cpuMs: Number(r.output[3]) };
}

for (let i = 0; i < 5; i++) for (const args of Object.values(cases)) once(args);
const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const load = loadavg()[0] ?? 0;
for (let i = 0; i < runs; i++)
  for (const [name, args] of Object.entries(cases)) {
    const r = once(args);
    times[name]!.push(r.wallMs);
    cpu[name]!.push(r.cpuMs);
  }

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
};
const row = (name: string) => {
  const xs = times[name]!;
  return { name, median: q(xs, 0.5), p10: q(xs, 0.1), p90: q(xs, 0.9), min: Math.min(...xs), cpu: q(cpu[name]!, 0.5) };
};
const flo = row('flo --version');
const node = row('node -e 0');
const f = (x: number): string => `${x.toFixed(1)} ms`;
console.log(`${new Date().toISOString()}  ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${load.toFixed(1)} at the start, ${runs} runs each, interleaved`);
console.log('| command | wall median | p10 | p90 | min | CPU median (user+sys) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of [flo, node]) console.log(`| \`${r.name}\` | ${f(r.median)} | ${f(r.p10)} | ${f(r.p90)} | ${f(r.min)} | ${f(r.cpu)} |`);
console.log(
  `flo --version / node -e 0: wall ${(flo.median / node.median).toFixed(2)}x (median; +${f(flo.median - node.median)}), min ${(flo.min / node.min).toFixed(2)}x (+${f(flo.min - node.min)}), CPU ${(flo.cpu / node.cpu).toFixed(2)}x (+${f(flo.cpu - node.cpu)}); target: flo --version under 100 ms`,
);
