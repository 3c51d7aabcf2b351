// The exposition format of the /metrics flo controller serves (its registry and reconcile's
// Prometheus adapter), read back with a real Prometheus text parser: label values escaped as
// the format says (backslash, double quote, newline), HELP and TYPE lines, and each histogram
// as _bucket (cumulative, ending in le="+Inf"), _sum and _count. The e2e suite
// (e2e/observability.test.ts) checks that values move in the running processes.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { prometheusControllerMetrics } from '@flotilla/reconcile/prometheus';
import { describe, expect, it } from 'vitest';
import { startMetricsServer } from '../src/observability/http.js';

describe('/metrics of flo controller: the text exposition format', () => {
  it('escapes label values, writes HELP/TYPE, and histograms as _bucket/_sum/_count; served as text/plain version 0.0.4', async () => {
    const registry = new Registry();
    const metrics = prometheusControllerMetrics({ registry });
    const odd = 'a"b\\c\nd';
    metrics.reconcileDuration!(odd, 'k', 20, 'success');
    metrics.reconcileDuration!(odd, 'k', 3000, 'error');
    const server = await startMetricsServer({ listen: '127.0.0.1:0', flag: '--metrics-listen', registry, ready: [] });
    try {
      const res = await fetch(`${server.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      // the escapes of the format: \" \\ \n inside the quoted value, one line per sample
      expect(text).toContain('controller_runtime_reconcile_total{controller="a\\"b\\\\c\\nd",result="success"} 1');
      expect(text).toMatch(/^# HELP controller_runtime_reconcile_total .+$/m);
      expect(text).toMatch(/^# TYPE controller_runtime_reconcile_time_seconds histogram$/m);
      const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
      const total = families.get('controller_runtime_reconcile_total')!;
      expect(total.type).toBe('COUNTER');
      expect(total.metrics.filter((m) => m.value !== '0').map((m) => [m.labels?.controller, m.labels?.result, m.value]).sort()).toEqual([ // (every result is pre-set to 0, as controller-runtime does)
        [odd, 'error', '1'],
        [odd, 'success', '1'],
      ]);
      const hist = families.get('controller_runtime_reconcile_time_seconds')!;
      expect(hist.type).toBe('HISTOGRAM');
      // (this parser keeps a histogram's buckets but drops its labels, _sum and _count when a label
      // value holds an escaped quote: those are checked on the text below)
      expect(hist.metrics).toHaveLength(1);
      const h = hist.metrics[0]!;
      const buckets = Object.entries(h.buckets!).map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), Number(n)] as const).sort((a, b) => a[0] - b[0]);
      expect(buckets.at(-1)).toEqual([Infinity, 2]);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]); // cumulative
      expect(buckets.find(([le]) => le >= 0.02)![1]).toBe(1); // 20 ms falls in the first bucket at or above 0.02 s
      expect(text).toMatch(/^controller_runtime_reconcile_time_seconds_bucket\{le="\+Inf",controller="a\\"b\\\\c\\nd"\} 2$/m);
      expect(text).toMatch(/^controller_runtime_reconcile_time_seconds_sum\{controller="a\\"b\\\\c\\nd"\} 3\.02$/m);
      expect(text).toMatch(/^controller_runtime_reconcile_time_seconds_count\{controller="a\\"b\\\\c\\nd"\} 2$/m);
      const notFound = await fetch(`${server.url}/nope`);
      expect(notFound.status).toBe(404);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${server.url}/readyz`)).text()).toBe('ok\n');
    } finally {
      await server.close();
    }
  });
});
