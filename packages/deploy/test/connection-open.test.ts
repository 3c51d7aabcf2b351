// When a Connection opens its transport: lazily, once; again after the transport died; and
// once (not twice) after a failed warm-up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Connection, DeployError, LocalTransport } from '../src/index.js';
import type { Transport } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'flo-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Mortal extends LocalTransport {
  alive = true;
  closed = 0;
  isOpen(): boolean {
    return this.alive;
  }
  override close(): Promise<void> {
    this.closed++;
    return super.close();
  }
}

function counting(make: (n: number) => Promise<Transport>): { c: Connection; opens: () => number } {
  let n = 0;
  const c = new Connection('h', () => make(++n));
  return { c, opens: () => n };
}

describe('Connection: opening the transport', () => {
  it('opens lazily and once for concurrent commands', async () => {
    const { c, opens } = counting(() => Promise.resolve(new Mortal(dir, { setHome: false })));
    expect(opens()).toBe(0);
    const rs = await Promise.all([c.run('echo a'), c.run('echo b')]);
    expect(rs.map((r) => r.stdout)).toEqual(['a\n', 'b\n']);
    expect(opens()).toBe(1);
    await c.close();
  });

  it('replaces a transport that reports itself dead, closing the old one', async () => {
    const made: Mortal[] = [];
    const { c, opens } = counting(() => {
      const t = new Mortal(dir, { setHome: false });
      made.push(t);
      return Promise.resolve(t);
    });
    await c.run('true');
    made[0]!.alive = false;
    expect((await c.run('echo again')).stdout).toBe('again\n');
    expect(opens()).toBe(2);
    expect(made[0]!.closed).toBe(1);
    await c.run('true');
    expect(opens()).toBe(2);
    await c.close();
  });

  it('warm() starts the open early; the command reuses it', async () => {
    const { c, opens } = counting(() => Promise.resolve(new Mortal(dir, { setHome: false })));
    c.warm();
    expect(opens()).toBe(1);
    c.warm();
    await c.run('true');
    expect(opens()).toBe(1);
    await c.close();
  });

  it('a failed warm-up is reported to the next command once, then a new attempt is made', async () => {
    const { c, opens } = counting((n) =>
      n === 1 ? Promise.reject(new DeployError('connect-failed', 'host down')) : Promise.resolve(new Mortal(dir, { setHome: false })),
    );
    c.warm();
    await new Promise((r) => setTimeout(r, 10));
    await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed', message: 'host down' });
    expect(opens()).toBe(1);
    expect((await c.run('echo up')).stdout).toBe('up\n');
    expect(opens()).toBe(2);
    await c.close();
  });

  it('a command waiting on a warm-up that fails gets the failure; the next command retries', async () => {
    const { c, opens } = counting((n) => (n === 1 ? Promise.reject(new DeployError('connect-failed', 'down')) : Promise.resolve(new Mortal(dir, { setHome: false }))));
    c.warm();
    await expect(c.run('true')).rejects.toMatchObject({ code: 'connect-failed' });
    await c.run('true');
    expect(opens()).toBe(2);
    await c.close();
  });
});
