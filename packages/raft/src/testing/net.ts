/** freePort, freePorts: free loopback TCP ports for tests and benchmarks. */
import net from 'node:net';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago (bound to port 0, then released), for tests
 * that start servers on loopback. Another process may take it meanwhile: a test that must not
 * flake retries its start on `EADDRINUSE`.
 */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * `n` distinct TCP ports that were free on 127.0.0.1 a moment ago: all bound to port 0 at
 * once (so no two are the same), then released. The same caveat as {@link freePort}.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(undefined)))));
  }
}
