/**
 * The spread index's heap: a binary max-heap of allocation groups by their free fraction,
 * each group knowing its position (so a group can leave from anywhere).
 */

/** What the heap holds. */
export interface HeapEntry {
  /** The key: the weighted free fraction. */
  readonly freeFraction: number;
  /** Position in the heap, kept up to date by these functions. */
  heapPos: number;
}

/** Moves the entry at `i` up to its place. */
export function heapUp<T extends HeapEntry>(heap: T[], i: number): void {
  const item = heap[i]!;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent]!;
    if (p.freeFraction >= item.freeFraction) break;
    heap[i] = p;
    p.heapPos = i;
    i = parent;
  }
  heap[i] = item;
  item.heapPos = i;
}

/** Moves the entry at `i` down to its place. */
export function heapDown<T extends HeapEntry>(heap: T[], i: number): void {
  const item = heap[i]!;
  const n = heap.length;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]!.freeFraction > heap[child]!.freeFraction) child++;
    const c = heap[child]!;
    if (c.freeFraction <= item.freeFraction) break;
    heap[i] = c;
    c.heapPos = i;
    i = child;
  }
  heap[i] = item;
  item.heapPos = i;
}

/** Adds an entry. */
export function heapPush<T extends HeapEntry>(heap: T[], entry: T): void {
  entry.heapPos = heap.length;
  heap.push(entry);
  heapUp(heap, entry.heapPos);
}

/** Removes the entry at `i`. */
export function heapRemove<T extends HeapEntry>(heap: T[], i: number): void {
  const last = heap.pop()!;
  if (i < heap.length) {
    heap[i] = last;
    last.heapPos = i;
    heapUp(heap, i);
    heapDown(heap, last.heapPos);
  }
}
