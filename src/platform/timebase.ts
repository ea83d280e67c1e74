// The machine's one source of guest time. By default, nanoseconds that follow
// the host's monotonic clock while the machine runs and stand still while it
// is paused (between run() calls), so `sleep 1` in the guest takes a wall
// second. In deterministic mode, nanoseconds derived from the instructions
// the vCPUs retired, so two runs with the same inputs see the same times. The
// TSC, the device clock and the run loop's deadlines all read it.

/** The host's monotonic clock in nanoseconds (performance.now() keeps sub-microsecond precision). */
export const hostMonotonicNs = (): number => performance.now() * 1e6;

/** What the run loop and devices read guest time from. */
export interface Timebase {
  /** Current guest time; never decreases. */
  nowNs(): number;
  /** Guest time follows its source from now on. */
  resume(): void;
  /** Guest time stops here until resume(). */
  pause(): void;
}

export class HostTimebase implements Timebase {
  private running = false;
  /** Guest time when the machine last resumed (or the frozen time while paused). */
  private guestAtResume = 0;
  private hostAtResume = 0;

  constructor(private readonly hostNs: () => number = hostMonotonicNs) {}

  nowNs(): number {
    return this.running ? this.guestAtResume + (this.hostNs() - this.hostAtResume) : this.guestAtResume;
  }

  resume(): void {
    if (this.running) return;
    this.hostAtResume = this.hostNs();
    this.running = true;
  }

  pause(): void {
    if (!this.running) return;
    this.guestAtResume = this.nowNs();
    this.running = false;
  }
}

/** Guest nanoseconds per retired instruction in deterministic mode (a nominal 1,000 MIPS processor). */
export const NS_PER_INSTRUCTION = 1;

/**
 * Deterministic guest time: each retired instruction advances it by
 * NS_PER_INSTRUCTION, whichever vCPU retires it (the vCPUs take turns, so
 * their TSCs stay in step); while every vCPU is halted the run loop moves it
 * straight to the next timer deadline.
 */
export class InstructionTimebase implements Timebase {
  /** Guest time when the running slice began (or now, between slices). */
  private baseNs = 0;
  /** Instructions the running slice has retired so far; undefined between slices. */
  private retiredInSlice: (() => number) | undefined;

  nowNs(): number {
    return this.retiredInSlice ? this.baseNs + this.retiredInSlice() * NS_PER_INSTRUCTION : this.baseNs;
  }

  /** A slice begins; `retired` counts its instructions so far. */
  beginSlice(retired: () => number): void { this.retiredInSlice = retired; }

  /** The slice ended after `retired` instructions. */
  endSlice(retired: number): void {
    this.retiredInSlice = undefined;
    this.baseNs += retired * NS_PER_INSTRUCTION;
  }

  /** Every vCPU idles: time jumps to `ns` (never backwards). */
  skipTo(ns: number): void { if (ns > this.baseNs) this.baseNs = ns; }

  resume(): void {}
  pause(): void {}
}
