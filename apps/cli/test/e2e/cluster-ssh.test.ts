// The cluster flows through the built `flo` against a real sshd fleet: 6 loopback hosts,
// each its own unix user. Needs root (skipped loudly otherwise; required with CI=true).
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
import { fleetAvailability, startFleet, type Fleet } from '@flotilla/deploy/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appYaml, makeFlo, processOf, until, write, type Flo, type InstanceJson } from './cluster-harness.js';

const avail = fleetAvailability();
if (!avail.ok) {
  if (process.env.CI === 'true') throw new Error(`CI=true but the sshd fleet cannot run: ${avail.reason}`);
  process.stderr.write(`\n*** SKIPPING cluster-ssh e2e: ${avail.reason} ***\n\n`);
}

let fleet: Fleet;
let flo: Flo;
const instances = (): InstanceJson[] => flo.json<{ items: InstanceJson[] }>(['get', 'instances']).items;
const live = (): InstanceJson[] => instances().filter((i) => i.phase !== 'Terminating');
const userOf = (host: string): string => fleet.hosts.find((h) => h.name === host)!.user;

/** The host's sshd and every sshd it forked for open connections: freezing them all is a host that stops answering. */
function sshdTree(root: number): number[] {
  const children = new Map<number, number[]>();
  const comm = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      comm.set(Number(d), stat.slice(stat.indexOf('(') + 1, close));
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) if (comm.get(c) === 'sshd') walk(c);
  };
  walk(root);
  return out;
}

beforeAll(async () => {
  if (!avail.ok) return;
  fleet = await startFleet({ size: 6, subnet: 63, userPrefix: 'fltcl', namePrefix: 'c' });
  flo = makeFlo(['--ssh-config', fleet.sshConfigFile]);
  await writeSampleArtifact(flo.dir);
}, 120_000);

afterAll(async () => {
  if (!avail.ok) return;
  await flo.stopController();
  try {
    flo.run(['delete', 'replicaset/web']);
  } catch {
    // already gone, or a host is away
  }
  await fleet.stop();
  rmSync(flo.dir, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!avail.ok)('flo cluster commands over ssh (sshd fleet)', () => {
  it('apply --wait: 5 replicas over 6 hosts, checked against each host user\'s process table', () => {
    const hosts = fleet.hosts
      .map(
        (h, i) => `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: ${h.name}, labels: {zone: ${i % 2 ? 'b' : 'a'}}}
spec: {address: ${h.name}, capacity: {cpu: 2, memory: 2Gi}}
---
`,
      )
      .join('');
    write(flo.dir, 'app.yaml', hosts + appYaml({ replicas: 5, artifact: './sample-app.tar.gz' }));
    flo.run(['apply', '-f', 'app.yaml', '--wait']);
    const items = live();
    expect(items).toHaveLength(5);
    for (const i of items) {
      const p = processOf(i.pid!);
      expect(p).toEqual({ user: userOf(i.host), args: 'node server.js' });
      expect(i.address).toBe(fleet.hosts.find((h) => h.name === i.host)!.address);
    }
  });

  it('SIGKILL an instance → healed by flo controller', async () => {
    flo.startController();
    const victim = live()[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    const healed = await until('healed', () => {
      const cur = live().find((i) => i.name === victim.name);
      return cur?.ready && cur.pid !== victim.pid ? cur : undefined;
    });
    expect(processOf(healed.pid!)?.user).toBe(userOf(healed.host));
  });

  it("a host whose sshd stops answering: its instances are rescheduled, and stopped there when it returns", async () => {
    const byHost = new Map<string, InstanceJson[]>();
    for (const i of live()) byHost.set(i.host, [...(byHost.get(i.host) ?? []), i]);
    const [hostName, onIt] = [...byHost].find(([, v]) => v.length > 0)!;
    const frozen = sshdTree(fleet.hosts.find((h) => h.name === hostName)!.pid);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      let lastShown = 0;
      await until(
        'rescheduled',
        () => {
          const now = live();
          if (process.env.FLO_E2E_VERBOSE && Date.now() - lastShown > 10_000) {
            lastShown = Date.now();
            process.stderr.write(`${new Date().toISOString()} stopped ${hostName}\n${flo.run(['get', 'instances']).stdout}${flo.run(['get', 'hosts']).stdout}`);
          }
          return now.length === 5 && now.every((i) => i.ready && i.host !== hostName) ? now : undefined;
        },
        150_000,
      );
      // still running there: the host cannot be told yet
      for (const i of onIt) expect(processOf(i.pid!)?.user).toBe(userOf(hostName));
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await until('stopped on the returned host', () => onIt.every((i) => processOf(i.pid!) === undefined) && instances().every((i) => i.host !== hostName), 150_000);
    const hosts = flo.json<{ items: { name: string; ready: boolean }[] }>(['get', 'hosts']).items;
    await until('host ready again', () => flo.json<{ items: { name: string; ready: boolean }[] }>(['get', 'hosts']).items.find((h) => h.name === hostName)?.ready === true, 60_000);
    expect(hosts.length).toBe(6);
  });

  it('scales up and down', async () => {
    await flo.stopController();
    flo.run(['scale', 'replicaset/web', '--replicas', '8', '--wait']);
    expect(live().filter((i) => i.ready)).toHaveLength(8);
    flo.run(['scale', 'replicaset/web', '--replicas', '2', '--wait']);
    const now = live();
    expect(now).toHaveLength(2);
    const running = fleet.hosts.flatMap((h) => now.filter((i) => i.host === h.name).map((i) => processOf(i.pid!)?.user === h.user));
    expect(running).toEqual([true, true]);
  });

  it('a rolling update whose health check fails is rolled back, on the ssh hosts', async () => {
    flo.run(['scale', 'replicaset/web', '--replicas', '3', '--wait']);
    flo.startController();
    // The same template with FAIL_HEALTH set: the new instances never pass their health check.
    write(flo.dir, 'bad.yaml', appYaml({ replicas: 3, artifact: './sample-app.tar.gz', env: { GREETING: 'hello', FAIL_HEALTH: '1' } }));
    flo.run(['apply', '-f', 'bad.yaml']);
    await until(
      'rolled back',
      () => flo.run(['describe', 'replicaset/web']).stdout.includes('RolledBack') && live().every((i) => i.ready) && live().length === 3,
      150_000,
    );
    expect(flo.run(['describe', 'replicaset/web']).stdout).toMatch(/RolledBack .*rolling back to/);
    for (const i of live()) expect(processOf(i.pid!)).toEqual({ user: userOf(i.host), args: 'node server.js' });
  });
});
