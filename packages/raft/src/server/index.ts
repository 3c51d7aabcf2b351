/**
 * `@flotilla/raft/server`: the replicated KV member (Raft node driver, TCP transport, HTTP
 * API) and the pieces to embed or test it.
 */
export { RaftKvNode } from './raft-kv-node.js';
export type { RaftKvNodeOptions } from './raft-kv-node.js';
export { MAX_ENTRY_BYTES, PeerFrameError } from '../node/frames.js';
export { Lessor } from './lessor.js';
export { createKvRequestListener, STATUS_OF_CODE } from './http-api.js';
export type { KvHttpOptions, MetricsSource } from './http-api.js';
export { MemoryKvBackend } from './memory-backend.js';
export { ServerState, checkNodeCommand, isKvResultShape } from './server-state.js';
export type { MemberRecord, NodeCommand } from './server-state.js';
export type { KvBackend, MemberInfo, NodeStatus, AddMemberRequest } from './backend.js';
export { TcpTransport } from '../transport/tcp-transport.js';
export type { TcpTransportOptions, PeerTlsOptions } from '../transport/tcp-transport.js';
export { KvError, isKvError } from '../kv/errors.js';
export { startKvServer } from './kv-server.js';
export type { KvServerOptions, KvServer, KvServerTls, KvServerMetrics } from './kv-server.js';
