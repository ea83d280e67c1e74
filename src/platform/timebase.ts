// The machine's one source of guest time: nanoseconds that follow the host's
// monotonic clock while the machine runs and stand still while it is paused
// (between run() calls), so `sleep 1` in the guest takes a wall second. The
// TSC, the device clock and the run loop's deadlines all read it.

/** The host's monotonic clock in nanoseconds (performance.now() keeps sub-microsecond precision). */
export const hostMonotonicNs = (): number => performance.now() * 1e6;

export class HostTimebase {
  private running = false;
  /** Guest time when the machine last resumed (or the frozen time while paused). */
  private guestAtResume = 0;
  private hostAtResume = 0;

  constructor(private readonly hostNs: () => number = hostMonotonicNs) {}

  /** Current guest time; never decreases. */
  nowNs(): number {
    return this.running ? this.guestAtResume + (this.hostNs() - this.hostAtResume) : this.guestAtResume;
  }

  /** Guest time starts following the host clock from now on. */
  resume(): void {
    if (this.running) return;
    this.hostAtResume = this.hostNs();
    this.running = true;
  }

  /** Guest time stops here until resume(). */
  pause(): void {
    if (!this.running) return;
    this.guestAtResume = this.nowNs();
    this.running = false;
  }
}
