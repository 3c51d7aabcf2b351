/**
 * `flo get`: objects of one kind with their observed state, as a table, DESIGN's flat JSON,
 * apply-able YAML manifests, or `kind/name` lines.
 */
import type * as Cluster from '@flotilla/cluster';
import { UsageError } from '../cli/args.js';
import { age, canonicalKind, clusterOptions, openCluster, selectorOption, type ClusterSession } from '../cli/cluster-context.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import { interruptSignal, restartNotices, StreamTable, watchMode, watchOptions } from '../cli/watching.js';
import { noHeadersOption, outputFormat, printJsonLine, printOutput, printTable, refText, yamlDocumentWriter, YamlStream, type OutputFormat, type Table } from '../output/format.js';

const formats: readonly OutputFormat[] = ['text', 'wide', 'json', 'yaml', 'name'];
const KINDS = 'hosts, replicasets, instances, services or networks';

/** `get KIND [NAME…]` or `get KIND/NAME…` (one kind). */
function target(positionals: readonly string[]): { kind: string; names: string[] } {
  const [first, ...rest] = positionals;
  if (first === undefined) throw new UsageError(`get needs a kind: ${KINDS}`);
  if (!first.includes('/')) {
    const kind = canonicalKind(first);
    if (kind === undefined) throw new UsageError(`unknown kind "${first}" (expected ${KINDS})`);
    for (const n of rest) if (n.includes('/')) throw new UsageError(`${n}: give either KIND NAME… or KIND/NAME…, not both`);
    return { kind, names: rest };
  }
  let kind: string | undefined;
  const names: string[] = [];
  for (const ref of positionals) {
    const slash = ref.indexOf('/');
    if (slash < 0) throw new UsageError(`${ref}: give either KIND NAME… or KIND/NAME…, not both`);
    const k = canonicalKind(ref.slice(0, slash));
    if (k === undefined) throw new UsageError(`unknown kind "${ref.slice(0, slash)}" (expected ${KINDS})`);
    if (kind !== undefined && k !== kind) throw new UsageError(`get lists one kind at a time (${ref} is not a ${kind})`);
    if (ref.slice(slash + 1) === '') throw new UsageError(`expected a name after ${ref}`);
    kind = k;
    names.push(ref.slice(slash + 1));
  }
  return { kind: kind!, names };
}

/** A kind's table: its header and one row per item (`wide`: -o wide's extra columns). */
interface Columns<V> {
  header(wide: boolean): string[];
  row(item: V, wide: boolean): string[];
}

const instanceColumns: Columns<Cluster.InstanceView> = {
  header: (wide) => ['NAME', 'READY', 'PHASE', 'HOST', 'PORTS', 'PID', 'RESTARTS', 'AGE', ...(wide ? ['ADDRESS', 'REPLICASET', 'IMAGE'] : [])],
  row: (i, wide) => [
    i.name,
    i.ready ? 'true' : 'false',
    i.phase,
    i.host,
    Object.entries(i.ports).map(([n, p]) => `${n}:${p}`).join(',') || '-',
    i.pid !== undefined ? String(i.pid) : '-',
    String(i.restarts),
    age(i.startedAt),
    ...(wide ? [i.address, i.replicaSet, i.imageDigest !== undefined ? i.imageDigest.replace(/^sha256:/, '').slice(0, 12) : '-'] : []),
  ],
};

/** `podSubnets`: the PODSUBNET column, shown once a Network exists (a host without a lease yet shows <pending>). */
const hostColumns = (podSubnets: boolean): Columns<Cluster.HostView> => ({
  header: (wide) => ['NAME', 'STATUS', 'ADDRESS', ...(podSubnets ? ['PODSUBNET'] : []), 'CPU(m)', 'MEMORY(Mi)', 'LOAD1', ...(wide ? ['LABELS'] : [])],
  row: (h, wide) => [
    h.name,
    `${h.ready ? 'Ready' : 'NotReady'}${h.unschedulable ? ',SchedulingDisabled' : ''}`,
    h.address,
    ...(podSubnets ? [h.podSubnet ?? '<pending>'] : []),
    `${h.allocated.cpu ?? 0}/${h.capacity.cpu ?? 0}`,
    `${h.allocated.memory ?? 0}/${h.capacity.memory ?? 0}`,
    h.load1 !== undefined ? h.load1.toFixed(2) : '-',
    ...(wide ? [Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(',')] : []),
  ],
});

const replicaSetColumns: Columns<Cluster.ReplicaSetView> = {
  header: (wide) => ['NAME', 'DESIRED', 'READY', 'SELECTOR', ...(wide ? ['GENERATION'] : [])],
  row: (r, wide) => [r.name, String(r.replicas), String(r.readyReplicas), r.selector, ...(wide ? [String(r.observedGeneration)] : [])],
};

/** `vips`: the CLUSTER-IP and PORTS columns, shown when a service has a VIP or ports. */
const serviceColumns = (vips: boolean): Columns<Cluster.ServiceView> => ({
  header: (wide) => ['NAME', ...(vips ? ['CLUSTER-IP', 'PORTS'] : []), 'SELECTOR', 'ENDPOINTS', ...(wide ? ['HOSTNAMES'] : [])],
  row: (v, wide) => [
    v.name,
    ...(vips ? [v.clusterIP ?? (v.ports ? '<pending>' : '<none>'), v.ports?.join(',') ?? '-'] : []),
    v.selector,
    v.endpoints.map((e) => `${e.address}:${e.port}`).join(',') || '<none>',
    ...(wide ? [v.hostnames.join(',') || '-'] : []),
  ],
});

const networkColumns: Columns<Cluster.NetworkView> = {
  header: () => ['NAME', 'POD-CIDR', 'HOST-PREFIX', 'SERVICE-CIDR', 'DOMAIN', 'BACKEND', 'LEASES'],
  row: (n) => [n.name, n.podCIDR, `/${n.hostSubnetPrefix}`, n.serviceCIDR, n.domain, n.backend, `${n.leases}/${n.capacity}`],
};

function tableOf<V>(columns: Columns<V>, items: readonly V[], wide: boolean): Table {
  return { header: columns.header(wide), rows: items.map((i) => columns.row(i, wide)) };
}

/** A view item's name. */
const nameOf = (v: { name: string }): string => v.name;

/** The kind's store. */
function storeOf(s: ClusterSession, kind: string): Cluster.ResourceStore<Cluster.Manifest | Cluster.Instance> {
  return kind === 'Host' ? s.store.hosts : kind === 'ReplicaSet' ? s.store.replicaSets : kind === 'Service' ? s.store.services : kind === 'Network' ? s.store.networks : s.store.instances;
}

/** Follows a store in the background into `onChange`; resolves once its first list is in. */
async function follow<T extends Cluster.Resource>(s: ClusterSession, store: Cluster.ResourceStore<T>, signal: AbortSignal, onChange: (type: 'added' | 'modified' | 'deleted', object: T) => void): Promise<void> {
  let synced: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (synced = resolve));
  void (async () => {
    for await (const c of s.cluster.watchObjects(store, { signal })) {
      if (c.type === 'synced') synced();
      else if (c.type !== 'restarted') onChange(c.type, c.object);
    }
    synced();
  })();
  await ready;
}

/**
 * How a watched object is shown: its -o json view. An instance's view needs its host's address
 * (the hosts are followed alongside), a host's the resources its instances request (the
 * instances are followed alongside, indexed by host).
 */
async function viewer(s: ClusterSession, kind: string, signal: AbortSignal): Promise<(o: Cluster.Manifest | Cluster.Instance) => { name: string }> {
  switch (kind) {
    case 'Instance': {
      const runtime = s.runtime();
      const hosts = new Map<string, Cluster.Host>();
      await follow(s, s.store.hosts, signal, (type, h) => (type === 'deleted' ? hosts.delete(h.metadata.name) : hosts.set(h.metadata.name, h)));
      return (o) => s.cluster.instanceView(o as Cluster.Instance, hosts.get((o as Cluster.Instance).spec.host), (h) => runtime.addressOf(h));
    }
    case 'Host': {
      const byHost = new Map<string, Map<string, Cluster.Instance>>();
      const hostOf = new Map<string, string>();
      await follow(s, s.store.instances, signal, (type, i) => {
        const name = i.metadata.name;
        const before = hostOf.get(name);
        if (before !== undefined) byHost.get(before)?.delete(name);
        if (type === 'deleted') hostOf.delete(name);
        else {
          hostOf.set(name, i.spec.host);
          let m = byHost.get(i.spec.host);
          if (m === undefined) byHost.set(i.spec.host, (m = new Map<string, Cluster.Instance>()));
          m.set(name, i);
        }
      });
      return (o) => {
        const h = o as Cluster.Host;
        const mine = [...(byHost.get(h.metadata.name)?.values() ?? [])];
        return s.cluster.hostView(h, s.cluster.allocatedByHost(mine).get(h.metadata.name) ?? {});
      };
    }
    case 'Network': {
      const leased = new Set<string>();
      await follow(s, s.store.hosts, signal, (type, h) => (type !== 'deleted' && h.status?.podSubnet !== undefined ? leased.add(h.metadata.name) : leased.delete(h.metadata.name)));
      return (o) => s.cluster.networkView(o as Cluster.Network, leased.size);
    }
    case 'ReplicaSet':
      return (o) => s.cluster.replicaSetView(o as Cluster.ReplicaSet);
    default:
      return (o) => s.cluster.serviceView(o as Cluster.Service);
  }
}

/**
 * The columns of a watched kind. Optional columns are decided once, from the store when the
 * watch starts (a Network: PODSUBNET; a service with a VIP or ports: CLUSTER-IP and PORTS).
 */
async function watchColumns(s: ClusterSession, kind: string): Promise<Columns<{ name: string }>> {
  switch (kind) {
    case 'Instance':
      return instanceColumns;
    case 'Host':
      return hostColumns((await s.store.networks.items()).length > 0 || (await s.store.hosts.items()).some((h) => h.status?.podSubnet !== undefined));
    case 'ReplicaSet':
      return replicaSetColumns;
    case 'Network':
      return networkColumns;
    default:
      return serviceColumns((await s.store.services.items()).some((v) => v.status?.clusterIP !== undefined || v.spec.ports !== undefined));
  }
}

const WATCH_EVENT = { added: 'ADDED', modified: 'MODIFIED', deleted: 'DELETED' } as const;

/**
 * `get … -w`: the list (unless --watch-only), then one row (or document, or name) per change,
 * kubectl's way: a deleted object is printed with its last state; --output-watch-events adds
 * the kind of change (EVENT column; {"type","object"} documents). Runs until SIGINT/SIGTERM
 * (exit 0); a lost store is listed again (said on stderr) and only the differences printed.
 */
async function watchGet(ctx: CommandContext, s: ClusterSession, options: { kind: string; names: string[]; selector: string | undefined; format: OutputFormat; listFirst: boolean }): Promise<number> {
  const { kind, names, format } = options;
  const stop = interruptSignal();
  try {
    const notices = restartNotices(ctx);
    const withEvents = ctx.args.options['output-watch-events'] === true;
    const wide = format === 'wide';
    const columns = await watchColumns(s, kind);
    const table = new StreamTable(ctx, ctx.args.options['no-headers'] === true ? undefined : [...(withEvents ? ['EVENT'] : []), ...columns.header(wide)]);
    const yaml = format === 'yaml' ? await yamlDocumentWriter(ctx) : undefined;
    const view = await viewer(s, kind, stop.signal);
    type Change = { type: 'added' | 'modified' | 'deleted'; object: Cluster.Manifest | Cluster.Instance };
    const print = (changes: readonly Change[]): void => {
      for (const c of changes) {
        const type = WATCH_EVENT[c.type];
        if (format === 'json') printJsonLine(ctx, withEvents ? { type, object: view(c.object) } : view(c.object));
        else if (yaml !== undefined) {
          const m = s.cluster.manifestOf(c.object as Cluster.Manifest, { status: true });
          yaml(withEvents ? { type, object: m } : m);
        } else if (format === 'name') ctx.stdout.write(`${refText({ kind, name: c.object.metadata.name })}\n`);
        else table.print([[...(withEvents ? [type] : []), ...columns.row(view(c.object), wide)]]);
      }
    };
    const initial: Change[] = [];
    for await (const c of s.cluster.watchObjects(storeOf(s, kind), { signal: stop.signal, ...(options.selector !== undefined ? { selector: options.selector } : {}), ...(names.length > 0 ? { names } : {}) })) {
      if (c.type === 'restarted') notices.restarted(c.reason, c.error);
      else if (c.type === 'synced') {
        if (options.listFirst && names.length > 0) {
          const found = new Set(initial.map((i) => i.object.metadata.name));
          const missing = names.filter((n) => !found.has(n));
          for (const n of missing) ctx.stderr.write(`flo: ${kind.toLowerCase()}/${n} not found\n`);
          if (missing.length === names.length) return 1;
        }
        if (options.listFirst) {
          if (initial.length === 0 && names.length === 0) ctx.stderr.write('No resources found.\n');
          print(initial);
        }
        initial.length = 0;
      } else if (c.initial) initial.push(c);
      else {
        notices.changed();
        print([c]);
      }
    }
    return 0;
  } finally {
    stop.dispose();
  }
}

/** `--chunk-size` and `--host` of `get instances` (usage errors for other kinds and bad numbers). */
function instanceListing(ctx: CommandContext, kind: string): { chunkSize?: number; host?: string } {
  const chunk = ctx.args.options['chunk-size'];
  const host = ctx.args.options.host;
  if ((chunk !== undefined || host !== undefined) && kind !== 'Instance') throw new UsageError(`${chunk !== undefined ? '--chunk-size' : '--host'} goes with get instances`);
  const out: { chunkSize?: number; host?: string } = {};
  if (typeof chunk === 'string') {
    if (!/^[0-9]+$/.test(chunk)) throw new UsageError(`--chunk-size: expected a number of instances (0 = all at once), got ${JSON.stringify(chunk)}`);
    out.chunkSize = Number(chunk);
  }
  if (typeof host === 'string') {
    if (host === '' || host.includes('/')) throw new UsageError(`--host: expected a host name, got ${JSON.stringify(host)}`);
    out.host = host;
  }
  return out;
}

export const command: CommandModule = {
  usage: 'get hosts|replicasets|instances|services|networks [NAME…] [-l SELECTOR] [--host HOST] [--chunk-size N] [-w | --watch-only] [--output-watch-events] [-o text|wide|json|yaml|name] [--no-headers] [--store URL]',
  formats,
  description: [
    'Lists objects with their observed state (KIND NAME… or KIND/NAME… for some of them; a name not found is an error on stderr and exit 1, the others are still printed).',
    '-o json prints {"items":[…]} in the flat shapes of DESIGN.md (one NAME: that item alone): instances {name,labels,replicaSet,host,address,phase,ready,ports,pid,restarts,startedAt,runtime,image,imageDigest,signedBy,reason,conditions} (image fields for containers; -o wide adds IMAGE, the short manifest digest), hosts {name,labels,address,ready,unschedulable,capacity,allocated,load1,podSubnet}, replicasets {name,labels,selector,replicas,readyReplicas,observedGeneration}, services {name,selector,endpoints:[{instance,address,port,host,ports,selector}],clusterIP,hostnames,ports} (selectors of a list joined by " OR "; an endpoint names the selector that matched it when there are several, or with ports), networks {name,podCIDR,hostSubnetPrefix,serviceCIDR,domain,backend,leases,capacity}.',
    '-o yaml prints the objects themselves as manifests (apiVersion, kind, metadata, spec as stored, and status), one YAML document each: `flo apply -f` takes them back unchanged (instances are printed whole; they are made by the controllers, not applied).',
    '-o name prints kind/name lines.',
    '-w (kubectl\'s watch): the list, then one row per change until Ctrl-C (exit 0) — a deleted object with its last state, an object that stops matching -l as deleted; -o json|yaml|name print one object per change (json: one per line). --watch-only skips the list; --output-watch-events says ADDED, MODIFIED or DELETED. A lost store connection is said on stderr; the watch lists again and prints only what changed meanwhile.',
  ].join('\n'),
  deployOptions: false,
  options: [
    { name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'only objects whose labels match' },
    ...watchOptions,
    { name: 'chunk-size', type: 'string', value: 'N', description: 'instances: list N a request (kubectl\'s --chunk-size; 0 = all in one request; default 500)' },
    { name: 'host', type: 'string', value: 'HOST', description: "instances: only those bound to HOST (read from the store's per-host index)" },
    { name: 'output-watch-events', type: 'boolean', description: 'with -w: say what each change was (an EVENT column ADDED, MODIFIED or DELETED; {"type","object"} documents)' },
    noHeadersOption,
    ...clusterOptions,
  ],
  async run(ctx) {
    const { kind, names } = target(ctx.args.positionals);
    const format = outputFormat(ctx, formats);
    const selector = await selectorOption(ctx);
    const { watch, listFirst } = watchMode(ctx);
    if (ctx.args.options['output-watch-events'] === true && !watch) throw new UsageError('--output-watch-events goes with -w or --watch-only');
    const listing = instanceListing(ctx, kind);
    if (watch && Object.keys(listing).length > 0) throw new UsageError('--host and --chunk-size are for a list, not -w');
    const s = await openCluster(ctx, { readOnly: true });
    try {
      if (watch) return await watchGet(ctx, s, { kind, names, selector, format, listFirst });
      const sel = selector !== undefined ? { selector } : {};
      let missing = 0;
      /** Keeps the named items (in the order named), reporting the names not found. */
      const pick = <T>(items: readonly T[], name: (item: T) => string): T[] => {
        if (names.length === 0) return [...items];
        const out: T[] = [];
        for (const n of names) {
          const found = items.find((i) => name(i) === n);
          if (found !== undefined) out.push(found);
          else {
            missing++;
            ctx.stderr.write(`flo: ${kind.toLowerCase()}/${n} not found\n`);
          }
        }
        return out;
      };
      /** The stored objects of the printed items, as manifests (-o yaml). */
      const manifests = async (shown: readonly string[]): Promise<YamlStream> => {
        const store: Cluster.ResourceStore<Cluster.Manifest | Cluster.Instance> =
          kind === 'Host' ? s.store.hosts : kind === 'ReplicaSet' ? s.store.replicaSets : kind === 'Service' ? s.store.services : kind === 'Network' ? s.store.networks : s.store.instances;
        const objects = await Promise.all(shown.map((n) => store.get(n)));
        return new YamlStream(objects.filter((o) => o !== undefined).map((o) => s.cluster.manifestOf(o as Cluster.Manifest, { status: true })));
      };
      const print = async <T extends { name: string }>(items: readonly T[], table: (wide: boolean) => Table): Promise<void> => {
        const shown = pick(items, nameOf);
        const yaml = format === 'yaml' ? await manifests(shown.map(nameOf)) : undefined;
        await printOutput(ctx, format, {
          json: () => (names.length === 1 && shown.length === 1 ? shown[0] : { items: shown }),
          yaml: () => yaml,
          names: () => shown.map((i) => ({ kind, name: i.name })),
          text: (wide) => {
            if (shown.length === 0) {
              if (missing === 0) ctx.stderr.write('No resources found.\n');
              return;
            }
            const t = table(wide);
            printTable(ctx, { header: t.header, rows: t.rows.filter((_r, i) => shown.includes(items[i]!)) });
          },
        });
      };
      switch (kind) {
        case 'Instance': {
          const runtime = s.runtime();
          const items = await s.cluster.viewInstances(s.store, { ...sel, addressOf: (h) => runtime.addressOf(h), ...listing });
          await print(items, (wide) => tableOf(instanceColumns, items, wide));
          break;
        }
        case 'Host': {
          const items = await s.cluster.viewHosts(s.store, sel);
          const podSubnets = items.some((h) => h.podSubnet !== undefined) || (await s.store.networks.items()).length > 0;
          await print(items, (wide) => tableOf(hostColumns(podSubnets), items, wide));
          break;
        }
        case 'ReplicaSet': {
          const items = await s.cluster.viewReplicaSets(s.store, sel);
          await print(items, (wide) => tableOf(replicaSetColumns, items, wide));
          break;
        }
        case 'Service': {
          const items = await s.cluster.viewServices(s.store, sel);
          const vips = items.some((v) => v.clusterIP !== undefined || v.ports !== undefined);
          await print(items, (wide) => tableOf(serviceColumns(vips), items, wide));
          break;
        }
        case 'Network': {
          const items = await s.cluster.viewNetworks(s.store, sel);
          await print(items, (wide) => tableOf(networkColumns, items, wide));
          break;
        }
        default:
          throw new UsageError(`unknown kind "${kind}"`);
      }
      return missing > 0 ? 1 : 0;
    } finally {
      await s.close();
    }
  },
};
