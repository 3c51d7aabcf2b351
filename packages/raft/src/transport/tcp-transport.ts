import net from 'node:net';
import tls from 'node:tls';
import { FrameReader, decodeMessage, encodeMessage, frame } from './codec.js';
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
  /** Called for every control frame received (see {@link TcpTransport.sendControl}). */
  readonly onControl?: (from: NodeId, payload: Buffer) => void;
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

const HELLO_MAGIC = 0x464c4f31; // "FLO1"
/** Frame kinds: the first payload byte after the hello. */
const KIND_RAFT = 0;
const KIND_CONTROL = 1;

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
 */
export class TcpTransport {
  readonly #opts: TcpTransportOptions;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #inbound = new Set<net.Socket>();
  #server: net.Server | undefined;
  #closed = false;
  readonly #maxBuffered: number;
  readonly #coalesceMs: number;

  constructor(options: TcpTransportOptions) {
    parseHostPort(options.listen);
    this.#opts = options;
    this.#maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.#coalesceMs = options.coalesceMs ?? 0;
    for (const [id, addr] of options.peers ?? []) if (id !== options.id) this.addPeer(id, addr);
  }

  /** Starts accepting peer connections; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = parseHostPort(this.#opts.listen);
    const onConn = (socket: net.Socket) => this.#accept(socket);
    const t = this.#opts.tls;
    const server = t
      ? tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: true, rejectUnauthorized: true }, onConn)
      : net.createServer(onConn);
    server.on('error', () => undefined);
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

  /** Queues messages for their recipients; never throws for an unknown or down peer. */
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (!this.#enqueue(m.to, KIND_RAFT, encodeMessage(m))) this.#opts.onUnreachable?.(m.to);
    }
  }

  /**
   * Sends an application control frame (e.g. a proposal forwarded to the leader) on the same
   * ordered connection as Raft messages. Returns false when it had to be dropped.
   */
  sendControl(to: NodeId, payload: Uint8Array): boolean {
    return this.#enqueue(to, KIND_CONTROL, payload);
  }

  #enqueue(to: NodeId, kind: number, payload: Uint8Array): boolean {
    const p = this.#peers.get(to);
    if (!p) return false;
    if (!p.connected) {
      this.#connect(p);
      return false;
    }
    const sock = p.socket!;
    if (sock.writableLength + p.queuedBytes > this.#maxBuffered) return false;
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
    const ready = () => {
      p.connected = true;
      p.failures = 0;
      const hello = Buffer.allocUnsafe(12);
      hello.writeUInt32LE(HELLO_MAGIC, 0);
      hello.writeDoubleLE(this.#opts.id, 4);
      sock.write(Buffer.concat(frame(hello)));
    };
    sock.once(t ? 'secureConnect' : 'connect', ready);
    sock.on('data', () => undefined); // peers never answer on this connection
    sock.on('error', () => undefined);
    sock.on('close', () => {
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

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader();
    let helloSeen = false;
    let peerId = 0;
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (!helloSeen) {
          if (f.length !== 12 || f.readUInt32LE(0) !== HELLO_MAGIC) {
            socket.destroy();
            return;
          }
          helloSeen = true;
          peerId = f.readDoubleLE(4);
          continue;
        }
        const kind = f[0];
        if (kind === KIND_CONTROL) {
          this.#opts.onControl?.(peerId, f.subarray(1));
          continue;
        }
        let m: Message;
        try {
          if (kind !== KIND_RAFT) throw new Error(`unknown frame kind ${kind}`);
          m = decodeMessage(f.subarray(1));
        } catch {
          socket.destroy();
          return;
        }
        if (m.to !== this.#opts.id) continue;
        this.#opts.onMessage(m);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.#inbound.delete(socket));
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
