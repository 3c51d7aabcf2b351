/**
 * `flo describe`: one object with its status and events; `-o json|yaml` print both as one
 * document.
 */
import { clusterOptions, eventAge, openCluster, parseRef } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import { outputFormat, printOutput, toYaml, type OutputFormat } from '../output/format.js';
import { formatTable } from '../output/table.js';
import type * as Cluster from '@flotilla/cluster';

/** The talk's picture of a container: image, digest, who signed it, how it runs. Empty for a process. */
function containerSummary(i: Cluster.Instance): string {
  const image = i.spec.template.image;
  if (image === undefined) return '';
  const text = typeof image === 'string' ? image : 'url' in image ? image.url : image.ref;
  const digest = i.status?.imageDigest ?? (typeof image === 'object' ? image.digest : undefined);
  const limits = i.status?.conditions?.find((c) => c.type === 'LimitsEnforced');
  const rows = [
    ['  Image:', text],
    ['  Digest:', digest ?? '-'],
    ['  Signed By:', i.status?.signedBy ?? '- (its host does not require a signature)'],
    ['  Limits:', limits === undefined ? '-' : limits.status === 'True' ? 'enforced (cgroup)' : `not enforced (${limits.reason ?? 'unknown'})`],
    ...(i.status?.reason !== undefined ? [['  Last Exit:', i.status.reason]] : []),
  ];
  return `\nContainer:\n${formatTable(rows)}`;
}

/** A service's endpoints, each with the selector that matched it (the first of the list that does). */
function endpointSummary(svc: Cluster.Service): string {
  const endpoints = svc.status?.endpoints ?? [];
  const selectors = Array.isArray(svc.spec.selector) ? svc.spec.selector : [svc.spec.selector];
  const lines = [`\nVirtual IP: ${svc.status?.clusterIP ?? (svc.spec.ports ? '<pending>' : '<none> (no ports: or no Network)')}`];
  if (svc.spec.hostnames?.length) lines.push(`Hostnames: ${svc.spec.hostnames.join(', ')}`);
  lines.push('Endpoints:');
  if (endpoints.length === 0) return `${lines.join('\n')}\n  <none>\n`;
  const only = selectors.length === 1 && typeof selectors[0] === 'string' ? selectors[0] : undefined;
  const rows = endpoints.map((e) => [`  ${e.instance}`, `${e.address}:${e.port}`, e.host ?? '-', e.selector ?? only ?? '(the selector)']);
  return `${lines.join('\n')}\n${formatTable(rows, { header: ['  INSTANCE', 'ADDRESS', 'HOST', 'MATCHED SELECTOR'] })}`;
}

const formats: readonly OutputFormat[] = ['text', 'json', 'yaml', 'name'];

export const command: CommandModule = {
  usage: 'describe <kind>/<name> [-o text|json|yaml|name] [--store URL]',
  formats,
  description:
    'Shows one object (host, replicaset, service, instance, network) with its status and its events (scheduled, started, unhealthy, rescheduled, … with the scheduler\'s reasons); a service also with its virtual IP and its endpoints, each with the selector that matched it. -o json|yaml print {"object":{…the stored object…},"events":[{"time","type","reason","message",…}]}; -o name prints kind/name.',
  deployOptions: false,
  options: clusterOptions,
  async run(ctx) {
    const { kind, name } = parseRef(ctx.args.positionals, ['Host', 'ReplicaSet', 'Service', 'Instance', 'Network']);
    const format = outputFormat(ctx, formats);
    const s = await openCluster(ctx, { readOnly: true });
    try {
      const object =
        kind === 'Host'
          ? await s.store.hosts.get(name)
          : kind === 'ReplicaSet'
            ? await s.store.replicaSets.get(name)
            : kind === 'Service'
              ? await s.store.services.get(name)
              : kind === 'Network'
                ? await s.store.networks.get(name)
                : await s.store.instances.get(name);
      if (!object) {
        ctx.stderr.write(`flo: ${kind.toLowerCase()}/${name} not found\n`);
        return 1;
      }
      const shown = structuredClone(object) as { status?: { history?: unknown } };
      if (shown.status?.history !== undefined) delete shown.status.history;
      const events = format === 'name' ? [] : await s.cluster.eventsFor(s.store, kind, name);
      await printOutput(ctx, format, {
        json: () => ({ object: shown, events }),
        names: () => [{ kind, name }],
        text: async () => {
          ctx.stdout.write(await toYaml(shown));
          if (kind === 'Instance') ctx.stdout.write(containerSummary(object as Cluster.Instance));
          if (kind === 'Service') ctx.stdout.write(endpointSummary(object as Cluster.Service));
          ctx.stdout.write('\nEvents:\n');
          if (events.length === 0) ctx.stdout.write('  <none>\n');
          else ctx.stdout.write(formatTable(events.map((e) => [`  ${e.type}`, e.reason, eventAge(e), e.message]), { header: ['  TYPE', 'REASON', 'AGE', 'MESSAGE'] }));
        },
      });
      return 0;
    } finally {
      await s.close();
    }
  },
};
