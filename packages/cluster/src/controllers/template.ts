/** Template hashing and instance naming. */
import { createHash } from 'node:crypto';
import type { InstanceTemplate } from '../manifest/types.js';

/** JSON with object keys sorted, so equal values give equal text. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return value;
  });
}

/** A short hash of a template (Kubernetes' pod-template-hash): what a rolling update compares. */
export function templateHash(template: InstanceTemplate): string {
  return createHash('sha256').update(stableJson(template)).digest('hex').slice(0, 10);
}

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A random 5-character suffix, as Kubernetes' generateName uses. */
export function nameSuffix(random: () => number): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHABET[Math.floor(random() * ALPHABET.length) % ALPHABET.length];
  return s;
}

/** Labels the controllers add to every instance. */
export const REPLICASET_LABEL = 'flotilla.dev/replicaset';
export const TEMPLATE_HASH_LABEL = 'flotilla.dev/template-hash';

/** Resolves `maxSurge`/`maxUnavailable`: a count, or a percentage of `replicas` (rounded up for surge, down for unavailable). */
export function resolveIntOrPercent(value: number | string | undefined, replicas: number, fallback: number, roundUp: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const pct = Number(value.slice(0, -1));
  const exact = (pct * replicas) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}
