/**
 * A linearizability checker in the style of Porcupine (Wing & Gong's search with Lowe's
 * just-in-time linearization and a cache of visited (linearized set, state) pairs), with
 * P-compositionality: each key is checked on its own.
 */

/** A sequential specification. States must be hashable to a string for the visited cache. */
export interface Model<S, I, O> {
  init(): S;
  /** Applies `input` to `state`; `ok` is false when `output` is impossible from `state`. */
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  hash(state: S): string;
}

/** One operation of a client history. `ret: Infinity` marks an operation whose outcome is unknown. */
export interface Operation {
  readonly client: number;
  readonly key: string;
  readonly input: { readonly kind: 'put'; readonly value: string } | { readonly kind: 'get' };
  /** For a get: the value read (null = absent). Ignored for puts. */
  readonly output: string | null;
  readonly call: number;
  readonly ret: number;
}

/** The per-key register: a put sets the value, a get must return the current one. */
export const registerModel: Model<string | null, Operation['input'], string | null> = {
  init: () => null,
  step(state, input, output) {
    if (input.kind === 'put') return { ok: true, state: input.value };
    return { ok: output === state, state };
  },
  hash: (state) => (state === null ? '\u0000' : state),
};

/** Outcome of a check: `unknown` when the search budget ran out before a verdict. */
export type LinearizabilityResult = 'ok' | 'illegal' | 'unknown';

interface Node<I, O> {
  id: number;
  isCall: boolean;
  input: I;
  output: O;
  match: Node<I, O> | undefined;
  prev: Node<I, O> | undefined;
  next: Node<I, O> | undefined;
}

/** Checks one partition of operations (already restricted to one key) against `model`. */
export function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly { input: I; output: O; call: number; ret: number }[],
  budget: { steps: number },
): LinearizabilityResult {
  const n = ops.length;
  if (n === 0) return 'ok';
  type Ev = { time: number; isCall: boolean; id: number };
  const events: Ev[] = [];
  ops.forEach((op, id) => {
    events.push({ time: op.call, isCall: true, id });
    events.push({ time: op.ret, isCall: false, id });
  });
  // Calls before returns at equal times (only unknown outcomes share a time: Infinity).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Node<I, O> = { id: -1, isCall: false, input: undefined as I, output: undefined as O, match: undefined, prev: undefined, next: undefined };
  let tail = head;
  const calls = new Map<number, Node<I, O>>();
  for (const ev of events) {
    const op = ops[ev.id]!;
    const node: Node<I, O> = { id: ev.id, isCall: ev.isCall, input: op.input, output: op.output, match: undefined, prev: tail, next: undefined };
    tail.next = node;
    tail = node;
    if (ev.isCall) calls.set(ev.id, node);
    else calls.get(ev.id)!.match = node;
  }
  // Link each call to its return: the call's `match` is the return node.
  const lift = (call: Node<I, O>): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node<I, O>): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };
  const words = Math.ceil(n / 32);
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: { node: Node<I, O>; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  while (head.next !== undefined) {
    if (--budget.steps < 0) return 'unknown';
    if (entry === undefined) return 'illegal';
    if (entry.isCall) {
      const r = model.step(state, entry.input, entry.output);
      if (r.ok) {
        linearized[entry.id >>> 5]! |= 1 << (entry.id & 31);
        const key = `${linearized.join(',')}|${model.hash(r.state)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.id >>> 5]! &= ~(1 << (entry.id & 31));
      }
      entry = entry.next;
    } else {
      // A return whose call could not be linearized before it: backtrack.
      const top = stack.pop();
      if (!top) return 'illegal';
      state = top.state;
      linearized[top.node.id >>> 5]! &= ~(1 << (top.node.id & 31));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return 'ok';
}

/** Options of {@link checkLinearizable}. */
export interface CheckOptions {
  /** Search steps before giving up with `unknown`. @default 10000000 */
  timeLimitSteps?: number;
}

/** Checks a key-value history: each key must behave as a linearizable register. */
export function checkLinearizable(history: readonly Operation[], options: CheckOptions = {}): LinearizabilityResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const budget = { steps: options.timeLimitSteps ?? 10_000_000 };
  let result: LinearizabilityResult = 'ok';
  for (const ops of byKey.values()) {
    const r = checkPartition(registerModel, ops, budget);
    if (r === 'illegal') return 'illegal';
    if (r === 'unknown') result = 'unknown';
  }
  return result;
}
