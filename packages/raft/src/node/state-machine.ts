/**
 * The seam between a RaftNode and the application it replicates: the user's state machine.
 */
import type { ConfChange, NodeId } from '../core/types.js';

/** Who proposes: a voter, a learner, or an id that is not a member. */
export type ProposerRole = 'voter' | 'learner' | 'none';

/**
 * What a {@link RaftNode} replicates, brought by its user (as etcd's raftexample brings its
 * key-value map). Commands are JSON values: they travel in log entries and, from a follower to
 * the leader, in control frames.
 *
 * Contract:
 * - `apply` is deterministic: every member applies the same commands in the same order and
 *   must reach the same state and results. It must not throw for a command `check` accepted.
 * - Nothing read from the log or from a peer is trusted: `check` runs on every command this
 *   member proposes, on every command a follower forwards (on the leader, before it reaches the
 *   log) and on every entry read back from the log (an entry it refuses is applied as a no-op
 *   whose result is {@link invalidEntry}'s, the same on every member, so a poisoned entry can
 *   never stop a member, on replay included).
 * - The member registry (`members`, changed by {@link applyConfChange}) is part of the
 *   replicated state and of the snapshot: a member that catches up from a snapshot learns every
 *   member's peer address from it.
 */
export interface StateMachine<C, R> {
  /** Checks a command; returns a normalized copy, or throws an Error saying what is wrong. */
  check(value: unknown): C;
  /**
   * Applies a committed command at log `index`. Returns its result, or `undefined` when there
   * is nothing to answer a forwarding member with (it then answers from its own apply).
   */
  apply(command: C, index: number): R | undefined;
  /** The result of an entry that cannot be applied (`reason` says why). */
  invalidEntry(reason: string): R;
  /** Checks that a value a leader sent back for a forwarded proposal is a result in shape. */
  isResult(value: unknown): value is R;
  /**
   * The state as it is now, as byte chunks that may be consumed later (capture cheaply now,
   * serialize as the chunks are read: the node does it between turns of the event loop).
   */
  captureSnapshot(): Iterable<Uint8Array>;
  /** Replaces the state with a snapshot's (an empty payload: the initial state). */
  restore(data: Uint8Array): void;
  /** Peer addresses of the members, by id (replicated: see above). */
  readonly members: ReadonlyMap<NodeId, { readonly peerUrl: string }>;
  /** Records a committed membership change; `peerUrl` is the address given with an added member. */
  applyConfChange(change: ConfChange, peerUrl: string | undefined): void;
  /**
   * May `from` (of role `role`) propose `command`? Returns what is refused, for the log, or
   * `undefined` to allow. @default voters may propose anything, others nothing
   */
  mayPropose?(command: C, from: NodeId, role: ProposerRole): string | undefined;
}
