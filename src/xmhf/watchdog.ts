// The watchdog's view of the core: which hypapp callback is running, and
// since when, kept in a SharedArrayBuffer so that another thread can read it
// while the VM's thread is stuck inside the callback. The core writes it
// around every hypapp call; the CLI's main thread reads it to end a run whose
// callback does not return, and to name the culprit.

/** How long a hypapp callback may run (and an init take to settle) by default before the run ends. */
export const CALLBACK_TIMEOUT_MS = 10_000;

/** Int32 slots: the running hypapp's index + 1 (0: none), its callback's code, a change counter. */
const APP = 0, CALLBACK = 1, SEQ = 2, INTS = 4;
/** A Float64 slot after the ints: when the callback started (ms since the epoch, performance.timeOrigin-based). */
const BYTES = INTS * 4 + 8;

/** Callback names with a code (anything else is recorded as 'a callback'). */
const CALLBACKS = [
  'init', 'shutdown', 'timer', 'onHypercall', 'onGuestReady', 'onPortIo', 'onMmio', 'onCpuid', 'onMsr',
  'onCrWrite', 'onException', 'onStep', 'onViolation', 'onWatchpoint', 'onBreakpoint', 'onDmaViolation',
  'vsock listen', 'vsock connect', 'vsock onData', 'vsock onEnd', 'vsock onDrain', 'vsock onClose',
] as const;

export interface RunningCallback {
  /** Index of the hypapp in load order. */
  app: number;
  callback: string;
  /** Milliseconds since the epoch when it was called. */
  sinceMs: number;
}

/** Told when a hypapp callback starts and returns (the core calls it around every hypapp call). */
export interface CallbackMonitor {
  enter(app: number, callback: string): void;
  leave(): void;
}

const epochMs = () => performance.timeOrigin + performance.now();

export class CallbackSlot implements CallbackMonitor {
  readonly buffer: SharedArrayBuffer;
  private readonly ints: Int32Array;
  private readonly since: Float64Array;
  /** Nested calls (a hypapp callback that makes the core call another) restore the outer one on return. */
  private readonly stack: Array<[app: number, code: number, since: number]> = [];

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    this.buffer = buffer;
    this.ints = new Int32Array(buffer, 0, INTS);
    this.since = new Float64Array(buffer, INTS * 4, 1);
  }

  enter(app: number, callback: string): void {
    const code = CALLBACKS.indexOf(callback as (typeof CALLBACKS)[number]);
    if (this.ints[APP] !== 0) this.stack.push([this.ints[APP], this.ints[CALLBACK], this.since[0]]);
    this.set(app + 1, code, epochMs());
  }

  leave(): void {
    const outer = this.stack.pop();
    if (outer) this.set(...outer); else this.set(0, 0, 0);
  }

  /** The callback running now, if any (from any thread). */
  current(): RunningCallback | undefined {
    // The counter is odd during a write: read until it is even and the same before and after.
    for (;;) {
      const seq = Atomics.load(this.ints, SEQ);
      if (seq & 1) continue; // a write is under way
      const app = Atomics.load(this.ints, APP), code = Atomics.load(this.ints, CALLBACK), sinceMs = this.since[0];
      if (Atomics.load(this.ints, SEQ) !== seq) continue;
      if (app === 0) return undefined;
      return { app: app - 1, callback: CALLBACKS[code] ?? 'a callback', sinceMs };
    }
  }

  private set(app: number, code: number, since: number): void {
    Atomics.add(this.ints, SEQ, 1);
    this.since[0] = since;
    Atomics.store(this.ints, CALLBACK, code);
    Atomics.store(this.ints, APP, app);
    Atomics.add(this.ints, SEQ, 1);
  }
}

export { epochMs };
