import { describe, expect, it } from 'vitest';
import {
  MESSAGE_NO_NODES,
  fitErrorMessage,
  insufficientReason,
  reasonHistogram,
  untoleratedTaintReason,
} from '../src/index.js';

describe("kube-scheduler's FitError text", () => {
  it('sorts the histogram as Go sort.Strings does (byte order, so 10 comes before 2)', () => {
    const counts = new Map([
      [insufficientReason('cpu'), 2],
      ["node(s) didn't match Pod's node affinity/selector", 10],
      [insufficientReason('memory'), 3],
    ]);
    expect(reasonHistogram(counts)).toEqual([
      "10 node(s) didn't match Pod's node affinity/selector",
      '2 Insufficient cpu',
      '3 Insufficient memory',
    ]);
  });
  it('formats the message, and the no-nodes case', () => {
    expect(fitErrorMessage(5, ['2 Insufficient cpu', '3 Insufficient memory'])).toBe(
      '0/5 nodes are available: 2 Insufficient cpu, 3 Insufficient memory.',
    );
    expect(fitErrorMessage(0, [])).toBe(MESSAGE_NO_NODES);
    expect(MESSAGE_NO_NODES).toBe('no nodes available to schedule pods');
  });
  it('words taints as Kubernetes does, an absent value as empty', () => {
    expect(untoleratedTaintReason('dedicated', 'db')).toBe('node(s) had untolerated taint {dedicated: db}');
    expect(untoleratedTaintReason('node-role.kubernetes.io/control-plane', undefined)).toBe(
      'node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }',
    );
  });
});
