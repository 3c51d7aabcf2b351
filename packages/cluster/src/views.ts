/**
 * The `get`/`describe` views in DESIGN.md's JSON shapes (`-o json`): one flat record per
 * instance, host, replica set, service and network, and an object's events. Pure reads of
 * the store; `operations.ts` has what changes it.
 */
import { parseSelector, type Selector } from '@flotilla/labels';
import { allocatedByHost } from './controllers/placement.js';
import { imageDigestOf, imageText } from './images.js';
import { toSchedulerUnits } from './manifest/quantity.js';
import type { ClusterEvent, Endpoint, Host, Instance, InstanceCondition, Kind, LabelSelectorObject, Network, ReplicaSet, SelectorInput, Service } from './manifest/types.js';
import { DEFAULT_DOMAIN, DEFAULT_HOST_SUBNET_PREFIX } from './manifest/validate.js';
import { subnetCapacity } from './network/leases.js';
import type { ClusterStore } from './store/resources.js';
import { listEvents } from './watch.js';

function bySelector<T extends { metadata: { labels?: Record<string, string> } }>(items: T[], selector: string | undefined): T[] {
  if (selector === undefined) return items;
  const s: Selector = parseSelector(selector);
  return items.filter((i) => s.matches(i.metadata.labels ?? {}));
}

/** `flo get instances -o json` items. */
export interface InstanceView {
  name: string;
  labels: Record<string, string>;
  replicaSet: string;
  host: string;
  address: string;
  phase: string;
  ready: boolean;
  ports: Record<string, number>;
  pid?: number;
  restarts: number;
  startedAt?: string;
  /** `oci` for a container (the template has an image), else `process`. */
  runtime: 'process' | 'oci';
  /** Containers: the image as written (its reference, or URL). */
  image?: string;
  /** Containers: the image's manifest digest (the one running once started; the template's before). */
  imageDigest?: string;
  /** Containers: the principal whose signature its host checked. */
  signedBy?: string;
  /** Why the last run of a container ended (`OOMKilled`, `Error`, `Completed`). */
  reason?: string;
  /** Containers: `LimitsEnforced` (False on rootless hosts). */
  conditions?: InstanceCondition[];
}

export async function viewInstances(
  store: ClusterStore,
  options: {
    selector?: string;
    addressOf?: (h: Host) => string;
    /** Only the instances bound to this host (read from the per-host index). */
    host?: string;
    /** List this many a request (kubectl's `--chunk-size`); 0 = all in one list. @default 500 */
    chunkSize?: number;
  } = {},
): Promise<InstanceView[]> {
  const chunk = options.chunkSize ?? 500;
  if (!Number.isInteger(chunk) || chunk < 0) throw new TypeError(`chunkSize: expected a non-negative integer, received ${String(options.chunkSize)}`);
  const hosts = new Map((await store.hosts.items()).map((h) => [h.metadata.name, h]));
  const selector = options.selector !== undefined ? parseSelector(options.selector) : undefined;
  const out: InstanceView[] = [];
  let token: string | undefined;
  do {
    const page = await store.listInstances({ ...(options.host !== undefined ? { host: options.host } : {}), ...(chunk > 0 ? { limit: chunk } : {}), ...(token !== undefined ? { continue: token } : {}) });
    for (const { object: i } of page.items) if (!selector || selector.matches(i.metadata.labels ?? {})) out.push(instanceView(i, hosts.get(i.spec.host), options.addressOf));
    token = page.continue;
  } while (token !== undefined);
  return out;
}

/**
 * One instance as {@link viewInstances} shows it (a pure function, for watchers that keep
 * their own objects): `host` is its Host (for the address), `addressOf` how to reach one.
 */
export function instanceView(i: Instance, host: Host | undefined, addressOf: (h: Host) => string = (h) => h.spec.address ?? '127.0.0.1'): InstanceView {
  return {
    name: i.metadata.name,
    labels: i.metadata.labels ?? {},
    replicaSet: i.spec.replicaSet,
    host: i.spec.host,
    address: host ? addressOf(host) : '',
    phase: i.metadata.deletionTimestamp !== undefined ? 'Terminating' : (i.status?.phase ?? 'Pending'),
    ready: i.status?.ready ?? false,
    ports: i.status?.ports ?? {},
    ...(i.status?.pid !== undefined ? { pid: i.status.pid } : {}),
    restarts: i.status?.restarts ?? 0,
    ...(i.status?.startedAt !== undefined ? { startedAt: i.status.startedAt } : {}),
    ...containerFields(i),
  };
}

function containerFields(i: Instance): Pick<InstanceView, 'runtime' | 'image' | 'imageDigest' | 'signedBy' | 'reason' | 'conditions'> {
  const image = i.spec.template.image;
  if (image === undefined) return { runtime: 'process' };
  const text = imageText(image);
  const digest = i.status?.imageDigest ?? imageDigestOf(image);
  const s = i.status;
  return {
    runtime: 'oci',
    ...(text !== undefined ? { image: text } : {}),
    ...(digest !== undefined ? { imageDigest: digest } : {}),
    ...(s?.signedBy !== undefined ? { signedBy: s.signedBy } : {}),
    ...(s?.reason !== undefined ? { reason: s.reason } : {}),
    ...(s?.conditions !== undefined ? { conditions: s.conditions } : {}),
  };
}

/** `flo get hosts -o json` items. */
export interface HostView {
  name: string;
  labels: Record<string, string>;
  address: string;
  ready: boolean;
  unschedulable: boolean;
  capacity: Record<string, number>;
  allocated: Record<string, number>;
  load1?: number;
  /** The pod subnet the host leases (with a Network). */
  podSubnet?: string;
}

export async function viewHosts(store: ClusterStore, options: { selector?: string } = {}): Promise<HostView[]> {
  const allocated = allocatedByHost(await store.instances.items());
  return bySelector(await store.hosts.items(), options.selector).map((h) => hostView(h, allocated.get(h.metadata.name) ?? {}));
}

/** What every view of a host starts with (`flo get hosts`, the dashboard): name, labels, where it is (its address, else its local directory), ready, cordoned. */
export function hostSummary(h: Host): Pick<HostView, 'name' | 'labels' | 'address' | 'ready' | 'unschedulable'> {
  return {
    name: h.metadata.name,
    labels: h.metadata.labels ?? {},
    address: h.spec.address ?? h.spec.local?.dir ?? '',
    ready: h.status?.ready ?? false,
    unschedulable: h.spec.unschedulable ?? false,
  };
}

/** One host as {@link viewHosts} shows it; `allocated` is what its instances request (`allocatedByHost`). */
export function hostView(h: Host, allocated: Record<string, number>): HostView {
  return {
    ...hostSummary(h),
    capacity: toSchedulerUnits(h.spec.capacity ?? {}),
    allocated,
    ...(h.status?.load1 !== undefined ? { load1: h.status.load1 } : {}),
    ...(h.status?.podSubnet !== undefined ? { podSubnet: h.status.podSubnet } : {}),
  };
}

/** `flo get replicasets -o json` items. */
export interface ReplicaSetView {
  name: string;
  labels: Record<string, string>;
  selector: string;
  replicas: number;
  readyReplicas: number;
  observedGeneration: number;
}

function selectorText(s: LabelSelectorObject): string {
  const parts: string[] = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${(e.values ?? []).join(',')})`);
  }
  return parts.join(',');
}

/** A selector as written (string, LabelSelector or plain map) in the selector syntax. */
export function selectorInputText(s: SelectorInput): string {
  if (typeof s === 'string') return s;
  if ('matchLabels' in s || 'matchExpressions' in s) return selectorText(s);
  return Object.entries(s as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export async function viewReplicaSets(store: ClusterStore, options: { selector?: string } = {}): Promise<ReplicaSetView[]> {
  return bySelector(await store.replicaSets.items(), options.selector).map(replicaSetView);
}

/** One replica set as {@link viewReplicaSets} shows it. */
export function replicaSetView(r: ReplicaSet): ReplicaSetView {
  return {
    name: r.metadata.name,
    labels: r.metadata.labels ?? {},
    selector: selectorInputText(r.spec.selector),
    replicas: r.spec.replicas,
    readyReplicas: r.status?.readyReplicas ?? 0,
    observedGeneration: r.status?.observedGeneration ?? 0,
  };
}

/** `flo get services -o json` items. */
export interface ServiceView {
  name: string;
  /** The selector in the selector syntax; several (OR) joined by ` OR `. */
  selector: string;
  endpoints: Endpoint[];
  /** The virtual IP (with a Network). */
  clusterIP?: string;
  /** The extra DNS names (always present, possibly empty). */
  hostnames: string[];
  /** The VIP's ports as `port→target` text, e.g. `80→http` (with `ports`). */
  ports?: string[];
}

/** A service's selectors as a list (one selector, or the list it gives). */
export function serviceSelectors(spec: Service['spec']): SelectorInput[] {
  return Array.isArray(spec.selector) ? spec.selector : [spec.selector];
}

export async function viewServices(store: ClusterStore, options: { selector?: string } = {}): Promise<ServiceView[]> {
  return bySelector(await store.services.items(), options.selector).map(serviceView);
}

/** One service as {@link viewServices} shows it. */
export function serviceView(s: Service): ServiceView {
  return {
    name: s.metadata.name,
    selector: serviceSelectors(s.spec).map(selectorInputText).join(' OR '),
    endpoints: s.status?.endpoints ?? [],
    ...(s.status?.clusterIP !== undefined ? { clusterIP: s.status.clusterIP } : {}),
    hostnames: s.spec.hostnames ?? [],
    ...(s.spec.ports ? { ports: s.spec.ports.map((p) => `${p.port}→${String(p.targetPort ?? p.port)}`) } : {}),
  };
}

/** `flo get networks -o json` items. */
export interface NetworkView {
  name: string;
  podCIDR: string;
  hostSubnetPrefix: number;
  serviceCIDR: string;
  domain: string;
  backend: string;
  /** Hosts holding a subnet, and how many subnets there are. */
  leases: number;
  capacity: number;
}

export async function viewNetworks(store: ClusterStore, options: { selector?: string } = {}): Promise<NetworkView[]> {
  const hosts = await store.hosts.items();
  const leases = hosts.filter((h) => h.status?.podSubnet !== undefined).length;
  return bySelector(await store.networks.items(), options.selector).map((n) => networkView(n, leases));
}

/** One network as {@link viewNetworks} shows it; `leases` is how many hosts hold a subnet. */
export function networkView(n: Network, leases: number): NetworkView {
  return {
    name: n.metadata.name,
    podCIDR: n.spec.podCIDR,
    hostSubnetPrefix: n.spec.hostSubnetPrefix ?? DEFAULT_HOST_SUBNET_PREFIX,
    serviceCIDR: n.spec.serviceCIDR,
    domain: n.spec.domain ?? DEFAULT_DOMAIN,
    backend: n.spec.backend ?? 'host-gw',
    leases,
    capacity: subnetCapacity(n.spec),
  };
}

/** Events about one object, oldest first (for `describe`). */
export async function eventsFor(store: ClusterStore, kind: string, name: string): Promise<ClusterEvent[]> {
  return listEvents(store, { involved: { kind: kind as Kind, name } });
}

