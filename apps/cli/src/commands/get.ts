import { UsageError } from '../cli/args.js';
import { age, canonicalKind, clusterFormat, clusterOptions, openCluster, printItems, stringOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'get hosts|replicasets|instances|services [-l SELECTOR] [-o table|wide|json|yaml] [--store URL]',
  description:
    'Lists objects with their observed state. -o json prints {"items":[…]} in the shapes of DESIGN.md: instances {name,labels,replicaSet,host,address,phase,ready,ports,pid,restarts,startedAt,runtime,image,imageDigest,signedBy,reason,conditions} (image fields for containers; -o wide adds IMAGE, the short manifest digest), hosts {name,labels,address,ready,unschedulable,capacity,allocated,load1}, replicasets {name,labels,selector,replicas,readyReplicas,observedGeneration}, services {name,selector,endpoints:[{instance,address,port}]}.',
  deployOptions: false,
  options: [{ name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'only objects whose labels match' }, ...clusterOptions],
  async run(ctx) {
    const [what, extra] = ctx.args.positionals;
    if (what === undefined) throw new UsageError('get needs a kind: hosts, replicasets, instances or services');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const kind = canonicalKind(what);
    if (kind === undefined) throw new UsageError(`unknown kind "${what}" (expected hosts, replicasets, instances or services)`);
    const format = clusterFormat(ctx);
    const selector = stringOption(ctx, 'selector');
    const s = await openCluster(ctx, { readOnly: true });
    try {
      const sel = selector !== undefined ? { selector } : {};
      switch (kind) {
        case 'Instance': {
          const runtime = s.runtime();
          const items = await s.cluster.viewInstances(s.store, { ...sel, addressOf: (h) => runtime.addressOf(h) });
          await printItems(ctx, format, items, (wide) => ({
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
          await printItems(ctx, format, items, (wide) => ({
            header: ['NAME', 'STATUS', 'ADDRESS', 'CPU(m)', 'MEMORY(Mi)', 'LOAD1', ...(wide ? ['LABELS'] : [])],
            rows: items.map((h) => [
              h.name,
              `${h.ready ? 'Ready' : 'NotReady'}${h.unschedulable ? ',SchedulingDisabled' : ''}`,
              h.address,
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
          await printItems(ctx, format, items, (wide) => ({
            header: ['NAME', 'DESIRED', 'READY', 'SELECTOR', ...(wide ? ['GENERATION'] : [])],
            rows: items.map((r) => [r.name, String(r.replicas), String(r.readyReplicas), r.selector, ...(wide ? [String(r.observedGeneration)] : [])]),
          }));
          break;
        }
        case 'Service': {
          const items = await s.cluster.viewServices(s.store, sel);
          await printItems(ctx, format, items, () => ({
            header: ['NAME', 'SELECTOR', 'ENDPOINTS'],
            rows: items.map((v) => [v.name, v.selector, v.endpoints.map((e) => `${e.address}:${e.port}`).join(',') || '<none>']),
          }));
          break;
        }
        default:
          throw new UsageError(`unknown kind "${what}"`);
      }
      return 0;
    } finally {
      await s.close();
    }
  },
};
