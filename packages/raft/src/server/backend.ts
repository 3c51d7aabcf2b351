/**
 * KvBackend: the seam between the KV HTTP API and what replicates its commands (RaftKvNode, or
 * MemoryKvBackend in tests), and its shapes.
 */
import type { KvStateMachine } from '../kv/state-machine.js';
import type { KvCommand, KvResult } from '../kv/types.js';

/** A member as the cluster records it. */
export interface MemberInfo {
  readonly id: number;
  readonly peerUrl: string;
  /** Empty until the member has started and published it. */
  readonly clientUrl: string;
  readonly learner: boolean;
}

/** The answer of `GET /v1/status`. */
export interface NodeStatus {
  readonly id: number;
  /** The leader's id, 0 when none is known. */
  readonly leader: number;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly members: readonly MemberInfo[];
}

/** A request to add a member (`POST /v1/members`). */
export interface AddMemberRequest {
  readonly id: number;
  readonly peerUrl: string;
  /** @default false */
  readonly learner?: boolean;
}

/**
 * The seam between the HTTP API and whatever replicates commands: the Raft node driver in
 * production, a single-process fake in tests.
 *
 * Errors are `KvError`s: `no-leader` and `not-leader` mean nothing was proposed (the HTTP
 * layer answers 503 or forwards to the leader); `timeout`/`unavailable`/`stopped` after a
 * proposal mean the outcome is unknown (5xx).
 */
export interface KvBackend {
  /** The local, applied state (reads, watches). */
  readonly kv: KvStateMachine;
  /** This member's id. */
  readonly id: number;
  /** Proposes a command and resolves with its outcome once this member has applied it. */
  propose(command: KvCommand): Promise<KvResult>;
  /** Resolves once the local state reflects every write committed before the call (ReadIndex). */
  readIndex(): Promise<void>;
  status(): NodeStatus;
  members(): MemberInfo[];
  /** True when this member is the leader. */
  isLeader(): boolean;
  /** The leader's client URL, when another member leads and has published it. */
  leaderClientUrl(): string | undefined;
  addMember(request: AddMemberRequest): Promise<MemberInfo[]>;
  promoteMember(id: number): Promise<MemberInfo[]>;
  removeMember(id: number): Promise<MemberInfo[]>;
  /** A backup of the whole applied state (see `restore` of the server). */
  backup(): Promise<Uint8Array>;
}
