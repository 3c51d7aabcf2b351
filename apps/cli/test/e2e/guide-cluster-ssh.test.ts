// docs/guides/run-a-cluster-over-ssh.md, run as written: its files (examples/cluster-over-ssh:
// hosts.yaml, app.yaml) and every command of its tour.sh, through the built `flo`, on a real
// sshd fleet whose ssh_config has the guide's Host aliases (node01..node03). Needs root
// (skipped loudly otherwise; required with CI=true). Fleet 79/fltgs.
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFlo, processOf, until, type Flo, type InstanceJson } from './cluster-harness.js';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'cluster-over-ssh');
const avail = fleetAvailability();
if (!avail.ok) {
  if (process.env.CI === 'true') throw new Error(`CI=true but the sshd fleet cannot run: ${avail.reason}`);
  process.stderr.write(`\n*** SKIPPING the run-a-cluster-over-ssh guide e2e: ${avail.reason} ***\n\n`);
}

let fleet: Fleet;
let flo: Flo;
const instances = (): InstanceJson[] => flo.json<{ items: InstanceJson[] }>(['get', 'instances']).items;

beforeAll(async () => {
  if (!avail.ok) return;
  fleet = await startFleet({ size: 3, subnet: 79, userPrefix: 'fltgs', namePrefix: 'node' });
  flo = makeFlo(['--ssh-config', fleet.sshConfigFile]);
  for (const f of ['hosts.yaml', 'app.yaml']) copyFileSync(join(example, f), join(flo.dir, f));
  await writeSampleArtifact(flo.dir); // the guide's `tar -czf sample-app.tar.gz server.js package.json`
}, 120_000);

afterAll(async () => {
  if (!avail.ok) return;
  try {
    flo.run(['delete', '-f', 'app.yaml']);
  } catch {
    // already deleted by the tour
  }
  await fleet.stop();
  rmSync(flo.dir, { recursive: true, force: true });
}, 180_000);

describe.skipIf(!avail.ok)('the run-a-cluster-over-ssh guide', () => {
  it('every command of tour.sh succeeds, and does what the guide says', async () => {
    expect(fleet.hosts.map((h) => h.name)).toEqual(['node01', 'node02', 'node03']);
    const commands = readFileSync(join(example, 'tour.sh'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('flo '));
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const pids: number[] = [];
    for (const line of commands) {
      const args = line.slice('flo '.length).split(/\s+/);
      const { stdout } = flo.run(args);
      switch (line) {
        case 'flo get hosts':
          expect(flo.json<{ items: { name: string }[] }>(['get', 'hosts']).items.map((h) => h.name)).toEqual(['node01', 'node02', 'node03']);
          break;
        case 'flo apply -f app.yaml --dry-run':
          expect(instances()).toEqual([]); // nothing written
          expect(stdout).toMatch(/replicaset\/web/);
          break;
        case 'flo apply -f app.yaml --wait': {
          const running = instances().filter((i) => i.phase === 'Running' && i.ready);
          expect(running).toHaveLength(3);
          // spread by zone (maxSkew 1; node01 is zone a, node02 and node03 zone b): both zones are used
          expect(new Set(running.map((i) => (i.host === 'node01' ? 'a' : 'b')))).toEqual(new Set(['a', 'b']));
          for (const i of running) {
            const user = fleet.hosts.find((h) => h.name === i.host)!.user;
            expect(processOf(i.pid!)?.user, `${i.name} on ${i.host}`).toBe(user); // really runs there, as that host's user
            pids.push(i.pid!);
          }
          break;
        }
        case 'flo scale replicaset/web --replicas 5 --wait': {
          const ready = instances().filter((i) => i.phase === 'Running' && i.ready);
          expect(ready).toHaveLength(5);
          const inA = ready.filter((i) => i.host === 'node01').length;
          expect(Math.abs(inA - (5 - inA))).toBeLessThanOrEqual(1); // zone a vs zone b, skew at most 1
          break;
        }
        case 'flo drain node03 --wait':
          await until('node03 empty and 5 ready elsewhere', () => {
            const live = instances().filter((i) => i.phase !== 'Terminating');
            return !live.some((i) => i.host === 'node03') && live.filter((i) => i.ready).length === 5;
          }, 180_000);
          break;
        case 'flo delete -f app.yaml':
          expect(instances()).toEqual([]);
          for (const pid of pids) expect(processOf(pid), `pid ${pid} is gone`).toBeUndefined();
          break;
        default:
          break;
      }
    }
  }, 900_000);
});
