// The guest clock's pending timers: a binary min-heap ordered by deadline,
// then by arming order (a sequence number the clock gives). Cancelling only marks an entry; dead entries leave
// when they reach the top, or all at once when they outnumber the live ones,
// so a hypapp re-arming thousands of timers costs O(log n) per timer and the
// garbage stays bounded.

export interface QueuedTimer {
  readonly deadline: number;
  readonly seq: number;
  readonly fire: () => void;
  live: boolean;
}

/** Dead entries tolerated before a sweep, however few timers are live (a sweep is O(n)). */
const MIN_SWEEP = 64;

export class TimerQueue {
  private heap: QueuedTimer[] = [];
  private dead = 0;

  /** Entries held, live or cancelled (at most about twice the live ones). */
  get size(): number { return this.heap.length; }

  /** Queue `fire` at `deadline`; `seq` orders timers due at the same time (the caller's arming order). */
  push(deadline: number, seq: number, fire: () => void): QueuedTimer {
    const t: QueuedTimer = { deadline, seq, fire, live: true };
    this.heap.push(t);
    this.siftUp(this.heap.length - 1);
    return t;
  }

  /** Mark `t` cancelled (idempotent). */
  cancel(t: QueuedTimer): void {
    if (!t.live) return;
    t.live = false;
    this.dead++;
    if (this.dead > MIN_SWEEP && this.dead * 2 > this.heap.length) this.sweep();
  }

  /** The earliest live timer, left in the queue. */
  peek(): QueuedTimer | undefined {
    this.dropDeadTop();
    return this.heap[0];
  }

  /** Remove and return the earliest live timer (it is marked not live). */
  pop(): QueuedTimer | undefined {
    this.dropDeadTop();
    const top = this.heap[0];
    if (!top) return undefined;
    this.removeTop();
    top.live = false;
    return top;
  }

  private dropDeadTop(): void {
    while (this.heap.length > 0 && !this.heap[0].live) {
      this.removeTop();
      this.dead--;
    }
  }

  private removeTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.siftDown(0);
  }

  /** Drop every cancelled entry and rebuild the heap (Floyd's bottom-up build). */
  private sweep(): void {
    this.heap = this.heap.filter((t) => t.live);
    this.dead = 0;
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(i: number): void {
    const h = this.heap, t = h[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(t, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = t;
  }

  private siftDown(i: number): void {
    const h = this.heap, n = h.length, t = h[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(h[child + 1], h[child])) child++;
      if (!before(h[child], t)) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = t;
  }
}

function before(a: QueuedTimer, b: QueuedTimer): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
