/**
 * The leader's view of each follower (etcd's tracker): match/next, probe/replicate/snapshot
 * states, and the in-flight window.
 */
/** A sliding window of in-flight append messages, identified by their last index. */
export class Inflights {
  private readonly buf: number[] = [];
  private start = 0;
  count = 0;
  constructor(readonly size: number) {}

  add(last: number): void {
    const i = (this.start + this.count) % this.size;
    this.buf[i] = last;
    this.count++;
  }

  /** Frees every in-flight message whose last index is ≤ `to`. */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.buf[this.start]!) return;
    let i = 0;
    let idx = this.start;
    for (; i < this.count; i++) {
      if (to < this.buf[idx]!) break;
      idx = (idx + 1) % this.size;
    }
    this.count -= i;
    this.start = idx;
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest in-flight message (a heartbeat reply suggests the pipe is moving again). */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.buf[this.start]!);
  }

  full(): boolean {
    return this.count === this.size;
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
  }
}

/** Replication states: probe one message at a time, stream optimistically, or wait for a snapshot. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (etcd tracker/progress.go). */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append was sent and we wait for a reply or heartbeat before the next. */
  probeSent = false;
  /** The index of the snapshot in flight, in snapshot state. */
  pendingSnapshot = 0;
  /** The leader tick stamped on the latest heartbeat this member acknowledged (lease timing). */
  ackStamp = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records that an append with entries up to `last` was sent. */
  sentEntries(last: number, count: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.next = last + 1;
          this.inflights.add(last);
        }
        break;
      case 'probe':
        if (count > 0) this.probeSent = true;
        break;
      case 'snapshot':
        break;
    }
  }

  /** An acknowledgement of `n`: returns false if it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the append at `rejected`, with the follower's hint `matchHint`. Returns
   * false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending more appends must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
