// FLO_TRACE: runContainer's step times on stderr (bench/containers.ts --trace), nothing without it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stepTracer } from '../../src/image/trace.js';

describe('stepTracer', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    delete process.env.FLO_TRACE;
  });

  it('with FLO_TRACE=1: one line per step, the host, the step and the time since the previous step of that call', () => {
    process.env.FLO_TRACE = '1';
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (lines.push(String(c)), true));
    const step = stepTracer('hostA');
    step('start');
    step('blobs sent');
    expect(lines).toHaveLength(2);
    for (const [i, what] of ['start', 'blobs sent'].entries()) expect(lines[i]).toMatch(new RegExp(`^flo-trace \\d+\\.\\d hostA ${what} \\+\\d+\\.\\d\\n$`));
    const at = lines.map((l) => Number(l.split(' ')[1]));
    expect(at[1]).toBeGreaterThanOrEqual(at[0]!);
    expect(Number(lines[1]!.trim().split('+')[1])).toBeCloseTo(at[1]! - at[0]!, 0);
  });

  it('without it (or with another value): nothing is written', () => {
    const write = vi.spyOn(process.stderr, 'write');
    stepTracer('hostA')('start');
    process.env.FLO_TRACE = '0';
    stepTracer('hostA')('start');
    expect(write).not.toHaveBeenCalled();
  });
});
