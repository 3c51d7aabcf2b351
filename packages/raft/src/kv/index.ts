/**
 * `@flotilla/raft/kv`: the replicated key-value state machine (revisions, prefix ranges,
 * compare-and-set, transactions, leases, watches, compaction, snapshots) and its input
 * validation. Pure and deterministic: the server applies committed Raft entries to it.
 */
export { KvStateMachine } from './state-machine.js';
export type { RangeOptions, WatchHandle, WatchListener } from './state-machine.js';
export { KvError, isKvError } from './errors.js';
export type { KvErrorCode, KvErrorDetails } from './errors.js';
export { compareKeys } from './key-order.js';
export {
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  MAX_TXN_OPS,
  checkKey,
  checkValue,
  checkRevision,
  checkTtl,
  checkLeaseId,
  putCommand,
  txnCommand,
  checkCommand,
} from './validate.js';
export type {
  KeyValue,
  WatchEvent,
  TxnCompare,
  TxnOp,
  TxnOpResult,
  KvCommand,
  KvResult,
  KvApplyErrorCode,
  LeaseInfo,
  RangeResult,
} from './types.js';
