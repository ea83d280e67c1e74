// What PC devices are made of: port and MMIO register models, interrupt
// lines, and a guest clock with timers. Devices depend only on this file
// (never on the CPU); the machine wires them to the backend's PlatformBus.
import { TimerQueue, type QueuedTimer } from './timer-queue.js';

/**
 * `size` bytes with every bit set: what a read nobody answers returns (the
 * open bus), and the mask of a `size`-byte access's value.
 */
export function allOnes(size: number): number {
  return 0xffffffff >>> (32 - 8 * size);
}

/** A device answering port I/O. Sizes are 1, 2 or 4; reads return the value zero-extended. */
export interface PortDevice {
  readonly name: string;
  /** Inclusive port ranges this device decodes. */
  readonly ports: ReadonlyArray<readonly [first: number, last: number]>;
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
}

/** A device answering memory-mapped I/O in [base, base + size). */
export interface MmioDevice {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** `offset` is relative to base; `vcpu` is the accessing processor (the local APIC is per vCPU). */
  mmioRead(offset: number, size: number, vcpu: number): number;
  mmioWrite(offset: number, size: number, value: number, vcpu: number): void;
}

/** One interrupt input (ISA IRQ n at the PIC and IOAPIC, or a LAPIC LINT pin). */
export interface IrqLine {
  /** Level-triggered sources keep the line up until serviced; edge sources pulse it (raise then lower). */
  set(level: boolean): void;
}

/** A pending timer callback; cancel() is idempotent. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Guest time in nanoseconds since the machine was created. Devices read it
 * for counters and schedule callbacks at future guest times; the machine
 * advances it (from the host clock or executed instructions) and fires due
 * timers between guest instruction slices.
 */
export interface GuestClock {
  nowNs(): number;
  /**
   * Call `fire` once guest time reaches `deadlineNs` (immediately due if
   * already past). A `lax` timer may run up to LAX_TIMER_SLACK_NS late (it
   * still sees nowNs() = its deadline): the machine need not cut a slice of
   * guest instructions short for it, so thousands of them cost little.
   */
  at(deadlineNs: number, fire: () => void, lax?: boolean): TimerHandle;
}

/** How late a lax timer may run: about one full slice of guest instructions. */
export const LAX_TIMER_SLACK_NS = 1_000_000;

/** A clock for tests and for the machine: time moves only when advance() is called. */
export class ManualClock implements GuestClock {
  private now = 0;
  private readonly precise = new TimerQueue();
  private readonly lax = new TimerQueue();
  /** Arming order across both queues: timers due at the same time fire in it. */
  private seq = 0;
  /** Told of each newly armed deadline, slack included (the machine ends a running slice early for a near one). */
  onArm: ((deadlineNs: number) => void) | undefined;

  nowNs(): number { return this.now; }

  at(deadlineNs: number, fire: () => void, lax = false): TimerHandle {
    const queue = lax ? this.lax : this.precise;
    const t = queue.push(deadlineNs, this.seq++, fire);
    this.onArm?.(lax ? deadlineNs + LAX_TIMER_SLACK_NS : deadlineNs);
    return { cancel: () => queue.cancel(t) };
  }

  /** The latest guest time the machine may run to before firing a timer (a lax timer's slack included), or undefined. */
  nextDeadline(): number | undefined {
    const p = this.precise.peek()?.deadline, l = this.lax.peek()?.deadline;
    if (l === undefined) return p;
    return p === undefined ? l + LAX_TIMER_SLACK_NS : Math.min(p, l + LAX_TIMER_SLACK_NS);
  }

  /** Timers held, cancelled ones not yet dropped included. */
  get queuedTimers(): number { return this.precise.size + this.lax.size; }

  /** Move time forward to `toNs`, firing due timers in deadline order (each sees nowNs() = its deadline). */
  advanceTo(toNs: number): void {
    if (toNs < this.now) throw new RangeError(`guest time cannot go backwards (${toNs} < ${this.now})`);
    for (let next = this.earliest(); next && next.t.deadline <= toNs; next = this.earliest()) {
      next.queue.pop();
      this.now = Math.max(this.now, next.t.deadline);
      next.t.fire();
    }
    this.now = toNs;
  }

  advance(deltaNs: number): void { this.advanceTo(this.now + deltaNs); }

  private earliest(): { t: QueuedTimer; queue: TimerQueue } | undefined {
    const p = this.precise.peek(), l = this.lax.peek();
    if (!l) return p && { t: p, queue: this.precise };
    if (!p || l.deadline < p.deadline || (l.deadline === p.deadline && l.seq < p.seq)) return { t: l, queue: this.lax };
    return { t: p, queue: this.precise };
  }
}
