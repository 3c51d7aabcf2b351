/**
 * @flotilla/raft — Raft consensus in the etcd-io/raft mould. The core is a deterministic
 * state machine driven by its host ({@link RawNode}: tick, step, ready, advance); storage is
 * {@link MemoryStorage} or the durable {@link FileStorage}; {@link RaftNode} is a ready-made
 * host (timers, TCP transport, storage, proposals, ReadIndex, snapshots) for a user's own
 * {@link StateMachine}.
 */
export { RawNode } from './core/raw-node.js';
export type { Ready, SoftState, Status, ProgressStatus } from './core/raw-node.js';
export type { RaftOptions } from './core/raft.js';
export type { Storage, NodeStorage, ReadyToSave } from './core/storage.js';
export type { ProgressState } from './core/progress.js';
export { seededRandomSource, seededRandom } from './core/random.js';
export type { RandomSource } from './core/random.js';
export { encodeConfChange, decodeConfChange, applyConfChangeToState } from './core/conf-change.js';
export {
  MESSAGE_TYPES,
  EMPTY_HARD_STATE,
  EMPTY_CONF_STATE,
  EMPTY_SNAPSHOT,
  isEmptyHardState,
} from './core/types.js';
export type {
  NodeId,
  Entry,
  EntryType,
  HardState,
  ConfState,
  ConfChange,
  Snapshot,
  Message,
  MessageType,
  StateRole,
  ReadState,
} from './core/types.js';
export { MemoryStorage } from './storage/memory-storage.js';
export { FileStorage } from './storage/file-storage.js';
export type { FileStorageOptions } from './storage/file-storage.js';
export { crc32c } from './storage/crc32c.js';
export {
  RaftError,
  ProposalDroppedError,
  RaftNodeError,
  CorruptStorageError,
  isRaftError,
} from './errors.js';
export type { RaftErrorCode } from './errors.js';
export { RaftNode } from './node/raft-node.js';
export type { RaftNodeOptions, RaftNodeEvents } from './node/raft-node.js';
export type { SnapshotCost } from './node/snapshot-policy.js';
export type { StateMachine, ProposerRole } from './node/state-machine.js';
export { TcpTransport } from './transport/tcp-transport.js';
export type { TcpTransportOptions, PeerTlsOptions } from './transport/tcp-transport.js';
