/**
 * `flo get`: objects of one kind with their observed state, as a table, DESIGN's flat JSON,
 * apply-able YAML manifests, or `kind/name` lines.
 */
import type * as Cluster from '@flotilla/cluster';
import { UsageError } from '../cli/args.js';
import { age, canonicalKind, clusterOptions, openCluster, selectorOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import { noHeadersOption, outputFormat, printOutput, printTable, YamlStream, type OutputFormat, type Table } from '../output/format.js';

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

/** A view item's name. */
const nameOf = (v: { name: string }): string => v.name;

export const command: CommandModule = {
  usage: 'get hosts|replicasets|instances|services|networks [NAME…] [-l SELECTOR] [-o text|wide|json|yaml|name] [--no-headers] [--store URL]',
  formats,
  description: [
    'Lists objects with their observed state (KIND NAME… or KIND/NAME… for some of them; a name not found is an error on stderr and exit 1, the others are still printed).',
    '-o json prints {"items":[…]} in the flat shapes of DESIGN.md (one NAME: that item alone): instances {name,labels,replicaSet,host,address,phase,ready,ports,pid,restarts,startedAt,runtime,image,imageDigest,signedBy,reason,conditions} (image fields for containers; -o wide adds IMAGE, the short manifest digest), hosts {name,labels,address,ready,unschedulable,capacity,allocated,load1,podSubnet}, replicasets {name,labels,selector,replicas,readyReplicas,observedGeneration}, services {name,selector,endpoints:[{instance,address,port,host,ports,selector}],clusterIP,hostnames,ports} (selectors of a list joined by " OR "; an endpoint names the selector that matched it when there are several, or with ports), networks {name,podCIDR,hostSubnetPrefix,serviceCIDR,domain,backend,leases,capacity}.',
    '-o yaml prints the objects themselves as manifests (apiVersion, kind, metadata, spec as stored, and status), one YAML document each: `flo apply -f` takes them back unchanged (instances are printed whole; they are made by the controllers, not applied).',
    '-o name prints kind/name lines.',
  ].join('\n'),
  deployOptions: false,
  options: [{ name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'only objects whose labels match' }, noHeadersOption, ...clusterOptions],
  async run(ctx) {
    const { kind, names } = target(ctx.args.positionals);
    const format = outputFormat(ctx, formats);
    const selector = await selectorOption(ctx);
    const s = await openCluster(ctx, { readOnly: true });
    try {
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
          const items = await s.cluster.viewInstances(s.store, { ...sel, addressOf: (h) => runtime.addressOf(h) });
          await print(items, (wide) => ({
            header: ['NAME', 'READY', 'PHASE', 'HOST', 'PORTS', 'PID', 'RESTARTS', 'AGE', ...(wide ? ['ADDRESS', 'REPLICASET', 'IMAGE'] : [])],
            rows: items.map((i) => [
              i.name,
              i.ready ? 'true' : 'false',
              i.phase,
              i.host,
              Object.entries(i.ports).map(([n, p]) => `${n}:${p}`).join(',') || '-',
              i.pid !== undefined ? String(i.pid) : '-',
              String(i.restarts),
              age(i.startedAt),
              ...(wide ? [i.address, i.replicaSet, i.imageDigest !== undefined ? i.imageDigest.replace(/^sha256:/, '').slice(0, 12) : '-'] : []),
            ]),
          }));
          break;
        }
        case 'Host': {
          const items = await s.cluster.viewHosts(s.store, sel);
          // the column appears with a Network (a host without a lease yet shows <pending>)
          const podSubnets = items.some((h) => h.podSubnet !== undefined) || (await s.store.networks.items()).length > 0;
          await print(items, (wide) => ({
            header: ['NAME', 'STATUS', 'ADDRESS', ...(podSubnets ? ['PODSUBNET'] : []), 'CPU(m)', 'MEMORY(Mi)', 'LOAD1', ...(wide ? ['LABELS'] : [])],
            rows: items.map((h) => [
              h.name,
              `${h.ready ? 'Ready' : 'NotReady'}${h.unschedulable ? ',SchedulingDisabled' : ''}`,
              h.address,
              ...(podSubnets ? [h.podSubnet ?? '<pending>'] : []),
              `${h.allocated.cpu ?? 0}/${h.capacity.cpu ?? 0}`,
              `${h.allocated.memory ?? 0}/${h.capacity.memory ?? 0}`,
              h.load1 !== undefined ? h.load1.toFixed(2) : '-',
              ...(wide ? [Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(',')] : []),
            ]),
          }));
          break;
        }
        case 'ReplicaSet': {
          const items = await s.cluster.viewReplicaSets(s.store, sel);
          await print(items, (wide) => ({
            header: ['NAME', 'DESIRED', 'READY', 'SELECTOR', ...(wide ? ['GENERATION'] : [])],
            rows: items.map((r) => [r.name, String(r.replicas), String(r.readyReplicas), r.selector, ...(wide ? [String(r.observedGeneration)] : [])]),
          }));
          break;
        }
        case 'Service': {
          const items = await s.cluster.viewServices(s.store, sel);
          const vips = items.some((v) => v.clusterIP !== undefined || v.ports !== undefined);
          await print(items, (wide) => ({
            header: ['NAME', ...(vips ? ['CLUSTER-IP', 'PORTS'] : []), 'SELECTOR', 'ENDPOINTS', ...(wide ? ['HOSTNAMES'] : [])],
            rows: items.map((v) => [
              v.name,
              ...(vips ? [v.clusterIP ?? (v.ports ? '<pending>' : '<none>'), v.ports?.join(',') ?? '-'] : []),
              v.selector,
              v.endpoints.map((e) => `${e.address}:${e.port}`).join(',') || '<none>',
              ...(wide ? [v.hostnames.join(',') || '-'] : []),
            ]),
          }));
          break;
        }
        case 'Network': {
          const items = await s.cluster.viewNetworks(s.store, sel);
          await print(items, () => ({
            header: ['NAME', 'POD-CIDR', 'HOST-PREFIX', 'SERVICE-CIDR', 'DOMAIN', 'BACKEND', 'LEASES'],
            rows: items.map((n) => [n.name, n.podCIDR, `/${n.hostSubnetPrefix}`, n.serviceCIDR, n.domain, n.backend, `${n.leases}/${n.capacity}`]),
          }));
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
