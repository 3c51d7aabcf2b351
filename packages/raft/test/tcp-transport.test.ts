import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { TcpTransport } from '../src/transport/tcp-transport.js';
import { encodeMessage } from '../src/transport/codec.js';
import type { Message } from '../src/core/types.js';
import type { PeerTlsOptions } from '../src/transport/tcp-transport.js';

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

/** Frames a payload (u32 LE length). */
function framed(payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

function mac(secret: Buffer, role: string, dialer: number, acceptor: number, nd: Buffer, na: Buffer): Buffer {
  const ids = Buffer.alloc(16);
  ids.writeBigUInt64BE(BigInt(dialer), 0);
  ids.writeBigUInt64BE(BigInt(acceptor), 8);
  return createHmac('sha256', secret).update(`flotilla-peer-v2 ${role}`).update(ids).update(nd).update(na).digest();
}

/**
 * A hand-written peer (an attacker's view of the protocol, as documented in the README):
 * connects, sends a hello claiming `from`, and — given the secret — answers the challenge.
 * Resolves with the socket once the hello is done, or with `closed: true` if the member hung up.
 */
async function rawPeer(port: number, opts: { from: number; to: number; secret?: Buffer; preamble?: Buffer }): Promise<{ sock: net.Socket; closed: () => boolean; challenged: boolean }> {
  const sock = net.connect({ host: '127.0.0.1', port });
  let closed = false;
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  if (opts.preamble) sock.write(opts.preamble);
  const nd = randomBytes(32);
  const hello = Buffer.alloc(52);
  hello.writeUInt32LE(0x464c4f32, 0);
  hello.writeDoubleLE(opts.from, 4);
  hello.writeDoubleLE(opts.to, 12);
  nd.copy(hello, 20);
  sock.write(framed(hello));
  const answer = await new Promise<Buffer | undefined>((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 + 68) {
        sock.off('data', onData);
        resolve(buf.subarray(4, 72));
      }
    };
    sock.on('data', onData);
    sock.once('close', () => resolve(undefined));
  });
  if (!answer) return { sock, closed: () => true, challenged: false };
  const na = answer.subarray(4, 36);
  const proof = Buffer.alloc(36);
  proof.writeUInt32LE(0x464c4f32, 0);
  mac(opts.secret ?? Buffer.alloc(0), 'dialer', opts.from, opts.to, nd, na).copy(proof, 4);
  sock.write(framed(proof));
  return { sock, closed: () => closed, challenged: true };
}

function raftFrame(m: Message): Buffer {
  return framed(Buffer.concat([Buffer.from([0]), encodeMessage(m)]));
}

describe('TcpTransport: peer authentication and frame checks', () => {
  async function member(opts: { secret?: Buffer; members?: number[] } = {}) {
    const got: Message[] = [];
    const controls: string[] = [];
    const logs: string[] = [];
    const t = new TcpTransport({
      id: 2,
      listen: '127.0.0.1:0',
      onMessage: (m) => got.push(m),
      onControl: (_from, payload) => {
        const text = payload.toString();
        if (text === 'bad') throw new Error('not a control frame');
        controls.push(text);
      },
      log: (l) => logs.push(l),
      ...(opts.secret ? { secret: opts.secret } : {}),
      ...(opts.members ? { isMember: (id: number) => opts.members!.includes(id) } : {}),
    });
    const { port } = await t.start();
    cleanups.push(() => t.close());
    return { t, port, got, controls, logs };
  }

  it('members with the same secret connect; a member with another secret cannot, and the secret is never sent', async () => {
    const secret = Buffer.from('s3cret-peer-token-value');
    const b = await member({ secret });
    const wire: Buffer[] = [];
    // Record what both sides send through a tapping proxy.
    const proxy = net.createServer((client) => {
      const up = net.connect({ host: '127.0.0.1', port: b.port });
      client.on('data', (d: Buffer) => (wire.push(d), up.write(d)));
      up.on('data', (d: Buffer) => (wire.push(d), client.write(d)));
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.on('error', () => undefined);
      up.on('error', () => undefined);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => proxy.close(() => r())));
    const a = new TcpTransport({ id: 1, listen: '127.0.0.1:0', peers: new Map([[2, `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`]]), onMessage: () => undefined, secret, reconnectMinMs: 10, reconnectMaxMs: 50 });
    cleanups.push(() => a.close());
    await waitFor(() => {
      a.send([msg(1, 2, 5)]);
      return b.got.length > 0;
    }, 'authenticated delivery');
    expect(Buffer.concat(wire).includes(secret)).toBe(false);

    const logs: string[] = [];
    const wrong = new TcpTransport({ id: 3, listen: '127.0.0.1:0', peers: new Map([[2, `127.0.0.1:${b.port}`]]), onMessage: () => undefined, secret: Buffer.from('another secret'), reconnectMinMs: 10, log: (l) => logs.push(l) });
    cleanups.push(() => wrong.close());
    for (let i = 0; i < 20; i++) {
      wrong.send([msg(3, 2, 9)]);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(b.got.some((m) => m.from === 3)).toBe(false);
    expect(wrong.isConnected(2)).toBe(false);
    // The dialer found out the acceptor does not hold its secret, before sending anything.
    expect(logs.join('\n')).toContain('did not prove the peer secret');
    expect(b.t.refusedConnections).toBe(0);
  });

  it('refuses a hello without the secret, from a non-member, or addressed to another member', async () => {
    const secret = Buffer.from('peer-secret');
    const b = await member({ secret, members: [1, 3] });
    const noSecret = await rawPeer(b.port, { from: 1, to: 2 });
    expect(noSecret.challenged).toBe(true);
    noSecret.sock.write(raftFrame(msg(1, 2, 1)));
    await waitFor(() => noSecret.closed(), 'the unauthenticated connection to close');
    expect(b.logs.join('\n')).toContain('did not prove the peer secret');

    const stranger = await rawPeer(b.port, { from: 9, to: 2, secret });
    expect(stranger.challenged).toBe(false);
    expect(b.logs.join('\n')).toContain('which is not a member');

    const misaddressed = await rawPeer(b.port, { from: 1, to: 5, secret });
    expect(misaddressed.challenged).toBe(false);

    const good = await rawPeer(b.port, { from: 1, to: 2, secret });
    good.sock.write(raftFrame(msg(1, 2, 4)));
    await waitFor(() => b.got.length === 1, 'the authenticated message');
    expect(b.got[0]!.index).toBe(4);
    expect(b.got.every((m) => m.from === 1)).toBe(true);
    expect(b.t.refusedConnections).toBeGreaterThanOrEqual(3);
  });

  it('closes a connection announcing a huge frame at once, before or after the hello, without buffering it', async () => {
    const b = await member();
    const before = await rawPeer(b.port, { from: 1, to: 2, preamble: Buffer.from([0x00, 0x00, 0x00, 0x20]) }); // 512 MiB frame header
    expect(before.challenged).toBe(false);
    const after = await rawPeer(b.port, { from: 1, to: 2 });
    expect(after.challenged).toBe(true);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(512 * 1024 * 1024, 0);
    after.sock.write(Buffer.concat([head, Buffer.from([0]), randomBytes(64 * 1024)]));
    await waitFor(() => after.closed(), 'the connection to close');
    expect(b.logs.join('\n')).toMatch(/exceeds the \d+-byte limit/);
  });

  it('closes a connection whose frames lie: a message from another member, a malformed message, a bad control frame, an unknown kind', async () => {
    const b = await member();
    const cases: [string, Buffer, RegExp][] = [
      ['spoofed sender', raftFrame(msg(3, 2, 1)), /claims to be from member 3/],
      ['wrong recipient', raftFrame(msg(1, 7, 1)), /addressed to member 7/],
      ['entries outside append', raftFrame({ ...msg(1, 2, 1), type: 'heartbeat' }), /heartbeat message carries entries/],
      ['truncated message', framed(Buffer.from([0, 0, 0, 1, 2])), /truncated/],
      ['bad control frame', framed(Buffer.concat([Buffer.from([1]), Buffer.from('bad')])), /bad control frame/],
      ['unknown kind', framed(Buffer.from([7, 1, 2, 3])), /unknown frame kind/],
      ['NaN term', (() => {
        const body = encodeMessage(msg(1, 2, 1));
        body.writeDoubleLE(Number.NaN, 2 + 16);
        return framed(Buffer.concat([Buffer.from([0]), body]));
      })(), /term is NaN/],
    ];
    for (const [name, bytes, reason] of cases) {
      const p = await rawPeer(b.port, { from: 1, to: 2 });
      expect(p.challenged, name).toBe(true);
      p.sock.write(bytes);
      await waitFor(() => p.closed(), `${name}: the connection to close`);
      expect(b.logs.join('\n'), name).toMatch(reason);
    }
    expect(b.got).toEqual([]);
    expect(b.controls).toEqual([]);
    expect(b.t.refusedConnections).toBe(cases.length);
  });

  it('sends a snapshot larger than a frame in chunks and reassembles it', async () => {
    const b = await member();
    const a = new TcpTransport({ id: 1, listen: '127.0.0.1:0', peers: new Map([[2, `127.0.0.1:${b.port}`]]), onMessage: () => undefined, reconnectMinMs: 10, maxFrameBytes: 1024 * 1024 });
    cleanups.push(() => a.close());
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const snap: Message = { ...msg(1, 2, 0), type: 'snapshot', entries: [], snapshot: { index: 10, term: 2, confState: { voters: [1, 2, 3], learners: [] }, data } };
    a.send([msg(1, 2, 0)]);
    await waitFor(() => a.isConnected(2), 'connection');
    a.send([snap, msg(1, 2, 11)]);
    await waitFor(() => b.got.length >= 2, 'the snapshot and the next message');
    expect(b.got[0]!.type).toBe('snapshot');
    expect(Buffer.from(b.got[0]!.snapshot!.data).equals(data)).toBe(true);
    expect(b.got[1]!.index).toBe(11);
  });
});

/** Test-only certificates committed under test/fixtures/tls (no openssl binary needed). */
function makeCerts(_dir: string) {
  const fixtures = fileURLToPath(new URL('./fixtures/tls/', import.meta.url));
  return {
    ca: readFileSync(path.join(fixtures, 'ca.crt')),
    cert: readFileSync(path.join(fixtures, 'member.crt')),
    key: readFileSync(path.join(fixtures, 'member.key')),
  };
}
