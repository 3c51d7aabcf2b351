// A state machine of the tests' own (not the KV store): a counter that adds `{add: n}`.
// Its snapshot is the value on one line, then `pad` bytes of padding, so a test can give it a
// large state without changing what it computes.
import type { ConfChange, StateMachine } from '../src/index.js';

export type Add = { readonly add: number };

export class CounterMachine implements StateMachine<Add, number> {
  value = 0;
  readonly members = new Map<number, { peerUrl: string }>();
  /** @param pad bytes of padding carried by every snapshot (0: the value only) */
  constructor(readonly pad = 0) {}
  check(v: unknown): Add {
    if (typeof v !== 'object' || v === null || typeof (v as { add?: unknown }).add !== 'number') throw new TypeError('expected {add: number}');
    return { add: (v as Add).add };
  }
  apply(c: Add): number {
    return (this.value += c.add);
  }
  invalidEntry(): number {
    return -1;
  }
  isResult(v: unknown): v is number {
    return typeof v === 'number';
  }
  captureSnapshot(): Uint8Array[] {
    const head = Buffer.from(`${this.value}\n`);
    return this.pad > 0 ? [head, new Uint8Array(this.pad)] : [head];
  }
  restore(data: Uint8Array): void {
    const s = Buffer.from(data).toString('latin1');
    this.value = data.length === 0 ? 0 : Number(s.slice(0, s.indexOf('\n')));
  }
  applyConfChange(_cc: ConfChange, _peerUrl: string | undefined): void {
    /* one member */
  }
}
