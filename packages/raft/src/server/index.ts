/**
 * `@flotilla/raft/server`: the replicated KV member (Raft node driver, TCP transport, HTTP
 * API) and the pieces to embed or test it.
 */
export { RaftKvNode, MAX_ENTRY_BYTES, PeerFrameError, decodeControlFrame, checkNodeCommand } from './raft-kv-node.js';
export type { RaftKvNodeOptions } from './raft-kv-node.js';
export { createKvRequestListener, STATUS_OF_CODE } from './http-api.js';
export type { KvHttpOptions } from './http-api.js';
export { MemoryKvBackend } from './memory-backend.js';
export { MemoryNodeStorage } from './node-storage.js';
export type { NodeStorage, PersistRequest } from './node-storage.js';
export { ServerState } from './server-state.js';
export type { MemberRecord } from './server-state.js';
export type { KvBackend, MemberInfo, NodeStatus, AddMemberRequest } from './backend.js';
export { TcpTransport } from '../transport/tcp-transport.js';
export type { TcpTransportOptions, PeerTlsOptions } from '../transport/tcp-transport.js';
export { KvError, isKvError } from '../kv/errors.js';
export { startKvServer } from './kv-server.js';
export type { KvServerOptions, KvServer, KvServerTls } from './kv-server.js';
export { FileNodeStorage } from './node-storage.js';
