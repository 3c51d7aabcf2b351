/**
 * The per-host summary after a group run: ok, failed, unreachable and skipped hosts, as text
 * or JSON.
 */
import type { GroupResult } from '@flotilla/deploy';
import type { Colors } from './colors.js';
import { formatTable } from './table.js';

/**
 * The `-o json|yaml` summary of a run: `{"hosts":[{"host","status","durationMs","error"?,
 * "stdout","stderr"}]}` (DESIGN.md's shape plus each host's output, every line ending in `\n`).
 */
export interface SummaryJson {
  hosts: { host: string; status: 'ok' | 'failed' | 'unreachable' | 'skipped'; durationMs: number; error?: string; stdout?: string; stderr?: string }[];
}

const rank = { ok: 0, skipped: 1, failed: 2, unreachable: 3 } as const;

/** Merges the results of several tasks into one per-host summary (worst status, summed time). */
export function summarize(results: readonly GroupResult[]): SummaryJson {
  const byHost = new Map<string, SummaryJson['hosts'][number]>();
  for (const r of results) {
    for (const h of r.hosts) {
      const cur = byHost.get(h.host);
      const error = h.status === 'ok' ? undefined : h.error?.message;
      if (!cur) {
        byHost.set(h.host, { host: h.host, status: h.status, durationMs: h.durationMs, ...(error ? { error } : {}) });
        continue;
      }
      cur.durationMs += h.durationMs;
      if (rank[h.status] > rank[cur.status]) {
        cur.status = h.status;
        if (error) cur.error = error;
        else delete cur.error;
      }
    }
  }
  return { hosts: [...byHost.values()] };
}

/** The human per-host summary (stderr). */
export function formatSummary(s: SummaryJson, c: Colors): string {
  const paint = (st: string): string => (st === 'ok' ? c.green(st) : st === 'skipped' ? c.yellow(st) : c.red(st));
  const rows = s.hosts.map((h) => [c.host(h.host), paint(h.status), `${h.durationMs} ms`, (h.error ?? '').split('\n')[0]!]);
  const ok = s.hosts.filter((h) => h.status === 'ok').length;
  return `${formatTable(rows)}${c.bold(`${ok}/${s.hosts.length} hosts ok`)}\n`;
}
