// What the built `flo` loads when it does not need it (issue 16: "keep flo's start-up
// unaffected"; DESIGN: heavy modules load only in the commands that need them). A module
// resolve hook records every module the process resolves; `flo --version` and the --help of
// the long-running commands must load neither prom-client nor the dashboard (its server, its
// metrics, its page), which only `flo ui`, `flo server`, `flo controller` and `flo agent` load
// when they run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { floCommand } from './kv-harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'flo-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.FLO_TRACE, r.url + '\\\\n');
  return r;
}\`));
`;

/** The files (file: URLs as paths) that `flo ...args` resolved. */
function loaded(args: string[]): string[] {
  const hook = path.join(dir, 'hook.mjs');
  writeFileSync(hook, HOOK);
  const trace = path.join(dir, `trace-${args.join('-').replace(/[^a-z-]/g, '')}.txt`);
  writeFileSync(trace, '');
  execFileSync(process.execPath, ['--import', hook, ...floCommand(), ...args], { env: { ...process.env, FLO_TRACE: trace, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  return [...new Set(readFileSync(trace, 'utf8').split('\n').filter((u) => u.startsWith('file:')))].map((u) => fileURLToPath(u));
}

describe.skipIf(process.env.FLO_E2E_FROM_SOURCE === '1')('start-up of the built flo', () => {
  it.each(['--version', 'ui --help', 'controller --help', 'agent --help', 'server --help'])('flo %s loads neither prom-client nor the dashboard', (command) => {
    const files = loaded(command.split(' '));
    expect(files.length).toBeGreaterThan(1);
    expect(files.filter((f) => /[\\/]node_modules[\\/](prom-client|preact|playwright-core)[\\/]/.test(f))).toEqual([]);
    // the dashboard's server and metrics, by what only they contain
    const dashboard = files.filter((f) => f.endsWith('.js') && /text\/event-stream|flotilla_ui_streams/.test(readFileSync(f, 'utf8')));
    expect(dashboard).toEqual([]);
  });

  it('the marker strings are where the dashboard is (so the check above can fail)', () => {
    const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
    const all = execFileSync('grep', ['-l', '-r', '--include=*.js', 'flotilla_ui_streams', dist], { encoding: 'utf8' }).trim().split('\n');
    expect(all.length).toBeGreaterThan(0);
  });
});
