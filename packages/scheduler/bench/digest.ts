/**
 * A digest of a schedule result, to prove that two versions of the scheduler place alike:
 * SHA-256 over every assignment in placement order (the Map's insertion order) and every
 * unschedulable pod with its message.
 */
import { createHash } from 'node:crypto';
import type { ScheduleResult } from '@flotilla/scheduler';

/** The SHA-256 (hex) of the assignments in placement order and the unschedulable pods with their messages. */
export function placementDigest(result: ScheduleResult): string {
  const hash = createHash('sha256');
  for (const [pod, node] of result.assignments) hash.update(`${pod}\t${node}\n`);
  hash.update('--\n');
  for (const entry of result.unschedulable) hash.update(`${entry.pod}\t${entry.message}\n`);
  return hash.digest('hex');
}
