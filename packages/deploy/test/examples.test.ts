// The deployfile of docs/guides/write-a-deployfile.md (examples/deployfile/), run through the
// runner `flo` uses, on the guide's inventory of two local hosts: build once, deploy with a
// key=value argument, status, and stop through the task's `hosts` option.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDeployfile, parseInventory, parseTaskInvocation, runTasks, type HostSelection, type LoadedTask } from '../src/index.js';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'deployfile');
const startDir = process.cwd();
let work: string;
let tasks: Map<string, LoadedTask>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'flotilla-deployfile-guide-'));
  process.chdir(work); // flo runs in the project directory: ./app.tar.gz and ./hosts/* are relative to it
  tasks = await loadDeployfile(join(example, 'flotilla.config.ts'));
}, 120_000);

afterAll(async () => {
  // whatever happened, stop the services the guide started
  await runTasks({ tasks, invocations: [parseTaskInvocation('stop:web')], selection: {}, inventory: parseInventory(readFileSync(join(example, 'hosts.yaml'), 'utf8')) }).catch(() => undefined);
  process.chdir(startDir);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

it("runs the guide's tasks: build once, deploy:web,greeting=hi on -R web, status, stop by the hosts option", async () => {
  const inventory = parseInventory(readFileSync(join(example, 'hosts.yaml'), 'utf8'));
  expect(inventory.map((h) => h.name)).toEqual(['web1', 'web2']);
  const output: string[] = [];
  const run = async (invocations: string[], selection: HostSelection) => {
    const results = await runTasks({ tasks, invocations: invocations.map(parseTaskInvocation), selection, inventory, onOutput: (host, line) => output.push(`${host}: ${line}`) });
    for (const r of results) expect(r.result.failed.map((f) => `${r.task} on ${f.host}: ${String(f.error)}`)).toEqual([]);
    return results;
  };
  expect([...tasks.keys()].sort()).toEqual(['build', 'deploy', 'status', 'stop', 'undo']);

  const deployed = await run(['build', 'deploy:web,greeting=hi'], { roles: ['web'] });
  expect(deployed.map((r) => [r.task, r.result.succeeded.map((s) => s.host).sort()])).toEqual([
    ['build', ['local']],
    ['deploy', ['web1', 'web2']],
  ]);
  expect(existsSync(join(work, 'app.tar.gz'))).toBe(true);
  for (const host of ['web1', 'web2']) expect(existsSync(join(work, 'hosts', host, '.flotilla', 'apps', 'web', 'current')), host).toBe(true);

  await run(['status:web'], { hosts: ['web1'] });
  expect(output).toContainEqual(expect.stringMatching(/^web1: web: running, pid \d+, 0 restarts$/));
  // the service's own output, in the supervisor's log on the host
  const deadline = Date.now() + 30_000;
  const log = join(work, 'hosts', 'web2', '.flotilla', 'services', 'web', 'log');
  while (!(existsSync(log) && readFileSync(log, 'utf8').includes('hi from web')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(readFileSync(log, 'utf8')).toContain('hi from web');

  const stopped = await run(['stop:web'], {}); // no selection: the task's hosts option (role=web)
  expect(stopped[0]!.result.succeeded.map((s) => s.host).sort()).toEqual(['web1', 'web2']);
  output.length = 0;
  await run(['status:web'], { hosts: ['web2'] });
  expect(output.join('\n')).not.toMatch(/running, pid/);
}, 120_000);
