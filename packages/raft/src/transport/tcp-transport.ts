/**
 * TcpTransport: Raft messages and control frames between members over TCP or mutual TLS — the
 * authenticated hello, batching, reconnects.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { FrameDecodeError, FrameReader, MAX_FRAME_BYTES, checkPeerMessage, decodeMessage, encodeMessage, frame } from './codec.js';
import type { Message, NodeId } from '../core/types.js';

/** TLS material for mutual TLS between members (PEM). */
export interface PeerTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA that signed every member's certificate; peers must present one. */
  readonly ca: string | Buffer;
}

/** Options of {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** This member's id (sent in the connection hello). */
  readonly id: NodeId;
  /** Address to accept peer connections on, `HOST:PORT`. Port 0 picks a free one. */
  readonly listen: string;
  /** Peer addresses by id, `HOST:PORT` (this member's own entry is ignored). */
  readonly peers?: ReadonlyMap<NodeId, string>;
  /** Called for every message received, in order per sender. */
  readonly onMessage: (message: Message) => void;
  /**
   * Called for every control frame received (see {@link TcpTransport.sendControl}). Throwing
   * means the frame is malformed: the connection is closed and the reason logged.
   */
  readonly onControl?: (from: NodeId, payload: Buffer) => void;
  /**
   * Shared secret of the members: each connection's hello is a mutual challenge–response
   * (HMAC-SHA256 over both sides' nonces and ids), so only holders of the secret connect; the
   * secret itself is never sent. @default none (no proof; use with `tls` or on a trusted network)
   */
  readonly secret?: Uint8Array;
  /**
   * Whether an id belongs to a member allowed to connect (checked on every inbound hello).
   * @default every id is accepted
   */
  readonly isMember?: (id: NodeId) => boolean;
  /** Diagnostics: refused connections and bad frames, one line each (never payloads or secrets). */
  readonly log?: (line: string) => void;
  /** Largest frame read from an authenticated peer. @default 16 MiB (the codec's `MAX_FRAME_BYTES`) */
  readonly maxFrameBytes?: number;
  /** Largest message reassembled from chunk frames (only snapshots are chunked). @default 2 GiB */
  readonly maxSnapshotBytes?: number;
  /** Milliseconds a new connection has to complete its hello. @default 10000 */
  readonly helloTimeoutMs?: number;
  /** Called when a message to a peer had to be dropped (not connected, or its buffer is full). */
  readonly onUnreachable?: (id: NodeId) => void;
  /** Mutual TLS between members. @default plain TCP */
  readonly tls?: PeerTlsOptions;
  /** Bytes queued in a peer's socket beyond which new messages are dropped. @default 64 MiB */
  readonly maxBufferedBytes?: number;
  /** Minimum milliseconds between two writes to one peer (messages in between go out together; adds latency). @default 0 */
  readonly coalesceMs?: number;
  /** First reconnect delay. @default 50 */
  readonly reconnectMinMs?: number;
  /** Reconnect delay cap (the delay doubles after each failure). @default 2000 */
  readonly reconnectMaxMs?: number;
}

/**
 * The hello (version 2), in length-prefixed frames like everything else:
 * 1. dialer → acceptor  `HELLO`: magic "FLO2", dialer id (f64), acceptor id (f64), 32-byte nonce Nd;
 * 2. acceptor → dialer  `CHALLENGE`: magic, 32-byte nonce Na, MACa;
 * 3. dialer → acceptor  `PROOF`: magic, MACd; then the dialer's frames follow.
 * MACx = HMAC-SHA256(secret, "flotilla-peer-v2 " + role + u64 dialer id + u64 acceptor id + Nd + Na),
 * role "acceptor" or "dialer" (so one side's proof never serves as the other's). Each side
 * checks the other's MAC in constant time; the acceptor also checks that the claimed dialer
 * id is a member and that the hello is addressed to it. Without a secret the MACs use an
 * empty key (the hello still checks ids, but proves nothing: rely on mutual TLS then).
 */
const HELLO_MAGIC = 0x464c4f32; // "FLO2"
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const HELLO_BYTES = 4 + 8 + 8 + NONCE_BYTES;
const CHALLENGE_BYTES = 4 + NONCE_BYTES + MAC_BYTES;
const PROOF_BYTES = 4 + MAC_BYTES;
/** Frames read before the hello completes are at most this long. */
const MAX_HELLO_FRAME = 128;
/** Frame kinds: the first payload byte after the hello. */
const KIND_RAFT = 0;
const KIND_CONTROL = 1;
/** A piece of a message too long for one frame: `u8 last`, then bytes. */
const KIND_CHUNK = 2;
/** Inbound connections (authenticated or not) beyond which new ones are refused. */
const MAX_INBOUND = 256;

function helloMac(secret: Uint8Array, role: 'acceptor' | 'dialer', dialer: NodeId, acceptor: NodeId, nd: Uint8Array, na: Uint8Array): Buffer {
  const ids = Buffer.allocUnsafe(16);
  ids.writeBigUInt64BE(BigInt(dialer), 0);
  ids.writeBigUInt64BE(BigInt(acceptor), 8);
  return createHmac('sha256', secret).update(`flotilla-peer-v2 ${role}`).update(ids).update(nd).update(na).digest();
}

function isMemberId(v: number): boolean {
  return Number.isSafeInteger(v) && v > 0;
}

function parseHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`expected HOST:PORT, received ${JSON.stringify(addr)}`);
  }
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

class Peer {
  socket: net.Socket | undefined;
  connected = false;
  closed = false;
  failures = 0;
  /** Hello failures logged (one line per failing streak, not one per retry). */
  helloFailureLogged = false;
  timer: NodeJS.Timeout | undefined;
  queue: Buffer[] = [];
  queuedBytes = 0;
  flushScheduled = false;
  lastFlushAt = -Infinity;

  constructor(
    readonly id: NodeId,
    public addr: string,
  ) {}
}

/**
 * Carries Raft messages between members over TCP.
 *
 * Guarantees and behaviour:
 * - One outbound connection per peer; messages to a peer are delivered in send order while
 *   the connection lives (TCP), and frames are length-prefixed binary.
 * - Batching: messages sent during one turn of the event loop (one I/O phase) go out in one
 *   socket write.
 * - Never blocks the caller: when a peer is unreachable or its socket buffer is over
 *   `maxBufferedBytes`, messages are dropped and `onUnreachable` is called (Raft retries).
 * - Reconnects with exponential backoff from `reconnectMinMs` to `reconnectMaxMs`.
 * - With `tls`, both sides present certificates signed by the shared CA (mutual TLS).
 * - With `secret`, both sides prove they hold it in the hello (see HELLO_MAGIC) before any
 *   frame is read; the acceptor accepts only ids that `isMember` allows, addressed to it.
 * - Every inbound frame is bounded (`maxFrameBytes`; 128 bytes before the hello completes),
 *   decoded strictly and checked (a Raft message must come from the authenticated peer and be
 *   addressed to this member); a bad frame closes that connection and is logged and counted.
 */
export class TcpTransport {
  readonly #opts: TcpTransportOptions;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #inbound = new Set<net.Socket>();
  #server: net.Server | undefined;
  #closed = false;
  readonly #maxBuffered: number;
  readonly #coalesceMs: number;
  readonly #secret: Uint8Array;
  readonly #maxFrame: number;
  #refused = 0;

  constructor(options: TcpTransportOptions) {
    parseHostPort(options.listen);
    this.#opts = options;
    this.#maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.#coalesceMs = options.coalesceMs ?? 0;
    this.#secret = options.secret ?? new Uint8Array(0);
    this.#maxFrame = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    for (const [id, addr] of options.peers ?? []) if (id !== options.id) this.addPeer(id, addr);
  }

  /** Starts accepting peer connections; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = parseHostPort(this.#opts.listen);
    const onConn = (socket: net.Socket) => this.#accept(socket);
    const t = this.#opts.tls;
    const server = t
      ? tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: true, rejectUnauthorized: true, handshakeTimeout: this.#opts.helloTimeoutMs ?? 10_000 }, onConn)
      : net.createServer(onConn);
    server.on('error', () => undefined);
    server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => this.#refuse(`a TLS handshake from ${sock.remoteAddress ?? '?'} failed (${err.message})`));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Adds (or re-addresses) a peer. */
  addPeer(id: NodeId, addr: string): void {
    if (id === this.#opts.id) return;
    parseHostPort(addr);
    const existing = this.#peers.get(id);
    if (existing) {
      if (existing.addr === addr) return;
      this.removePeer(id);
    }
    this.#peers.set(id, new Peer(id, addr));
  }

  /** Forgets a peer and closes its connection. */
  removePeer(id: NodeId): void {
    const p = this.#peers.get(id);
    if (!p) return;
    p.closed = true;
    if (p.timer) clearTimeout(p.timer);
    p.socket?.destroy();
    this.#peers.delete(id);
  }

  /** True when an outbound connection to the peer is up. */
  isConnected(id: NodeId): boolean {
    return this.#peers.get(id)?.connected ?? false;
  }

  /** Connections refused or dropped since start: failed hellos (either side), bad frames. */
  get refusedConnections(): number {
    return this.#refused;
  }

  /** Queues messages for their recipients; never throws for an unknown or down peer. */
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const body = encodeMessage(m);
      const ok = body.length + 1 <= this.#maxFrame ? this.#enqueue(m.to, KIND_RAFT, body) : this.#enqueueChunks(m.to, body);
      if (!ok) this.#opts.onUnreachable?.(m.to);
    }
  }

  /** A message longer than a frame (a large snapshot) goes out as chunk frames. */
  #enqueueChunks(to: NodeId, body: Buffer): boolean {
    const size = Math.max(1, Math.min(4 * 1024 * 1024, this.#maxFrame - 2));
    for (let o = 0; o < body.length; o += size) {
      const end = Math.min(body.length, o + size);
      const part = Buffer.allocUnsafe(1 + end - o);
      part[0] = end === body.length ? 1 : 0;
      body.copy(part, 1, o, end);
      // The first chunk checks the buffer limit; the rest must follow it or the message is torn.
      if (!this.#enqueue(to, KIND_CHUNK, part, o > 0)) {
        if (o > 0) this.#peers.get(to)?.socket?.destroy();
        return false;
      }
    }
    return true;
  }

  /**
   * Sends an application control frame (e.g. a proposal forwarded to the leader) on the same
   * ordered connection as Raft messages. Returns false when it had to be dropped.
   */
  sendControl(to: NodeId, payload: Uint8Array): boolean {
    return this.#enqueue(to, KIND_CONTROL, payload);
  }

  #enqueue(to: NodeId, kind: number, payload: Uint8Array, force = false): boolean {
    const p = this.#peers.get(to);
    if (!p) return false;
    if (!p.connected) {
      this.#connect(p);
      return false;
    }
    const sock = p.socket!;
    if (!force && sock.writableLength + p.queuedBytes > this.#maxBuffered) return false;
    const head = Buffer.allocUnsafe(5);
    head.writeUInt32LE(payload.length + 1, 0);
    head[4] = kind;
    const body = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    p.queue.push(head, body);
    p.queuedBytes += 5 + body.length;
    if (!p.flushScheduled) {
      p.flushScheduled = true;
      // Coalesce: at most one write per peer every `coalesceMs` (a write to a loopback or LAN
      // socket costs tens of microseconds of kernel time); an idle link writes at once.
      const wait = this.#coalesceMs - (performance.now() - p.lastFlushAt);
      if (wait <= 0) setImmediate(() => this.#flush(p));
      else setTimeout(() => this.#flush(p), wait);
    }
    return true;
  }

  #flush(p: Peer): void {
    p.flushScheduled = false;
    if (!p.connected || !p.socket || p.queue.length === 0) {
      p.queue = [];
      p.queuedBytes = 0;
      return;
    }
    p.lastFlushAt = performance.now();
    const data = p.queue.length === 1 ? p.queue[0]! : Buffer.concat(p.queue, p.queuedBytes);
    p.queue = [];
    p.queuedBytes = 0;
    p.socket.write(data);
  }

  #connect(p: Peer): void {
    if (p.socket || p.closed || this.#closed || p.timer) return;
    const { host, port } = parseHostPort(p.addr);
    const t = this.#opts.tls;
    const sock: net.Socket = t
      ? tls.connect({ host, port, cert: t.cert, key: t.key, ca: t.ca, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    p.socket = sock;
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 5000);
    const nd = randomBytes(NONCE_BYTES);
    const reader = new FrameReader(MAX_HELLO_FRAME);
    let authenticated = false;
    const helloTimer = setTimeout(() => fail('no answer to the hello'), this.#opts.helloTimeoutMs ?? 10_000);
    helloTimer.unref();
    const fail = (why: string) => {
      this.#refused++;
      if (!p.helloFailureLogged) {
        p.helloFailureLogged = true;
        this.#opts.log?.(`peer ${p.id} at ${p.addr}: ${why}; closing the connection (retrying)`);
      }
      sock.destroy();
    };
    sock.once(t ? 'secureConnect' : 'connect', () => {
      const hello = Buffer.allocUnsafe(HELLO_BYTES);
      hello.writeUInt32LE(HELLO_MAGIC, 0);
      hello.writeDoubleLE(this.#opts.id, 4);
      hello.writeDoubleLE(p.id, 12);
      nd.copy(hello, 20);
      sock.write(Buffer.concat(frame(hello)));
    });
    sock.on('data', (chunk: Buffer) => {
      if (authenticated) return; // the acceptor sends nothing after its challenge
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch {
        fail('the answer to the hello is not a challenge');
        return;
      }
      const f = frames[0];
      if (f === undefined) return;
      if (frames.length > 1 || f.length !== CHALLENGE_BYTES || f.readUInt32LE(0) !== HELLO_MAGIC) {
        fail('the answer to the hello is not a challenge (a different Flotilla version, or not a member)');
        return;
      }
      const na = f.subarray(4, 4 + NONCE_BYTES);
      const mac = f.subarray(4 + NONCE_BYTES);
      if (!timingSafeEqual(mac, helloMac(this.#secret, 'acceptor', this.#opts.id, p.id, nd, na))) {
        fail('it did not prove the peer secret (check that every member has the same --peer-token-file)');
        return;
      }
      clearTimeout(helloTimer);
      const proof = Buffer.allocUnsafe(PROOF_BYTES);
      proof.writeUInt32LE(HELLO_MAGIC, 0);
      helloMac(this.#secret, 'dialer', this.#opts.id, p.id, nd, na).copy(proof, 4);
      sock.write(Buffer.concat(frame(proof)));
      authenticated = true;
      p.connected = true;
      p.failures = 0;
      p.helloFailureLogged = false;
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(helloTimer);
      p.connected = false;
      p.socket = undefined;
      p.queue = [];
      p.queuedBytes = 0;
      if (p.closed || this.#closed) return;
      const min = this.#opts.reconnectMinMs ?? 50;
      const max = this.#opts.reconnectMaxMs ?? 2000;
      const delay = Math.min(max, min * 2 ** Math.min(p.failures, 16));
      p.failures++;
      p.timer = setTimeout(() => {
        p.timer = undefined;
        this.#connect(p);
      }, delay);
      p.timer.unref();
    });
  }

  #refuse(why: string): void {
    this.#refused++;
    this.#opts.log?.(`peer port: ${why}`);
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const where = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.#inbound.size >= MAX_INBOUND) {
      this.#refuse(`refused a connection from ${where}: ${MAX_INBOUND} peer connections are open`);
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader(MAX_HELLO_FRAME);
    let stage: 'hello' | 'proof' | 'open' = 'hello';
    let peerId = 0;
    let nd: Buffer | undefined;
    let na: Buffer | undefined;
    /** A message arriving in chunks (only a snapshot may). */
    let parts: Buffer[] = [];
    let partBytes = 0;
    const maxSnapshot = this.#opts.maxSnapshotBytes ?? 2 * 1024 * 1024 * 1024;
    const helloTimer = setTimeout(() => drop('no hello in time'), this.#opts.helloTimeoutMs ?? 10_000);
    helloTimer.unref();
    let dropped = false;
    const drop = (why: string) => {
      if (dropped) return;
      dropped = true;
      this.#refuse(`closed the connection from ${peerId > 0 && stage === 'open' ? `member ${peerId}` : where}: ${why}`);
      socket.destroy();
    };
    const onHello = (f: Buffer): void => {
      if (f.length !== HELLO_BYTES || f.readUInt32LE(0) !== HELLO_MAGIC) return drop('not a Flotilla peer hello (version 2)');
      const from = f.readDoubleLE(4);
      const to = f.readDoubleLE(12);
      if (!isMemberId(from)) return drop('the hello claims an invalid member id');
      if (to !== this.#opts.id) return drop(`the hello is addressed to member ${isMemberId(to) ? to : '?'}, this is member ${this.#opts.id}`);
      if (from === this.#opts.id) return drop('the hello claims this member\'s own id');
      if (this.#opts.isMember && !this.#opts.isMember(from)) return drop(`the hello claims id ${from}, which is not a member`);
      peerId = from;
      nd = Buffer.from(f.subarray(20));
      na = randomBytes(NONCE_BYTES);
      const challenge = Buffer.allocUnsafe(CHALLENGE_BYTES);
      challenge.writeUInt32LE(HELLO_MAGIC, 0);
      na.copy(challenge, 4);
      helloMac(this.#secret, 'acceptor', from, this.#opts.id, nd, na).copy(challenge, 4 + NONCE_BYTES);
      socket.write(Buffer.concat(frame(challenge)));
      stage = 'proof';
    };
    const onProof = (f: Buffer): void => {
      if (f.length !== PROOF_BYTES || f.readUInt32LE(0) !== HELLO_MAGIC) return drop('not a hello proof');
      const expected = helloMac(this.#secret, 'dialer', peerId, this.#opts.id, nd!, na!);
      if (!timingSafeEqual(f.subarray(4), expected)) return drop(`member ${peerId} did not prove the peer secret (a wrong or missing --peer-token-file?)`);
      clearTimeout(helloTimer);
      stage = 'open';
      reader.maxFrameBytes = this.#maxFrame;
    };
    const onMessageBytes = (body: Buffer): void => {
      let m: Message;
      try {
        m = decodeMessage(body);
        checkPeerMessage(m);
      } catch (err) {
        return drop(`bad Raft message: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (m.from !== peerId) return drop(`a message claims to be from member ${m.from}`);
      if (m.to !== this.#opts.id) return drop(`a message is addressed to member ${m.to}`);
      this.#opts.onMessage(m);
    };
    const onFrame = (f: Buffer): void => {
      const kind = f[0];
      if (kind !== KIND_CHUNK && parts.length > 0) return drop('a frame interrupts a chunked message');
      switch (kind) {
        case KIND_RAFT:
          return onMessageBytes(f.subarray(1));
        case KIND_CONTROL:
          try {
            this.#opts.onControl?.(peerId, f.subarray(1));
          } catch (err) {
            return drop(`bad control frame: ${err instanceof Error ? err.message : String(err)}`);
          }
          return;
        case KIND_CHUNK: {
          if (f.length < 2 || (f[1] !== 0 && f[1] !== 1)) return drop('bad chunk frame');
          const piece = f.subarray(2);
          if (parts.length === 0 && piece[0] !== 8 /* snapshot */) return drop('only snapshot messages may be chunked');
          partBytes += piece.length;
          if (partBytes > maxSnapshot) return drop(`a chunked message exceeds ${maxSnapshot} bytes`);
          parts.push(Buffer.from(piece)); // copied: the reader's buffer is reused
          if (f[1] === 1) {
            const whole = Buffer.concat(parts, partBytes);
            parts = [];
            partBytes = 0;
            onMessageBytes(whole);
          }
          return;
        }
        default:
          return drop(`unknown frame kind ${String(kind)}`);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (dropped) return;
      reader.append(chunk);
      for (;;) {
        if (dropped || this.#closed) return;
        let f: Buffer | undefined;
        try {
          f = reader.next();
        } catch (err) {
          drop(err instanceof FrameDecodeError ? err.message : 'unreadable frame');
          return;
        }
        if (f === undefined) return;
        if (stage === 'hello') onHello(f);
        else if (stage === 'proof') onProof(f);
        else onFrame(f);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.#inbound.delete(socket);
    });
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#peers.keys()]) this.removePeer(id);
    for (const s of this.#inbound) s.destroy();
    this.#inbound.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
