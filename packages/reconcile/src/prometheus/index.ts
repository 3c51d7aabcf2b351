// @flotilla/reconcile/prometheus — the controller and work-queue metric hooks as
// Prometheus metrics (prom-client), under the names controller-runtime and client-go use,
// so existing dashboards and alerts work unchanged.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { systemClock, type Clock } from '../clock.js';
import { isTerminalError } from '../errors.js';
import type { ControllerMetrics, ReconcileOutcome } from '../metrics.js';
import type { WorkQueueMetrics } from '../work-queue.js';

/**
 * The part of prom-client's `Registry` this module relies on (a prom-client `Registry` is
 * one); declared here so these types never need prom-client's, which is an optional peer.
 */
export interface PromRegistry {
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
  readonly contentType: string;
}

type Registry = PromClient.Registry;
type Counter = PromClient.Counter;
type Gauge = PromClient.Gauge;
type Histogram = PromClient.Histogram;

/**
 * prom-client, loaded on first use (it is an optional peer dependency and CommonJS): importing
 * this sub-path never fails; using it without prom-client says how to fix that.
 */
function prom(): typeof PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as typeof PromClient;
  } catch (cause) {
    throw new Error('@flotilla/reconcile/prometheus needs prom-client: npm i prom-client', { cause });
  }
}

const asRegistry = (r: PromRegistry): Registry => r as unknown as Registry;

/** Options of {@link prometheusControllerMetrics} and {@link prometheusWorkQueueMetrics}. */
export interface PrometheusMetricsOptions {
  /** Where the metrics are registered (each metric once per registry): a prom-client `Registry`. @default prom-client's global `register` */
  registry?: PromRegistry;
  /** Time source of the queue and work durations. @default systemClock */
  clock?: Clock;
}

/** controller-runtime's `result` label values. */
type ResultLabel = 'success' | 'error' | 'requeue' | 'requeue_after';
const RESULTS: readonly ResultLabel[] = ['success', 'error', 'requeue', 'requeue_after'];

function resultLabel(outcome: ReconcileOutcome): ResultLabel {
  switch (outcome) {
    case 'success':
      return 'success';
    case 'requeue-after':
      return 'requeue_after';
    case 'error':
    case 'terminal':
      return 'error';
  }
}

/** controller-runtime's buckets of `controller_runtime_reconcile_time_seconds`. */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2,
  2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
/** client-go's work-queue buckets: 10 ns to 1000 s, a factor of ten apart. */
const QUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));

type Metric = Counter | Gauge | Histogram;

function once<M extends Metric>(registry: PromRegistry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

/** The queues whose in-flight work a registry's gauges report at scrape time. */
const queuesOf = new WeakMap<PromRegistry, Set<QueueRecorder<unknown>>>();

/** Per-registry metric families of the work queue (client-go names). */
function queueFamilies(registry: PromRegistry) {
  const registers = [asRegistry(registry)];
  let queues = queuesOf.get(registry);
  if (queues === undefined) {
    queues = new Set();
    queuesOf.set(registry, queues);
  }
  const live = queues;
  return {
    queues: live,
    depth: once(registry, 'workqueue_depth', () => new (prom().Gauge)({ name: 'workqueue_depth', help: 'Current depth of the work queue: keys waiting to be taken.', labelNames: ['name'], registers })),
    adds: once(registry, 'workqueue_adds_total', () => new (prom().Counter)({ name: 'workqueue_adds_total', help: 'Keys that became dirty in the work queue (adds absorbed by a waiting key are not counted).', labelNames: ['name'], registers })),
    retries: once(registry, 'workqueue_retries_total', () => new (prom().Counter)({ name: 'workqueue_retries_total', help: 'Delayed or rate-limited re-adds handled by the work queue.', labelNames: ['name'], registers })),
    latency: once(registry, 'workqueue_queue_duration_seconds', () => new (prom().Histogram)({ name: 'workqueue_queue_duration_seconds', help: 'How long a key waited in the work queue before a worker took it, in seconds.', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers })),
    work: once(registry, 'workqueue_work_duration_seconds', () => new (prom().Histogram)({ name: 'workqueue_work_duration_seconds', help: 'How long processing a key took, from get to done, in seconds.', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers })),
    unfinished: once(registry, 'workqueue_unfinished_work_seconds', () => new (prom().Gauge)({
      name: 'workqueue_unfinished_work_seconds',
      help: 'Seconds of work in progress not yet observed by workqueue_work_duration_seconds; a steady rise means stuck workers.',
      labelNames: ['name'],
      registers,
      collect() {
        for (const q of live) this.set({ name: q.name }, q.inFlightSeconds().total);
      },
    })),
    longest: once(registry, 'workqueue_longest_running_processor_seconds', () => new (prom().Gauge)({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'Seconds the longest-running worker of the queue has been processing its key.',
      labelNames: ['name'],
      registers,
      collect() {
        for (const q of live) this.set({ name: q.name }, q.inFlightSeconds().longest);
      },
    })),
  };
}

/** client-go's queue metrics for one queue: add times and processing start times per key. */
class QueueRecorder<TKey> {
  readonly #addedAt = new Map<TKey, number>();
  readonly #startedAt = new Map<TKey, number>();
  readonly #f: ReturnType<typeof queueFamilies>;
  readonly #clock: Clock;
  readonly #labels: { name: string };

  constructor(readonly name: string, registry: PromRegistry, clock: Clock) {
    this.#f = queueFamilies(registry);
    this.#clock = clock;
    this.#labels = { name };
    this.#f.depth.set(this.#labels, 0);
    this.#f.adds.inc(this.#labels, 0);
    this.#f.retries.inc(this.#labels, 0);
    this.#f.queues.add(this);
  }

  add(key: TKey): void {
    this.#f.adds.inc(this.#labels);
    if (!this.#addedAt.has(key)) this.#addedAt.set(key, this.#clock.now());
  }

  retry(): void {
    this.#f.retries.inc(this.#labels);
  }

  depth(depth: number): void {
    this.#f.depth.set(this.#labels, depth);
  }

  get(key: TKey): void {
    const now = this.#clock.now();
    this.#startedAt.set(key, now);
    const added = this.#addedAt.get(key);
    if (added !== undefined) {
      this.#f.latency.observe(this.#labels, (now - added) / 1000);
      this.#addedAt.delete(key);
    }
  }

  done(key: TKey): void {
    const started = this.#startedAt.get(key);
    if (started === undefined) return;
    this.#f.work.observe(this.#labels, (this.#clock.now() - started) / 1000);
    this.#startedAt.delete(key);
  }

  inFlightSeconds(): { total: number; longest: number } {
    const now = this.#clock.now();
    let total = 0;
    let longest = 0;
    for (const t of this.#startedAt.values()) {
      const s = (now - t) / 1000;
      total += s;
      if (s > longest) longest = s;
    }
    return { total, longest };
  }
}

/**
 * {@link WorkQueueMetrics} for a `WorkQueue` of your own, as client-go's work-queue metrics
 * labelled `name`: `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`,
 * `workqueue_queue_duration_seconds` and `workqueue_work_duration_seconds` (histograms),
 * `workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds`.
 *
 * ```ts
 * const queue = new WorkQueue<string>({ metrics: prometheusWorkQueueMetrics('images') });
 * ```
 */
export function prometheusWorkQueueMetrics<TKey>(name: string, options: PrometheusMetricsOptions = {}): WorkQueueMetrics<TKey> {
  if (typeof name !== 'string' || name === '') throw new TypeError(`name: expected a non-empty string, received ${JSON.stringify(name)}`);
  const q = new QueueRecorder<TKey>(name, options.registry ?? prom().register, options.clock ?? systemClock);
  return {
    add: (key) => q.add(key),
    retry: () => q.retry(),
    depth: (depth) => q.depth(depth),
    get: (key) => q.get(key),
    done: (key) => q.done(key),
  };
}

/**
 * {@link ControllerMetrics} as controller-runtime's metrics, labelled by controller:
 * `controller_runtime_reconcile_total{controller,result}` (`success`, `error`, `requeue`,
 * `requeue_after`; a `TerminalError` counts as `error`),
 * `controller_runtime_reconcile_errors_total`, `controller_runtime_terminal_reconcile_errors_total`,
 * `controller_runtime_reconcile_time_seconds` (histogram), `controller_runtime_max_concurrent_reconciles`,
 * `controller_runtime_active_workers`, and each controller's queue as client-go's
 * `workqueue_*{name=<controller>}` (see {@link prometheusWorkQueueMetrics}). Also
 * `flotilla_source_restarts_total{controller,source,reason}`: sources that dropped their
 * watch and listed again.
 *
 * Register once and pass the same object to every controller (`withOptions({ metrics })`).
 * Series of a controller start at zero when it starts, as controller-runtime's do.
 */
export function prometheusControllerMetrics(options: PrometheusMetricsOptions = {}): ControllerMetrics {
  const registry = options.registry ?? prom().register;
  const clock = options.clock ?? systemClock;
  const registers = [asRegistry(registry)];
  const total = once(registry, 'controller_runtime_reconcile_total', () => new (prom().Counter)({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller.', labelNames: ['controller', 'result'], registers }));
  const errors = once(registry, 'controller_runtime_reconcile_errors_total', () => new (prom().Counter)({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller.', labelNames: ['controller'], registers }));
  const terminal = once(registry, 'controller_runtime_terminal_reconcile_errors_total', () => new (prom().Counter)({ name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller.', labelNames: ['controller'], registers }));
  const time = once(registry, 'controller_runtime_reconcile_time_seconds', () => new (prom().Histogram)({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller, in seconds.', labelNames: ['controller'], buckets: RECONCILE_BUCKETS, registers }));
  const maxWorkers = once(registry, 'controller_runtime_max_concurrent_reconciles', () => new (prom().Gauge)({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller.', labelNames: ['controller'], registers }));
  const active = once(registry, 'controller_runtime_active_workers', () => new (prom().Gauge)({ name: 'controller_runtime_active_workers', help: 'Number of workers currently reconciling, per controller.', labelNames: ['controller'], registers }));
  const restarts = once(registry, 'flotilla_source_restarts_total', () => new (prom().Counter)({ name: 'flotilla_source_restarts_total', help: 'Times a controller\'s source dropped its watch and listed its store again, by reason.', labelNames: ['controller', 'source', 'reason'], registers }));

  const queues = new Map<string, QueueRecorder<string>>();
  const queue = (controller: string): QueueRecorder<string> => {
    let q = queues.get(controller);
    if (q === undefined) {
      q = new QueueRecorder<string>(controller, registry, clock);
      queues.set(controller, q);
      for (const result of RESULTS) total.inc({ controller, result }, 0);
      errors.inc({ controller }, 0);
      terminal.inc({ controller }, 0);
      active.set({ controller }, 0);
    }
    return q;
  };

  return {
    workers: (controller, workers) => {
      queue(controller);
      maxWorkers.set({ controller }, workers);
    },
    queueDepth: (controller, depth) => queue(controller).depth(depth),
    queueAdd: (controller, key) => queue(controller).add(key),
    queueRetry: (controller) => queue(controller).retry(),
    queueGet: (controller, key) => {
      queue(controller).get(key);
      active.inc({ controller });
    },
    queueDone: (controller, key) => {
      queue(controller).done(key);
      active.dec({ controller });
    },
    reconcileDuration: (controller, _key, durationMs, outcome) => {
      queue(controller);
      total.inc({ controller, result: resultLabel(outcome) });
      time.observe({ controller }, durationMs / 1000);
    },
    reconcileError: (controller, _key, error) => {
      queue(controller);
      errors.inc({ controller });
      if (isTerminalError(error)) terminal.inc({ controller });
    },
    watchRestart: (controller, source, reason) => restarts.inc({ controller, source, reason }),
  };
}
