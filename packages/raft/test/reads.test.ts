import { describe, expect, it } from 'vitest';
import { ReadIndexBatcher } from '../src/node/reads.js';

const dec = new TextDecoder();

describe('ReadIndexBatcher', () => {
  it('asks again, with the same context, for a round whose request or answer was lost, and the read is served', async () => {
    // The first ask is lost (a follower whose connection to the leader was still being made
    // after a restart dropped it): before, the read waited for its timeout and failed.
    const asks: string[] = [];
    const b: ReadIndexBatcher = new ReadIndexBatcher(
      (ctx) => {
        asks.push(dec.decode(ctx));
        if (asks.length >= 2) {
          b.readState({ context: ctx, index: 3 });
          b.serve(3);
        }
      },
      5_000,
      'm1',
      20,
    );
    await b.read(() => undefined);
    expect(asks.length).toBe(2);
    expect(new Set(asks).size).toBe(1);
    b.stop();
  });

  it('waits for the applied index of the answer, stops asking once answered, and fails with stopped', async () => {
    const asks: Uint8Array[] = [];
    const b = new ReadIndexBatcher((ctx) => void asks.push(ctx), 60_000, 'm1', 20);
    let served = false;
    const read = b.read(() => undefined).then(() => (served = true));
    while (asks.length === 0) await new Promise((r) => setTimeout(r, 5));
    b.readState({ context: asks[0]!, index: 7 });
    b.serve(6);
    const after = asks.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(served).toBe(false);
    expect(asks.length).toBe(after); // answered: not asked again
    b.serve(7);
    await read;
    expect(served).toBe(true);
    const pending = b.read(() => undefined);
    b.stop();
    await expect(pending).rejects.toMatchObject({ code: 'stopped' });
  });

  it('gives up asking once its reads have timed out', async () => {
    const asks: Uint8Array[] = [];
    const b = new ReadIndexBatcher((ctx) => void asks.push(ctx), 100, 'm1', 20);
    await expect(b.read(() => undefined)).rejects.toMatchObject({ code: 'timeout' });
    await new Promise((r) => setTimeout(r, 100));
    const n = asks.length;
    expect(n).toBeGreaterThan(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(asks.length).toBe(n);
    b.stop();
  });
});
