// What PC devices are made of: port and MMIO register models, interrupt
// lines, and a guest clock with timers. Devices depend only on this file
// (never on the CPU); the machine wires them to the backend's PlatformBus.
import { TimerQueue } from './timer-queue.js';

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
  /** Call `fire` once guest time reaches `deadlineNs` (immediately due if already past). */
  at(deadlineNs: number, fire: () => void): TimerHandle;
}

/** A clock for tests and for the machine: time moves only when advance() is called. */
export class ManualClock implements GuestClock {
  private now = 0;
  private readonly timers = new TimerQueue();
  /** Told of each newly armed deadline (the machine ends a running slice early for a near one). */
  onArm: ((deadlineNs: number) => void) | undefined;

  nowNs(): number { return this.now; }

  at(deadlineNs: number, fire: () => void): TimerHandle {
    const t = this.timers.push(deadlineNs, fire);
    this.onArm?.(deadlineNs);
    return { cancel: () => this.timers.cancel(t) };
  }

  /** Guest time of the earliest live timer, or undefined. */
  nextDeadline(): number | undefined { return this.timers.peek()?.deadline; }

  /** Timers held, cancelled ones not yet dropped included. */
  get queuedTimers(): number { return this.timers.size; }

  /** Move time forward to `toNs`, firing due timers in deadline order (each sees nowNs() = its deadline). */
  advanceTo(toNs: number): void {
    if (toNs < this.now) throw new RangeError(`guest time cannot go backwards (${toNs} < ${this.now})`);
    for (let next = this.timers.peek(); next && next.deadline <= toNs; next = this.timers.peek()) {
      this.timers.pop();
      this.now = Math.max(this.now, next.deadline);
      next.fire();
    }
    this.now = toNs;
  }

  advance(deltaNs: number): void { this.advanceTo(this.now + deltaNs); }
}
