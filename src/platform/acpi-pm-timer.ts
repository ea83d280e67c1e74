// The ACPI power-management timer the FADT describes (PM_TMR_BLK): a free-
// running 32-bit counter at 3.579545 MHz, read from guest time. Linux uses it
// as a reference clock to check and refine the TSC.
import type { GuestClock, PortDevice } from './device.js';
import { PM_TMR_PORT } from './acpi.js';

export const PM_TIMER_HZ = 3_579_545;

export class AcpiPmTimer implements PortDevice {
  readonly name = 'acpi-pm-timer';
  readonly ports = [[PM_TMR_PORT, PM_TMR_PORT + 3]] as const;

  constructor(private readonly clock: GuestClock) {}

  /** Ticks since guest time 0, modulo 2^32 (BigInt: the product overflows a double's exact range). */
  private count(): number {
    const ns = BigInt(Math.max(0, Math.floor(this.clock.nowNs())));
    return Number(((ns * BigInt(PM_TIMER_HZ)) / 1_000_000_000n) & 0xffffffffn);
  }

  ioRead(port: number, size: number): number {
    const value = this.count() >>> ((port - PM_TMR_PORT) * 8);
    return size >= 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
  }

  /** The timer is read-only. */
  ioWrite(): void {}
}
