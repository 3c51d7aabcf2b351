// Our manifest quantities and @flotilla/scheduler's must agree on base units (the
// controllers hand the scheduler numbers converted here).
import fc from 'fast-check';
import { toBaseUnits } from '@flotilla/scheduler';
import { describe, expect, it } from 'vitest';
import { toSchedulerUnits } from '../src/index.js';

const suffix = fc.constantFrom('', 'm', 'k', 'M', 'G', 'Ki', 'Mi', 'Gi', 'Ti', 'e3', 'E-3'.toLowerCase(), 'n', 'u');
const quantity = fc
  .tuple(fc.integer({ min: 0, max: 99_999 }), fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }), suffix)
  .map(([whole, frac, s]) => `${whole}${frac === undefined ? '' : `.${String(frac).padStart(3, '0')}`}${s}`);

describe('quantity conversion agrees with @flotilla/scheduler', () => {
  it.each(['cpu', 'memory', 'gpu'])('%s', (resource) => {
    fc.assert(
      fc.property(quantity, (q) => {
        let theirs: number | undefined;
        try {
          theirs = toBaseUnits(resource, q);
        } catch {
          theirs = undefined;
        }
        let ours: number | undefined;
        try {
          ours = toSchedulerUnits({ [resource]: q })[resource];
        } catch {
          ours = undefined; // too large for an exact number: refused, as the scheduler does
        }
        expect(ours).toBe(theirs);
      }),
      { numRuns: 500 },
    );
  });
});
