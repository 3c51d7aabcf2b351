/**
 * `flo demo --network`: the talk's last chapters on a throwaway fleet of network-namespace
 * hosts — a Network (a pod subnet per host, service virtual IPs, DNS), the sample app as
 * containers labelled env=prod / env=test and version=1, the talk's two services
 * (`example.com` selects env=prod,app=web; `beta.example.com` selects env=test,app=web OR
 * env=prod,app=web), requests by name from inside a container, then web-prod's template flipped
 * from version=1 to version=2: a rolling update behind example.com, while beta.example.com keeps
 * answering from both.
 */
import { sleep, systemClock } from '@flotilla/reconcile';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterControllers } from '../controllers/manager.js';
import { ClusterError } from '../errors.js';
import { loadImageModule } from '../images.js';
import { parseManifests } from '../manifest/parse.js';
import type { Host, Instance } from '../manifest/types.js';
import { applyManifests, deleteObject } from '../operations.js';
import { convergence } from '../controllers/converge.js';
import { eventsFor } from '../views.js';
import type { DeployRuntime } from '../runtime/deploy.js';
import { openStore } from '../store/open.js';
import { stopLeftovers } from './demo.js';
import { buildSampleImage } from './sample-image.js';

/** Options of {@link runNetworkDemo}. */
export interface NetworkDemoOptions {
  /** A fresh directory for the store, artifacts and images. */
  dir: string;
  /** The runtime that reaches the hosts (over ssh). */
  runtime: DeployRuntime;
  /** The hosts: each with an IPv4 `address` on one L2 segment (e.g. a `startFleet({ netns: true })` fleet), root or passwordless sudo, the CNI plugins, nft or iptables, runc and node. */
  hosts: Host[];
  /** Where the story is told (one line per call). */
  log: (line: string) => void;
  /** Longest wait for any step. @default 300000 */
  stepTimeoutMs?: number;
  /** Requests per service and round. @default 12 */
  requests?: number;
}

/** Options of {@link networkDemoNetwork}: the Network's address ranges. */
export interface NetworkDemoRanges {
  /** Pods' addresses: a /24 of it per host. @default '10.244.0.0/16' */
  podCIDR?: string;
  /** Services' virtual IPs. @default '10.96.0.0/16' */
  serviceCIDR?: string;
}

/**
 * The demo's Network, as manifest YAML: a pod subnet per host (/24s of `podCIDR`), virtual IPs
 * from `serviceCIDR`, names under `flotilla.local`, host-gw routing. Tests that tell the same
 * story build theirs with it (with ranges of their own where they run beside others).
 */
export function networkDemoNetwork(ranges: NetworkDemoRanges = {}): string {
  return `apiVersion: flotilla.dev/v1
kind: Network
metadata: {name: default}
spec: {podCIDR: ${ranges.podCIDR ?? '10.244.0.0/16'}, hostSubnetPrefix: 24, serviceCIDR: ${ranges.serviceCIDR ?? '10.96.0.0/16'}, domain: flotilla.local, backend: host-gw}
`;
}

/**
 * The talk's services, as manifest YAML, one document each: `web` answers as `example.com` for
 * `env=prod,app=web`; `beta` answers as `beta.example.com` for `env=test,app=web` OR
 * `env=prod,app=web`. Both take port 80 to each instance's `http` port.
 */
export const NETWORK_DEMO_SERVICES = {
  web: `apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec:
  selector: "env=prod,app=web"
  ports: [{name: http, port: 80, targetPort: http}]
  hostnames: [example.com]
`,
  beta: `apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: beta}
spec:
  selector: ["env=test,app=web", "env=prod,app=web"]
  ports: [{name: http, port: 80, targetPort: http}]
  hostnames: [beta.example.com]
`,
} as const;

function replicaSet(env: string, replicas: number, version: string, image: string): string {
  return `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web-${env}}
spec:
  replicas: ${replicas}
  selector: "app=web,env=${env}"
  placement: spread
  updateStrategy: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata: {labels: {app: web, env: ${env}, version: "${version}"}}
    spec:
      image: ${JSON.stringify(`oci-archive:${image}`)}
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 32Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
`;
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** What `n` requests to `url` from inside a container got: answers by `instance (version v)`, and failures. */
interface RequestTally {
  answers: Map<string, number>;
  failed: number;
}

/** Runs the story; throws a `ClusterError` when a step does not happen within `stepTimeoutMs`. */
export async function runNetworkDemo(options: NetworkDemoOptions): Promise<void> {
  const { dir, runtime, hosts, log } = options;
  const stepMs = options.stepTimeoutMs ?? 300_000;
  const n = options.requests ?? 12;
  await mkdir(dir, { recursive: true });
  const store = await openStore(`file://${join(dir, 'store')}`, { artifactDir: join(dir, 'artifacts') });
  const controllers = new ClusterControllers({ store, runtime, hostProbeIntervalMs: 1000, hostGracePeriodMs: 10_000 });
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const m = await loadImageModule();

  const until = async <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => {
    const deadline = systemClock.now() + stepMs;
    for (;;) {
      const v = await f().catch(() => undefined);
      if (v !== undefined) return v;
      if (systemClock.now() > deadline) throw new ClusterError('timeout', `demo: ${what} did not happen within ${stepMs / 1000} s`);
      await sleep(systemClock, 500);
    }
  };
  const live = async (): Promise<Instance[]> => (await store.instances.items()).filter((i) => i.metadata.deletionTimestamp === undefined);
  const inside = async (client: Instance, script: string): Promise<string> => {
    const host = hosts.find((h) => h.metadata.name === client.spec.host)!;
    return (await m.execInContainer(runtime.connection(host), client.metadata.name, ['sh', '-c', script], { timeoutMs: 120_000 })).stdout;
  };
  const tally = async (client: Instance, name: string): Promise<RequestTally> => {
    // each request: the name resolved through the container's resolv.conf (busybox nslookup), then busybox nc
    const out = await inside(client, `i=0; while [ $i -lt ${n} ]; do a=$(nslookup -type=a ${name} 2>/dev/null); a=\${a##*Address: }; a=\${a%%[!0-9.]*}; [ -n "$a" ] && printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "$a" 80 2>/dev/null; echo @@; i=$((i+1)); done`);
    const answers = new Map<string, number>();
    let failed = 0;
    for (const reply of out.split('@@').slice(0, n)) {
      const m2 = / from (\S+) .*version (\S+)\)/.exec(reply);
      if (!m2) failed++;
      else answers.set(`${m2[1]} (version ${m2[2]})`, (answers.get(`${m2[1]} (version ${m2[2]})`) ?? 0) + 1);
    }
    return { answers, failed };
  };
  const tallyText = (t: RequestTally): string => [...[...t.answers].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k} ×${v}`), ...(t.failed ? [`failed ×${t.failed}`] : [])].join(', ');
  /** Requests until every endpoint of the service answered in one round and none failed. */
  const serve = async (client: Instance, name: string, service: string, expect: (t: RequestTally, endpoints: string[]) => boolean): Promise<RequestTally> =>
    until(`every endpoint of ${name} answering`, async () => {
      const endpoints = ((await store.services.get(service))?.status?.endpoints ?? []).map((e) => e.instance);
      const t = await tally(client, name);
      return t.failed === 0 && expect(t, endpoints) ? t : undefined;
    });
  const showInstances = async (): Promise<void> => {
    const items = (await live()).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    log(table([['INSTANCE', 'HOST', 'POD IP', 'LABELS', 'READY'], ...items.map((i) => [i.metadata.name, i.spec.host, `${i.status?.podIP ?? '-'}:${i.status?.ports.http ?? '-'}`, Object.entries(i.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','), String(i.status?.ready ?? false)])]));
  };

  try {
    log(`1. A throwaway fleet of ${hosts.length} hosts, each a network namespace with its own sshd (no route out of them), and a store in ${dir}`);
    const [v1, v2] = [await buildSampleImage(join(dir, 'build'), { version: '1' }), await buildSampleImage(join(dir, 'build'), { version: '2' })];
    log(`   flo image build: sample-app v1 ${v1.digest.slice(0, 19)}…, v2 ${v2.digest.slice(0, 19)}… (busybox httpd; the page says its version)`);
    const manifest = [hosts.map((h) => JSON.stringify(h)).join('\n---\n'), networkDemoNetwork(), replicaSet('prod', 2, '1', v1.path), replicaSet('test', 1, '1', v1.path), NETWORK_DEMO_SERVICES.web, NETWORK_DEMO_SERVICES.beta].join('\n---\n');
    const parsed = parseManifests(manifest, { file: 'demo-network.yaml' });
    if (parsed.issues.length > 0) throw new ClusterError('manifest-invalid', parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    log('2. flo apply: Network default (podCIDR 10.244.0.0/16, a /24 per host; serviceCIDR 10.96.0.0/16; domain flotilla.local),');
    log('   ReplicaSets web-prod (2 × env=prod,version=1) and web-test (1 × env=test,version=1), and the talk\'s services:');
    log('     service example.com       select(env=prod,app=web)');
    log('     service beta.example.com  select(env=test,app=web) OR select(env=prod,app=web)');
    await applyManifests(store, parsed.objects);
    running = controllers.run(abort.signal);
    await until('3 ready containers with pod IPs', async () => ((await convergence(store)).done && (await live()).length === 3 && (await live()).every((i) => i.status?.podIP !== undefined) ? true : undefined));
    await until('every host networked', async () => {
      for (const h of hosts) if (!(await eventsFor(store, 'Host', h.metadata.name)).some((e) => e.reason === 'NetworkReady')) return undefined;
      return true;
    });
    const subnets = (await store.hosts.items()).map((h) => `${h.metadata.name} ${h.status?.podSubnet ?? '-'}`).join(', ');
    log(`   subnets leased: ${subnets}; each host routes the others' subnets (host-gw) and answers DNS on its bridge address`);
    await showInstances();
    const services = await until('virtual IPs', async () => {
      const s = await store.services.items();
      return s.every((x) => x.status?.clusterIP !== undefined) ? s : undefined;
    });
    log(table([['SERVICE', 'VIRTUAL IP', 'NAMES', 'ENDPOINTS'], ...services.map((s) => [s.metadata.name, `${s.status!.clusterIP!}:80`, [`${s.metadata.name}.flotilla.local`, ...(s.spec.hostnames ?? [])].join(' '), (s.status?.endpoints ?? []).map((e) => `${e.address}:${e.port}`).join(' ')])]));

    const client = (await live()).find((i) => i.metadata.labels?.env === 'test')!;
    log(`3. From inside container ${client.metadata.name} on ${client.spec.host} (its resolv.conf names the host's resolver; each request resolves the name, then connects to the address):`);
    for (const name of ['example.com', 'beta.example.com']) {
      const out = await inside(client, `nslookup -type=a ${name} 2>&1; true`);
      const addr = /Name:[\s\S]*?Address(?: \d+)?:\s*([\d.]+)/.exec(out)?.[1] ?? '?';
      log(`   nslookup ${name} → ${addr}`);
    }
    const prod1 = await serve(client, 'example.com', 'web', (t, e) => e.length === 2 && t.answers.size === 2);
    log(`   GET http://example.com/ ×${n}: ${tallyText(prod1)}`);
    const beta1 = await serve(client, 'beta.example.com', 'beta', (t, e) => e.length === 3 && t.answers.size === 3);
    log(`   GET http://beta.example.com/ ×${n}: ${tallyText(beta1)}`);

    log('4. flo apply: web-prod\'s template flipped from version=1 to version=2 (image v2): a rolling update behind example.com');
    const flip = parseManifests(replicaSet('prod', 2, '2', v2.path), { file: 'demo-network-v2.yaml' });
    await applyManifests(store, flip.objects);
    await until('the rollout to version=2', async () => ((await convergence(store)).done && (await live()).filter((i) => i.metadata.labels?.env === 'prod').every((i) => i.metadata.labels?.version === '2' && i.status?.ready === true) ? true : undefined));
    await showInstances();
    const prod2 = await serve(client, 'example.com', 'web', (t, e) => e.length === 2 && t.answers.size === 2 && [...t.answers.keys()].every((k) => k.endsWith('(version 2)')));
    log(`   GET http://example.com/ ×${n}: ${tallyText(prod2)}`);
    const beta2 = await serve(client, 'beta.example.com', 'beta', (t, e) => e.length === 3 && t.answers.size === 3);
    log(`   GET http://beta.example.com/ ×${n}: ${tallyText(beta2)}`);
    log('   the same names and virtual IPs, new endpoints: the VIP rules followed the labels');

    log('5. Cleaning up: the ReplicaSets deleted; each container stopped and its pod network deleted (CNI DEL)');
    for (const rs of ['web-prod', 'web-test']) await deleteObject(store, 'ReplicaSet', rs);
    await until('every instance stopped', async () => ((await store.instances.items()).length === 0 ? true : undefined));
    log('   done.');
  } finally {
    abort.abort();
    await running;
    await stopLeftovers(store, runtime, hosts);
    await store.close();
  }
}
