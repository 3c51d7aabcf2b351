/**
 * `@flotilla/raft/client`: a client for the Flotilla KV HTTP API (leader discovery, safe
 * retries, watches that resume from the last seen revision).
 */
export { KvClient } from './kv-client.js';
export type { KvClientOptions, KvRetryInfo, TxnRequest, TxnResponse, KvClientWatchOptions, WatchOptions } from './kv-client.js';
export { KvError, isKvError } from '../kv/errors.js';
export type { KvErrorCode } from '../kv/errors.js';
export type { KeyValue, WatchEvent, TxnCompare, TxnOp } from '../kv/types.js';
