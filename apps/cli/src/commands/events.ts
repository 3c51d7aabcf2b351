/**
 * `flo events`: the events the controllers record (scheduled, started, restarted, unhealthy,
 * rescheduled, …), oldest first, as `kubectl get events` prints them; `-w` keeps printing
 * new ones as they are recorded.
 */
import type * as Cluster from '@flotilla/cluster';
import { UsageError } from '../cli/args.js';
import { canonicalKind, clusterOptions, eventAge, openCluster, selectorOption, stringOption } from '../cli/cluster-context.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import { interruptSignal, restartNotices, StreamTable, watchMode, watchOptions } from '../cli/watching.js';
import { noHeadersOption, outputFormat, printJsonLine, printOutput, printTable, refText, yamlDocumentWriter, YamlStream, type OutputFormat } from '../output/format.js';

const formats: readonly OutputFormat[] = ['text', 'wide', 'json', 'yaml', 'name'];
const KINDS = ['Host', 'ReplicaSet', 'Service', 'Instance'] as const;

/** `--for KIND/NAME` → the involved object. */
function involvedOption(ctx: CommandContext): { kind: Cluster.Kind; name: string } | undefined {
  const v = stringOption(ctx, 'for');
  if (v === undefined) return undefined;
  const slash = v.indexOf('/');
  const kind = slash > 0 ? canonicalKind(v.slice(0, slash)) : undefined;
  if (slash <= 0 || kind === undefined || !(KINDS as readonly string[]).includes(kind) || v.slice(slash + 1) === '')
    throw new UsageError(`--for ${v}: expected KIND/NAME, e.g. instance/web-7f3c or replicaset/web (kinds: host, replicaset, service, instance)`);
  return { kind: kind as Cluster.Kind, name: v.slice(slash + 1) };
}

const header = (wide: boolean): string[] => ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE', ...(wide ? ['TIME', 'NAME'] : [])];

// MESSAGE stays a column before the wide ones, as kubectl's does; wide adds the exact time and the event's name.
const row = (e: Cluster.ClusterEvent, wide: boolean): string[] => [eventAge(e), e.type, e.reason, refText(e.involved), e.message, ...(wide ? [e.time, e.metadata.name] : [])];

const nameOf = (e: Cluster.ClusterEvent): { kind: string; name: string } => ({ kind: 'Event', name: e.metadata.name });

/** The stored event as printed by -o json|yaml (without the store's bookkeeping). */
function shown(e: Cluster.ClusterEvent): Cluster.ClusterEvent {
  const { resourceVersion: _rv, ...metadata } = e.metadata;
  return { ...e, metadata };
}

export const command: CommandModule = {
  usage: 'events [-l SELECTOR] [--for KIND/NAME] [-w | --watch-only] [-o text|wide|json|yaml|name] [--no-headers] [--store URL]',
  formats,
  description: [
    'Lists the events the controllers record (Scheduled, Started, Restarted, Unhealthy, Failed, Rescheduled, HostNotReady, RollingUpdate, …), oldest first, as LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (-o wide adds the time and the event\'s name). The controllers keep the latest 500.',
    '-l selects events by the labels of the object they are about; --for KIND/NAME those about one object (as flo describe shows them).',
    '-w keeps printing each new event as it is recorded, until Ctrl-C (exit 0); a lost store connection is said on stderr and the watch resumes, missing nothing. --watch-only prints the new ones only.',
    'Identical events are one record counted (LAST SEEN "2m (x5 over 10m)"); an object\'s many similar events (same type and reason, 10 different messages within 10 minutes) continue as one "(combined from similar events): …" record, as Kubernetes\' event correlator does; with -w a record shows again each time its count grows.',
    '-o json prints {"items":[…]} (with -w one event per line), each event {apiVersion,kind,metadata:{name},involved:{kind,name},type,reason,message,time,count,firstTimestamp,lastTimestamp} (time = lastTimestamp; count, firstTimestamp and lastTimestamp absent in events of older writers: once, at time); -o yaml one document per event; -o name event/NAME lines.',
  ].join('\n'),
  deployOptions: false,
  options: [
    { name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'only events about objects whose labels match' },
    { name: 'for', type: 'string', value: 'KIND/NAME', description: 'only events about this object (e.g. instance/web-7f3c)' },
    ...watchOptions,
    noHeadersOption,
    ...clusterOptions,
  ],
  async run(ctx) {
    const format = outputFormat(ctx, formats);
    const selector = await selectorOption(ctx);
    const involved = involvedOption(ctx);
    const query = { ...(selector !== undefined ? { selector } : {}), ...(involved !== undefined ? { involved } : {}) };
    const { watch, listFirst } = watchMode(ctx);
    const s = await openCluster(ctx, { readOnly: true });
    try {
      if (!watch) {
        const events = await s.cluster.listEvents(s.store, query);
        await printOutput(ctx, format, {
          json: () => ({ items: events.map(shown) }),
          yaml: () => new YamlStream(events.map(shown)),
          names: () => events.map(nameOf),
          text: (wide) => {
            if (events.length === 0) ctx.stderr.write('No events found.\n');
            else printTable(ctx, { header: header(wide), rows: events.map((e) => row(e, wide)) });
          },
        });
        return 0;
      }
      const stop = interruptSignal();
      const notices = restartNotices(ctx);
      const wide = format === 'wide';
      const table = new StreamTable(ctx, ctx.args.options['no-headers'] === true ? undefined : header(wide));
      const yaml = format === 'yaml' ? await yamlDocumentWriter(ctx) : undefined;
      const print = (events: readonly Cluster.ClusterEvent[]): void => {
        if (format === 'json') for (const e of events) printJsonLine(ctx, shown(e));
        else if (yaml !== undefined) for (const e of events) yaml(shown(e));
        else if (format === 'name') ctx.stdout.write(events.map((e) => `${refText(nameOf(e))}\n`).join(''));
        else table.print(events.map((e) => row(e, wide)));
      };
      const initial: Cluster.ClusterEvent[] = [];
      try {
        for await (const c of s.cluster.watchEvents(s.store, { ...query, signal: stop.signal })) {
          if (c.type === 'restarted') notices.restarted(c.reason, c.error);
          else if (c.type === 'synced') {
            if (listFirst) print(initial);
            initial.length = 0;
          } else if (c.initial) initial.push(c.object);
          else {
            notices.changed();
            print([c.object]);
          }
        }
      } finally {
        stop.dispose();
      }
      return 0;
    } finally {
      await s.close();
    }
  },
};
