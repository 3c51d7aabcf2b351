// freePort / freePorts (./testing): ports that tests and benchmarks can listen on.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from '../src/testing/index.js';

const listen = (port: number): Promise<net.Server> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('free loopback ports', () => {
  it('freePorts(n) gives n distinct ports, each of which can be listened on', async () => {
    const ports = await freePorts(8);
    expect(ports).toHaveLength(8);
    expect(new Set(ports).size).toBe(8);
    for (const p of ports) expect(Number.isInteger(p) && p > 0 && p < 65536).toBe(true);
    const servers = await Promise.all(ports.map(listen));
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('freePort gives one', async () => {
    const s = await listen(await freePort());
    await new Promise((r) => s.close(r));
  });

  it('freePorts(0) is empty', async () => {
    expect(await freePorts(0)).toEqual([]);
  });
});
