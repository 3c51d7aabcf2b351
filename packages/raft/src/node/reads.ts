/**
 * A RaftNode's linearizable reads (etcd's linearizable read loop): the reads of one event-loop
 * turn share one ReadIndex round, and each is served once the state has applied its index.
 */
import { RaftNodeError } from '../errors.js';
import type { ReadState } from '../core/types.js';

interface ReadWaiter {
  resolve(): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** How long a round waits for its read index before it is asked for again (etcd: 500 ms). */
export const READ_INDEX_RETRY_MS = 500;

/**
 * Guarantees: a read resolves only once the applied index has reached the leader's commit
 * index as confirmed by a quorum after the read began (the core's ReadIndex, `safe` mode), so
 * it sees every write committed before it; otherwise it fails with `timeout` after
 * `timeoutMs`, or with `stopped`.
 *
 * A round not answered within `retryMs` is asked for again with the same context, as etcd's
 * read loop does: the request or its answer can be lost (a follower that knows no leader yet,
 * a peer connection still being made after a restart), and nothing else would ask again. Any
 * answer to the context is a valid read point: the leader confirmed it after the read began.
 */
export class ReadIndexBatcher {
  readonly #askIndex: (context: Uint8Array) => void;
  readonly #timeoutMs: number;
  readonly #prefix: string;
  #seq = 0;
  #batch: ReadWaiter[] = [];
  readonly #retryMs: number;
  readonly #rounds = new Map<string, { waiters: ReadWaiter[]; index: number; retry?: NodeJS.Timeout }>();
  #then: () => void = () => undefined;

  /**
   * `askIndex` starts a ReadIndex round (`RawNode.readIndex`); `prefix` makes this member's
   * contexts unique; an unanswered round is asked again every `retryMs`.
   */
  constructor(askIndex: (context: Uint8Array) => void, timeoutMs: number, prefix: string, retryMs = READ_INDEX_RETRY_MS) {
    this.#askIndex = askIndex;
    this.#timeoutMs = timeoutMs;
    this.#prefix = prefix;
    this.#retryMs = retryMs;
  }

  /** Waits for a read point; `then` runs the ready loop once the round is asked for. */
  read(then: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: ReadWaiter = {
        resolve: () => resolve(),
        reject,
        timer: setTimeout(() => {
          w.resolve = () => undefined;
          reject(new RaftNodeError('timeout', 'the linearizable read timed out (no quorum?); retry, or read with serializable=true'));
        }, this.#timeoutMs),
      };
      this.#batch.push(w);
      this.#then = then;
      if (this.#batch.length === 1) {
        setImmediate(() => {
          this.#flush();
          then();
        });
      }
    });
  }

  #flush(): void {
    const waiters = this.#batch;
    this.#batch = [];
    if (waiters.length === 0) return;
    const ctx = enc.encode(`${this.#prefix}.r${(this.#seq++).toString(36)}`);
    const key = dec.decode(ctx);
    const round: { waiters: ReadWaiter[]; index: number; retry?: NodeJS.Timeout } = { waiters, index: -1 };
    this.#rounds.set(key, round);
    this.#askIndex(ctx);
    // Ask again while unanswered, until its reads have timed out.
    const giveUpAt = Date.now() + this.#timeoutMs;
    const again = (): void => {
      if (this.#rounds.get(key) !== round || round.index >= 0) return;
      if (Date.now() >= giveUpAt) {
        this.#rounds.delete(key);
        return;
      }
      this.#askIndex(ctx);
      this.#then();
      round.retry = setTimeout(again, this.#retryMs);
    };
    round.retry = setTimeout(again, this.#retryMs);
  }

  /** A Ready's read state: the index a round's reads wait for. */
  readState(rs: ReadState): void {
    const r = this.#rounds.get(dec.decode(rs.context));
    if (r) r.index = rs.index;
  }

  /** Serves every read whose index is applied. */
  serve(applied: number): void {
    for (const [key, r] of this.#rounds) {
      if (r.index >= 0 && r.index <= applied) {
        this.#rounds.delete(key);
        clearTimeout(r.retry);
        for (const w of r.waiters) {
          clearTimeout(w.timer);
          w.resolve();
        }
      }
    }
    // Rounds whose reads all timed out are forgotten after a while.
    if (this.#rounds.size > 10_000) {
      for (const r of this.#rounds.values()) clearTimeout(r.retry);
      this.#rounds.clear();
    }
  }

  /** Fails every waiting read with `stopped`. */
  stop(): void {
    for (const r of this.#rounds.values()) clearTimeout(r.retry);
    const reads = [...this.#batch, ...[...this.#rounds.values()].flatMap((r) => r.waiters)];
    this.#batch = [];
    this.#rounds.clear();
    for (const w of reads) {
      clearTimeout(w.timer);
      w.reject(new RaftNodeError('stopped', 'the member is shutting down'));
    }
  }
}
