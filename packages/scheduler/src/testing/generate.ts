/**
 * Seeded workload generators for tests and benchmarks. The same seed gives the same
 * cluster, always.
 */
import { mulberry32 } from '@flotilla/sys';
import type { Node, Pod, Taint } from '../types.js';

/**
 * A seeded pseudo-random source of floats in [0, 1) (mulberry32; the repository's one copy
 * lives in the internal `@flotilla/sys`, and `@flotilla/reconcile`'s `seededRandom` is the
 * same generator). The benchmark's workloads are defined by its sequence.
 */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** The kind of generated workload. */
export type WorkloadKind =
  /** Node sizes differ; many small and some large requests; selectors, taints, anti-affinity, spread, host ports. */
  | 'mixed'
  /** Node sizes differ; requests and node selectors over labels only. */
  | 'labels'
  /** Identical nodes; requests only. */
  | 'identical';

/** Options of {@link generateWorkload}. */
export interface WorkloadOptions {
  readonly kind: WorkloadKind;
  readonly nodes: number;
  readonly pods: number;
  /** @default 1 */
  readonly seed?: number;
  /** Total requests as a fraction of total capacity (per resource, roughly). @default 0.75 */
  readonly load?: number;
}

/** Node shapes for mixed sizes (cpu millicores, memory MiB), with their share of nodes. */
const SHAPES = [
  { cpu: 4000, memory: 16384, share: 0.3 },
  { cpu: 8000, memory: 32768, share: 0.35 },
  { cpu: 16000, memory: 65536, share: 0.25 },
  { cpu: 32000, memory: 131072, share: 0.1 },
] as const;

/** Pod request shapes: mostly small, some large (cpu millicores, memory MiB). */
const SMALL = [
  { cpu: 100, memory: 128 },
  { cpu: 100, memory: 512 },
  { cpu: 250, memory: 256 },
  { cpu: 250, memory: 1024 },
  { cpu: 500, memory: 1024 },
  { cpu: 500, memory: 2048 },
  { cpu: 750, memory: 2048 },
  { cpu: 1000, memory: 1024 },
  { cpu: 1000, memory: 4096 },
] as const;
const LARGE = [
  { cpu: 2000, memory: 8192 },
  { cpu: 3000, memory: 8192 },
  { cpu: 4000, memory: 12288 },
  { cpu: 4000, memory: 16384 },
  { cpu: 6000, memory: 24576 },
] as const;

const ZONES = ['zone-a', 'zone-b', 'zone-c'];

/**
 * Generates a seeded cluster and batch. Pod requests are scaled so their total is about
 * `load` of the cluster's capacity; about 1 pod in 10 is large.
 */
export function generateWorkload(options: WorkloadOptions): { nodes: Node[]; pods: Pod[] } {
  const random = seededRandom(options.seed ?? 1);
  const load = options.load ?? 0.75;
  const nodes: Node[] = [];
  let totalCpu = 0;
  for (let i = 0; i < options.nodes; i++) {
    let shape: { cpu: number; memory: number } = { cpu: 16000, memory: 65536 };
    if (options.kind !== 'identical') {
      let r = random();
      for (const s of SHAPES) {
        shape = s;
        r -= s.share;
        if (r < 0) break;
      }
    }
    totalCpu += shape.cpu;
    const name = `node-${String(i).padStart(5, '0')}`;
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': name,
      'topology.kubernetes.io/zone': ZONES[i % ZONES.length]!,
      disktype: random() < 0.3 ? 'ssd' : 'hdd',
      generation: String(1 + Math.floor(random() * 5)),
    };
    let taints: Taint[] | undefined;
    let unschedulable: boolean | undefined;
    if (options.kind === 'mixed') {
      const t = random();
      if (t < 0.05) taints = [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }];
      else if (t < 0.08) taints = [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }];
      if (random() < 0.01) unschedulable = true;
    }
    nodes.push({
      name,
      labels,
      capacity: { cpu: shape.cpu, memory: shape.memory },
      ...(taints === undefined ? {} : { taints }),
      ...(unschedulable === undefined ? {} : { unschedulable }),
    });
  }

  // Average pod cpu ≈ 0.9 × mean(SMALL) + 0.1 × mean(LARGE); scale the count to the load.
  const pods: Pod[] = [];
  const appCount = Math.max(1, Math.floor(options.pods / 20));
  // Per app: a fixed template, so all replicas of an app carry the same constraints.
  interface App {
    name: string;
    size: { cpu: number; memory: number };
    nodeSelector?: Record<string, string> | { matchExpressions: { key: string; operator: 'Gt' | 'In'; values: string[] }[] };
    tolerations?: Pod['tolerations'];
    antiAffinity?: Pod['antiAffinity'];
    spread?: Pod['spread'];
    hostPorts?: number[];
    replicas: number;
  }
  const apps: App[] = [];
  for (let a = 0; a < appCount; a++) {
    const large = random() < 0.1;
    const app: App = { name: `app-${a}`, size: large ? pick(random, LARGE) : pick(random, SMALL), replicas: 0 };
    if (options.kind !== 'identical') {
      const s = random();
      if (s < 0.05) app.nodeSelector = { disktype: 'ssd' };
      else if (s < 0.08) app.nodeSelector = { 'topology.kubernetes.io/zone': pick(random, ZONES) };
      else if (s < 0.1) app.nodeSelector = { matchExpressions: [{ key: 'generation', operator: 'Gt', values: ['2'] }] };
    }
    if (options.kind === 'mixed') {
      if (random() < 0.03) app.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }];
      const c = random();
      if (c < 0.05) {
        app.antiAffinity = { labelSelector: { app: app.name }, topologyKey: 'kubernetes.io/hostname' };
      } else if (c < 0.1) {
        app.spread = { topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1 };
      } else if (c < 0.11) {
        app.hostPorts = [8000 + (a % 100)];
      }
    }
    apps.push(app);
  }
  for (let i = 0; i < options.pods; i++) {
    const app = apps[Math.floor(random() * apps.length)]!;
    app.replicas++;
    pods.push({
      name: `pod-${String(i).padStart(7, '0')}`,
      labels: { app: app.name, tier: i % 2 === 0 ? 'web' : 'worker' },
      requests: { cpu: app.size.cpu, memory: app.size.memory },
      ...(app.nodeSelector === undefined ? {} : { nodeSelector: app.nodeSelector }),
      ...(app.tolerations === undefined ? {} : { tolerations: app.tolerations }),
      ...(app.antiAffinity === undefined ? {} : { antiAffinity: app.antiAffinity }),
      ...(app.spread === undefined ? {} : { spread: app.spread }),
      ...(app.hostPorts === undefined ? {} : { hostPorts: app.hostPorts }),
    });
  }
  // Scale the requests so the total cpu is `load` of the capacity (sizes keep their ratios).
  let requested = 0;
  for (const pod of pods) requested += pod.requests.cpu as number;
  const factor = (load * totalCpu) / Math.max(1, requested);
  for (let i = 0; i < pods.length; i++) {
    const pod = pods[i]!;
    const cpu = Math.max(10, Math.round(((pod.requests.cpu as number) * factor) / 10) * 10);
    const memory = Math.max(16, Math.round(((pod.requests.memory as number) * factor) / 16) * 16);
    pods[i] = { ...pod, requests: { cpu, memory } };
  }
  return { nodes, pods };
}
