import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Controller, TerminalError, WorkQueue } from '../src/index.js';
import { prometheusControllerMetrics, prometheusWorkQueueMetrics } from '../src/prometheus/index.js';
import { FakeClock, settle } from '../src/testing/index.js';

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

/** Scrapes the registry as a Prometheus server would and parses the text with a real parser. */
async function scrape(registry: Registry): Promise<{ text: string; families: Map<string, Family> }> {
  const text = await registry.metrics();
  const families = new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]));
  return { text, families };
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined {
  const f = families.get(name);
  const m = f?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
}

/**
 * One series of a histogram family, parsed alone: parse-prometheus-text-format merges the
 * series of a labelled histogram into one, so the series is cut out of the text with its
 * HELP/TYPE lines and its own labels (`labels`, e.g. `name="q"`) taken off first.
 */
function histogram(text: string, name: string, labels: string): { buckets: Record<string, number>; count: number; sum: number } {
  const lines = text
    .split('\n')
    .filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || (l.startsWith(`${name}_`) && l.includes(labels)))
    .map((l) => l.replace(`{${labels}}`, '').replace(`${labels},`, '').replace(`,${labels}`, ''));
  const [f] = parsePrometheusTextFormat(lines.join('\n') + '\n') as Family[];
  const m = f!.metrics[0]!;
  return {
    buckets: Object.fromEntries(Object.entries(m.buckets ?? {}).map(([k, v]) => [k, Number(v)])),
    count: Number(m.count),
    sum: Number(m.sum),
  };
}

describe('prometheusControllerMetrics: controller-runtime names from the controller hooks', () => {
  it('counts reconciles by result, times them, and reports the queue as client-go does', async () => {
    const clock = new FakeClock();
    const registry = new Registry();
    const metrics = prometheusControllerMetrics({ registry, clock });
    let calls = 0;
    const c = new Controller(
      'replicasets',
      (key) => {
        calls++;
        clock.advance(250); // the reconcile "takes" 250 ms on the fake clock
        if (key === 'bad') throw new Error('boom');
        if (key === 'doomed') throw new TerminalError('no way');
        if (key === 'later') return { requeueAfterMs: 60_000 };
        return undefined;
      },
      { clock, metrics, concurrency: 2 },
    );
    // Before start: every result series of the controller is there at zero once it runs.
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await settle();
    let s = await scrape(registry);
    expect(value(s.families, 'controller_runtime_max_concurrent_reconciles', { controller: 'replicasets' })).toBe(2);
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      expect(value(s.families, 'controller_runtime_reconcile_total', { controller: 'replicasets', result })).toBe(0);
    }
    expect(s.families.get('controller_runtime_reconcile_total')!.type).toBe('COUNTER');
    expect(s.families.get('controller_runtime_reconcile_time_seconds')!.type).toBe('HISTOGRAM');
    expect(s.families.get('workqueue_depth')!.type).toBe('GAUGE');

    c.queue.add('a');
    clock.advance(1000); // 'a' waits a second in the queue before a worker takes it
    c.queue.add('b');
    c.queue.add('bad');
    c.queue.add('doomed');
    c.queue.add('later');
    await settle();
    for (let i = 0; i < 10 && calls < 5; i++) await clock.advanceAsync(1);
    expect(calls).toBeGreaterThanOrEqual(5);
    s = await scrape(registry);
    const total = (result: string) => value(s.families, 'controller_runtime_reconcile_total', { controller: 'replicasets', result });
    expect(total('success')).toBe(2);
    expect(total('requeue_after')).toBe(1);
    expect(total('error')).toBeGreaterThanOrEqual(2); // 'bad' (retried with backoff) and 'doomed' (terminal)
    expect(value(s.families, 'controller_runtime_terminal_reconcile_errors_total', { controller: 'replicasets' })).toBe(1);
    expect(value(s.families, 'controller_runtime_reconcile_errors_total', { controller: 'replicasets' })).toBe(total('error'));
    expect(value(s.families, 'workqueue_adds_total', { name: 'replicasets' })).toBeGreaterThanOrEqual(5);
    expect(value(s.families, 'workqueue_retries_total', { name: 'replicasets' })).toBeGreaterThanOrEqual(2); // bad + later

    const time = histogram(s.text, 'controller_runtime_reconcile_time_seconds', 'controller="replicasets"');
    expect(time.count).toBe(calls);
    expect(time.sum).toBeCloseTo(0.25 * calls, 6);
    expect(time.buckets['0.2']).toBe(0);
    expect(time.buckets['0.25']).toBe(calls); // le is inclusive
    expect(time.buckets['+Inf']).toBe(calls);

    const waited = histogram(s.text, 'workqueue_queue_duration_seconds', 'name="replicasets"');
    expect(waited.count).toBeGreaterThanOrEqual(5);
    expect(waited.sum).toBeGreaterThanOrEqual(1); // 'a' waited 1 s
    const work = histogram(s.text, 'workqueue_work_duration_seconds', 'name="replicasets"');
    expect(work.count).toBe(calls);
    expect(value(s.families, 'controller_runtime_active_workers', { controller: 'replicasets' })).toBe(0);
    ac.abort();
    await running;
  });

  it('reports a stuck worker through unfinished work and the longest-running processor', async () => {
    const clock = new FakeClock();
    const registry = new Registry();
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const c = new Controller('hosts', () => stuck, { clock, metrics: prometheusControllerMetrics({ registry, clock }) });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('h1');
    await settle();
    clock.advance(7_000);
    const s = await scrape(registry);
    expect(value(s.families, 'controller_runtime_active_workers', { controller: 'hosts' })).toBe(1);
    expect(value(s.families, 'workqueue_unfinished_work_seconds', { name: 'hosts' })).toBeCloseTo(7, 6);
    expect(value(s.families, 'workqueue_longest_running_processor_seconds', { name: 'hosts' })).toBeCloseTo(7, 6);
    release();
    ac.abort();
    await running;
  });

  it('registers each metric once per registry, so several controllers and adapters share it', async () => {
    const registry = new Registry();
    const a = prometheusControllerMetrics({ registry });
    const b = prometheusControllerMetrics({ registry });
    a.queueAdd?.('one', 'k');
    b.queueAdd?.('two', 'k');
    const s = await scrape(registry);
    expect(value(s.families, 'workqueue_adds_total', { name: 'one' })).toBe(1);
    expect(value(s.families, 'workqueue_adds_total', { name: 'two' })).toBe(1);
    expect(s.text.match(/^# TYPE workqueue_adds_total /gm)).toHaveLength(1);
  });
});

describe('prometheusWorkQueueMetrics', () => {
  it('follows a bare WorkQueue: depth, adds (stingy adds are not counted), waits and work', async () => {
    const clock = new FakeClock();
    const registry = new Registry();
    const q = new WorkQueue<string>({ clock, metrics: prometheusWorkQueueMetrics('images', { registry, clock }) });
    q.add('x');
    q.add('x'); // absorbed: x is already waiting
    q.add('y');
    let s = await scrape(registry);
    expect(value(s.families, 'workqueue_depth', { name: 'images' })).toBe(2);
    expect(value(s.families, 'workqueue_adds_total', { name: 'images' })).toBe(2);
    clock.advance(500);
    const key = q.tryGet()!;
    clock.advance(2000);
    q.done(key);
    s = await scrape(registry);
    expect(value(s.families, 'workqueue_depth', { name: 'images' })).toBe(1);
    const waited = histogram(s.text, 'workqueue_queue_duration_seconds', 'name="images"');
    expect(waited).toMatchObject({ count: 1, sum: 0.5 });
    expect(waited.buckets['0.1']).toBe(0);
    expect(waited.buckets['1']).toBe(1);
    expect(histogram(s.text, 'workqueue_work_duration_seconds', 'name="images"')).toMatchObject({ count: 1, sum: 2 });
    q.addAfter('z', 1000);
    s = await scrape(registry);
    expect(value(s.families, 'workqueue_retries_total', { name: 'images' })).toBe(1);
  });

  it('speaks the text exposition format: content type, HELP and TYPE before samples, escaped label values', async () => {
    const registry = new Registry();
    const m = prometheusWorkQueueMetrics<string>('we"ird\\name\nx', { registry });
    m.add?.('k');
    expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const text = await registry.metrics();
    expect(text).toContain('workqueue_adds_total{name="we\\"ird\\\\name\\nx"} 1');
    const s = await scrape(registry);
    expect(value(s.families, 'workqueue_adds_total', { name: 'we"ird\\name\nx' })).toBe(1);
    for (const f of s.families.values()) expect(f.help).not.toBe('');
  });

  it('refuses an empty name', () => {
    expect(() => prometheusWorkQueueMetrics('')).toThrow(TypeError);
  });
});
