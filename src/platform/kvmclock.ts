// The KVM paravirtual clock (kvmclock, Documentation/virt/kvm/x86/msr.rst):
// the hypervisor leaves in CPUID and the two MSRs through which a guest asks
// for its pvclock structures. It tells the kernel the TSC frequency exactly,
// so it need not calibrate the TSC against the PIT: a busy loop whose result
// is only as good as the emulator's timing between two port reads. The TSC
// runs at a fixed rate for ever (PVCLOCK_TSC_STABLE_BIT), so one write of
// each structure at registration stays correct.
import type { CpuidEntry } from '../backend/interface.js';
import type { MsrDevices } from './msr-exits.js';

export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;
const KVM_FEATURE_CLOCKSOURCE2 = 1 << 3;
const KVM_FEATURE_CLOCKSOURCE_STABLE_BIT = 1 << 24;
const PVCLOCK_TSC_STABLE_BIT = 1;
const TIME_INFO_SIZE = 32;
const WALL_CLOCK_SIZE = 12;

const ascii4 = (s: string) => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);

/** CPUID 0x40000000 (signature "KVMKVMKVM\0\0\0") and 0x40000001 (features: the new clock MSRs, stable TSC). */
export const KVM_CPUID: CpuidEntry[] = [
  { leaf: 0x40000000, eax: 0x40000001, ebx: ascii4('KVMK'), ecx: ascii4('VMKV'), edx: ascii4('M\0\0\0') },
  { leaf: 0x40000001, eax: KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT, ebx: 0, ecx: 0, edx: 0 },
];

/** pvclock's scale for a TSC of `tscHz`: ns = ((tsc << shift) * mul) >> 32, with mul in [2^31, 2^32). */
export function pvclockScale(tscHz: number): { mul: number; shift: number } {
  let shift = 0;
  let mul = (2 ** 32 * 1e9) / tscHz;
  // Halving mul is made up for by doubling the TSC delta, and the other way round.
  while (mul >= 2 ** 32) { mul /= 2; shift++; }
  while (mul < 2 ** 31) { mul *= 2; shift--; }
  return { mul: Math.floor(mul), shift };
}

export interface KvmClockOptions {
  /** Guest RAM (the structures are written there; addresses outside it are ignored). */
  ram: () => Uint8Array;
  /** Tell the CPU guest RAM changed under it. */
  ramWritten: (gpa: number, length: number) => void;
  /**
   * Whether the platform may write these bytes for the guest (dmaprot: memory
   * the hypervisor protects from guest writes is protected from the guest's
   * devices too). Default: all of RAM.
   */
  mayWrite?: (gpa: number, length: number) => boolean;
  tscHz: number;
  /** The same instant read two ways: guest nanoseconds and the guest's TSC. */
  now: () => { ns: bigint; tsc: bigint };
  /** Host wall-clock time in nanoseconds since the Unix epoch. */
  wallClockNs?: () => bigint;
}

export class KvmClock implements MsrDevices {
  private systemTimeMsr = 0n;
  private wallClockMsr = 0n;

  constructor(private readonly opts: KvmClockOptions) {}

  readMsr(index: number): bigint | undefined {
    if (index === MSR_KVM_SYSTEM_TIME_NEW) return this.systemTimeMsr;
    if (index === MSR_KVM_WALL_CLOCK_NEW) return this.wallClockMsr;
    return undefined;
  }

  writeMsr(index: number, value: bigint): boolean {
    if (index === MSR_KVM_SYSTEM_TIME_NEW) {
      this.systemTimeMsr = value;
      if (value & 1n) this.writeTimeInfo(Number(value & ~1n & 0xffffffffffffn));
      return true;
    }
    if (index === MSR_KVM_WALL_CLOCK_NEW) {
      this.wallClockMsr = value;
      this.writeWallClock(Number(value & 0xffffffffffffn));
      return true;
    }
    return false;
  }

  /** A view of `size` bytes of guest RAM at `gpa`, or undefined if any of it lies outside RAM or is protected. */
  private guestBytes(gpa: number, size: number): DataView | undefined {
    const ram = this.opts.ram();
    if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa + size > ram.length) return undefined;
    if (this.opts.mayWrite && !this.opts.mayWrite(gpa, size)) return undefined;
    return new DataView(ram.buffer, ram.byteOffset + gpa, size);
  }

  /** struct pvclock_vcpu_time_info: guest time `system_time` at TSC `tsc_timestamp`, and the TSC's scale. */
  private writeTimeInfo(gpa: number): void {
    const v = this.guestBytes(gpa, TIME_INFO_SIZE);
    if (!v) return;
    const { ns, tsc } = this.opts.now();
    const { mul, shift } = pvclockScale(this.opts.tscHz);
    v.setUint32(0, (v.getUint32(0, true) + 2) & ~1, true); // even: the structure is consistent
    v.setUint32(4, 0, true);
    v.setBigUint64(8, BigInt.asUintN(64, tsc), true);
    v.setBigUint64(16, BigInt.asUintN(64, ns), true);
    v.setUint32(24, mul, true);
    v.setInt8(28, shift);
    v.setUint8(29, PVCLOCK_TSC_STABLE_BIT);
    v.setUint16(30, 0, true);
    this.opts.ramWritten(gpa, TIME_INFO_SIZE);
  }

  /** struct pvclock_wall_clock: the wall-clock time at guest time 0. */
  private writeWallClock(gpa: number): void {
    const v = this.guestBytes(gpa, WALL_CLOCK_SIZE);
    if (!v) return;
    const wall = this.opts.wallClockNs?.() ?? BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const boot = wall - this.opts.now().ns;
    v.setUint32(0, (v.getUint32(0, true) + 2) & ~1, true);
    v.setUint32(4, Number(boot / 1_000_000_000n) >>> 0, true);
    v.setUint32(8, Number(boot % 1_000_000_000n), true);
    this.opts.ramWritten(gpa, WALL_CLOCK_SIZE);
  }
}
