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

/**
 * Guarantees: a read resolves only once the applied index has reached the leader's commit
 * index as confirmed by a quorum after the read began (the core's ReadIndex, `safe` mode), so
 * it sees every write committed before it; otherwise it fails with `timeout` after
 * `timeoutMs`, or with `stopped`.
 */
export class ReadIndexBatcher {
  readonly #askIndex: (context: Uint8Array) => void;
  readonly #timeoutMs: number;
  readonly #prefix: string;
  #seq = 0;
  #batch: ReadWaiter[] = [];
  readonly #rounds = new Map<string, { waiters: ReadWaiter[]; index: number }>();

  /** `askIndex` starts a ReadIndex round (`RawNode.readIndex`); `prefix` makes this member's contexts unique. */
  constructor(askIndex: (context: Uint8Array) => void, timeoutMs: number, prefix: string) {
    this.#askIndex = askIndex;
    this.#timeoutMs = timeoutMs;
    this.#prefix = prefix;
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
    this.#rounds.set(dec.decode(ctx), { waiters, index: -1 });
    this.#askIndex(ctx);
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
        for (const w of r.waiters) {
          clearTimeout(w.timer);
          w.resolve();
        }
      }
    }
    // Rounds whose reads all timed out are forgotten after a while.
    if (this.#rounds.size > 10_000) this.#rounds.clear();
  }

  /** Fails every waiting read with `stopped`. */
  stop(): void {
    const reads = [...this.#batch, ...[...this.#rounds.values()].flatMap((r) => r.waiters)];
    this.#batch = [];
    this.#rounds.clear();
    for (const w of reads) {
      clearTimeout(w.timer);
      w.reject(new RaftNodeError('stopped', 'the member is shutting down'));
    }
  }
}
