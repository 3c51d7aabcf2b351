// freePort / freePorts / withFreePorts (./testing): ports that tests and benchmarks can listen on.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts, isAddressInUse, withFreePorts } from '../src/testing/index.js';

const listen = (port: number): Promise<net.Server> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
const close = (s: net.Server): Promise<void> => new Promise((r) => s.close(() => r()));

describe('free loopback ports', () => {
  it('freePorts(n) gives n distinct ports, each of which can be listened on', async () => {
    const ports = await freePorts(8);
    expect(ports).toHaveLength(8);
    expect(new Set(ports).size).toBe(8);
    for (const p of ports) expect(Number.isInteger(p) && p > 0 && p < 65536).toBe(true);
    const servers = await Promise.all(ports.map(listen));
    await Promise.all(servers.map(close));
  });

  it('freePort gives one', async () => {
    const s = await listen(await freePort());
    await close(s);
  });

  it('freePorts(0) is empty', async () => {
    expect(await freePorts(0)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('draws from below the kernel ephemeral range, which connect() and listen(0) take from', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = [...(await freePorts(20)), ...(await Promise.all(Array.from({ length: 20 }, freePort)))];
    for (const p of ports) expect(p).toBeLessThan(low);
    // and below 20000, where flo's runtime hands out instance ports on local hosts
    for (const p of ports) expect(p).toBeLessThan(20_000);
    // a port given by listen(0) is inside the range, so it is never one of ours
    const any = await listen(0);
    expect((any.address() as net.AddressInfo).port).toBeGreaterThanOrEqual(low);
    await close(any);
  });

  it('never hands out the same port twice in a process, even to calls made at once', async () => {
    const ports = (await Promise.all(Array.from({ length: 30 }, () => freePorts(3)))).flat();
    expect(new Set(ports).size).toBe(90);
  });
});

describe('withFreePorts', () => {
  it('runs start again with new ports when one of them was taken (EADDRINUSE), and returns what start returned', async () => {
    const seen: number[][] = [];
    const squatters: net.Server[] = [];
    const result = await withFreePorts(2, async (ports, attempt) => {
      seen.push(ports);
      if (attempt < 3) squatters.push(await listen(ports[1]!)); // another process took one meanwhile
      const servers = await Promise.allSettled(ports.map(listen));
      const failed = servers.find((r) => r.status === 'rejected');
      for (const r of servers) if (r.status === 'fulfilled') await close(r.value);
      if (failed) throw new Error('a member failed to start', { cause: failed.reason });
      return `started on ${ports.join(',')} at attempt ${attempt}`;
    });
    await Promise.all(squatters.map(close));
    expect(seen).toHaveLength(3);
    expect(new Set(seen.flat()).size).toBe(6);
    expect(result).toBe(`started on ${seen[2]!.join(',')} at attempt 3`);
  });

  it('throws any other failure at once, and EADDRINUSE after the last attempt', async () => {
    let calls = 0;
    await expect(withFreePorts(1, () => (calls++, Promise.reject(new Error('bad option'))))).rejects.toThrow('bad option');
    expect(calls).toBe(1);
    calls = 0;
    const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:1'), { code: 'EADDRINUSE' });
    await expect(withFreePorts(1, () => (calls++, Promise.reject(inUse)), { attempts: 2 })).rejects.toBe(inUse);
    expect(calls).toBe(2);
    await expect(withFreePorts(1, () => Promise.resolve(1), { attempts: 0 })).rejects.toThrow(/attempts: expected a positive integer, received 0/);
  });

  it('isAddressInUse finds EADDRINUSE by code or message, through causes', () => {
    expect(isAddressInUse(Object.assign(new Error('x'), { code: 'EADDRINUSE' }))).toBe(true);
    expect(isAddressInUse(new Error('wrapped', { cause: new Error('listen EADDRINUSE: address already in use 127.0.0.1:4') }))).toBe(true);
    expect(isAddressInUse(new Error('ECONNREFUSED'))).toBe(false);
    expect(isAddressInUse(undefined)).toBe(false);
    expect(isAddressInUse('EADDRINUSE')).toBe(false);
  });
});
