/** freePort: a free loopback TCP port for tests. */
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
