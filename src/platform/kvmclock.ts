// The KVM paravirtual clock (kvmclock, Documentation/virt/kvm/x86/msr.rst):
// the hypervisor leaves in CPUID and the two MSRs through which a guest asks
// for its pvclock structures. It tells the kernel the TSC frequency exactly,
// so it need not calibrate the TSC against the PIT: a busy loop whose result
// is only as good as the emulator's timing between two port reads. The TSC
// runs at a fixed rate for ever (PVCLOCK_TSC_STABLE_BIT), so one write of
// each structure at registration stays correct.
import type { CpuidEntry } from '../backend/interface.js';
import type { MsrDevices } from './msr-exits.js';
import type { DmaPort } from './platform.js';

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
  /**
   * Guest RAM, where the structures go, as devices reach it: a structure
   * outside RAM or in memory the hypervisor protects is not written.
   */
  dma: DmaPort;
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

  /** The structure at `gpa` (`size` bytes) with its version field advanced past `fill`, or nothing where DMA is refused. */
  private update(gpa: number, size: number, fill: (v: DataView) => void): void {
    const bytes = this.opts.dma.read('kvmclock', gpa, size);
    if (!bytes) return;
    const v = new DataView(bytes.buffer, bytes.byteOffset, size);
    v.setUint32(0, (v.getUint32(0, true) + 2) & ~1, true); // even: the structure is consistent
    fill(v);
    this.opts.dma.write('kvmclock', gpa, bytes);
  }

  /** struct pvclock_vcpu_time_info: guest time `system_time` at TSC `tsc_timestamp`, and the TSC's scale. */
  private writeTimeInfo(gpa: number): void {
    this.update(gpa, TIME_INFO_SIZE, (v) => {
      const { ns, tsc } = this.opts.now();
      const { mul, shift } = pvclockScale(this.opts.tscHz);
      v.setUint32(4, 0, true);
      v.setBigUint64(8, BigInt.asUintN(64, tsc), true);
      v.setBigUint64(16, BigInt.asUintN(64, ns), true);
      v.setUint32(24, mul, true);
      v.setInt8(28, shift);
      v.setUint8(29, PVCLOCK_TSC_STABLE_BIT);
      v.setUint16(30, 0, true);
    });
  }

  /** struct pvclock_wall_clock: the wall-clock time at guest time 0. */
  private writeWallClock(gpa: number): void {
    this.update(gpa, WALL_CLOCK_SIZE, (v) => {
      const wall = this.opts.wallClockNs?.() ?? BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
      const boot = wall - this.opts.now().ns;
      v.setUint32(4, Number(boot / 1_000_000_000n) >>> 0, true);
      v.setUint32(8, Number(boot % 1_000_000_000n), true);
    });
  }

}
