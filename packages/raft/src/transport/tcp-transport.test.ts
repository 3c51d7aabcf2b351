import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpTransport } from './tcp-transport.js';
import type { Message } from '../core/types.js';
import type { PeerTlsOptions } from './tcp-transport.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function msg(from: number, to: number, index: number, data = ''): Message {
  return {
    type: 'append',
    from,
    to,
    term: 1,
    logTerm: 1,
    index,
    commit: 0,
    reject: false,
    rejectHint: 0,
    entries: [{ term: 1, index: index + 1, type: 'normal', data: new TextEncoder().encode(data) }],
  };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function pair(tls?: PeerTlsOptions, listen2 = '127.0.0.1:0') {
  const got: Message[] = [];
  const b = new TcpTransport({ id: 2, listen: listen2, onMessage: (m) => got.push(m), ...(tls ? { tls } : {}) });
  const addr = await b.start();
  const unreachable: number[] = [];
  const a = new TcpTransport({ id: 1, listen: '127.0.0.1:0', peers: new Map([[2, `127.0.0.1:${addr.port}`]]), onMessage: () => undefined, onUnreachable: (id) => unreachable.push(id), reconnectMinMs: 10, reconnectMaxMs: 50, ...(tls ? { tls } : {}) });
  await a.start();
  cleanups.push(() => a.close(), () => b.close());
  return { a, b, got, port: addr.port, unreachable };
}

describe('TcpTransport', () => {
  it('delivers messages in order once connected, batching a burst', async () => {
    const { a, got } = await pair();
    a.send([msg(1, 2, 0)]); // triggers the connection; dropped while down
    await waitFor(() => a.isConnected(2), 'connection');
    const burst = Array.from({ length: 500 }, (_, i) => msg(1, 2, i + 1, `v${i}`));
    a.send(burst);
    await waitFor(() => got.length >= 500, 'all messages');
    expect(got.map((m) => m.index)).toEqual(burst.map((m) => m.index));
    expect(new TextDecoder().decode(got[499]!.entries[0]!.data)).toBe('v499');
  });

  it('reports an unknown or unreachable peer without throwing, and reconnects after the peer restarts', async () => {
    const { a, b, got, port, unreachable } = await pair();
    a.send([msg(1, 9, 0)]);
    expect(unreachable).toContain(9);
    a.send([msg(1, 2, 0)]);
    await waitFor(() => a.isConnected(2), 'connection');
    await b.close();
    await waitFor(() => !a.isConnected(2), 'disconnect');
    const got2: Message[] = [];
    const b2 = new TcpTransport({ id: 2, listen: `127.0.0.1:${port}`, onMessage: (m) => got2.push(m) });
    await b2.start();
    cleanups.push(() => b2.close());
    await waitFor(() => {
      a.send([msg(1, 2, 42)]);
      return got2.length > 0;
    }, 'delivery after reconnect');
    expect(got2[0]!.index).toBe(42);
    expect(got.length).toBe(0);
  });

  it('speaks mutual TLS and refuses a peer without a certificate from the CA', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flo-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const tls = makeCerts(dir);
    const { a, got, port } = await pair(tls);
    await waitFor(() => {
      a.send([msg(1, 2, 7)]);
      return got.length > 0;
    }, 'TLS delivery');
    expect(got[0]!.index).toBe(7);
    // A plain-TCP sender cannot deliver to the TLS listener.
    const plain = new TcpTransport({ id: 3, listen: '127.0.0.1:0', peers: new Map([[2, `127.0.0.1:${port}`]]), onMessage: () => undefined, reconnectMinMs: 10 });
    cleanups.push(() => plain.close());
    const before = got.length;
    for (let i = 0; i < 20; i++) {
      plain.send([{ ...msg(3, 2, 99) }]);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(got.slice(before).some((m) => m.from === 3)).toBe(false);
  });
});

/** Test-only certificates committed under test/fixtures/tls (no openssl binary needed). */
function makeCerts(_dir: string) {
  const fixtures = fileURLToPath(new URL('../../test/fixtures/tls/', import.meta.url));
  return {
    ca: readFileSync(path.join(fixtures, 'ca.crt')),
    cert: readFileSync(path.join(fixtures, 'member.crt')),
    key: readFileSync(path.join(fixtures, 'member.key')),
  };
}
