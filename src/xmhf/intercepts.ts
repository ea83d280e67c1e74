// What the core asks the CPU to intercept, composed from every hypapp's
// claims: the control bits, the I/O and MSR bitmaps and the exception bitmap
// of each vCPU's control block.
import { Control, Reg, type Vcpu } from '../backend/interface.js';

/** What the platform itself intercepts: kept in every composition. */
export interface PlatformIntercepts {
  controls: number;
  msrs: ReadonlyArray<{ index: number; read: boolean; write: boolean }>;
}

export class Intercepts {
  /** Port -> hypapps (by index) that claimed it. */
  readonly ports = new Map<number, Set<number>>();
  readonly msrs = new Map<number, { read: Set<number>; write: Set<number> }>();
  readonly crWrites = new Map<0 | 3 | 4, Set<number>>();
  readonly exceptions = new Map<number, Set<number>>();
  readonly cpuid = new Set<number>();
  readonly mmio: Array<{ app: number; first: number; end: number }> = [];
  /** vCPU index -> hypapps single-stepping it. */
  readonly stepping = new Map<number, Set<number>>();
  /** vCPU index -> hypapps single-stepping it with interrupts and time masked (a subset of `stepping`). */
  readonly maskedStepping = new Map<number, Set<number>>();
  nestedPaging = false;

  constructor(private readonly vcpus: readonly Vcpu[], private readonly platform: PlatformIntercepts = { controls: 0, msrs: [] }) {}

  claimPorts(app: number, first: number, last: number): void {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last > 0xffff || last < first) {
      throw new RangeError(`claimPorts: ${first}..${last} is not a port range within 0..0xffff`);
    }
    for (let p = first; p <= last; p++) {
      const s = this.ports.get(p) ?? new Set();
      s.add(app);
      this.ports.set(p, s);
      for (const v of this.vcpus) v.setIoIntercept(p, true);
    }
    this.apply();
  }

  interceptMsr(app: number, index: number, read: boolean, write: boolean): void {
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new RangeError(`interceptMsr: ${index} is not an MSR index`);
    const e = this.msrs.get(index) ?? { read: new Set<number>(), write: new Set<number>() };
    if (read) e.read.add(app);
    if (write) e.write.add(app);
    this.msrs.set(index, e);
    const p = this.platform.msrs.find((m) => m.index === index);
    for (const v of this.vcpus) v.setMsrIntercept(index, e.read.size > 0 || !!p?.read, e.write.size > 0 || !!p?.write);
    this.apply();
  }

  interceptCrWrites(app: number, cr: 0 | 3 | 4): void {
    if (cr !== 0 && cr !== 3 && cr !== 4) throw new RangeError(`interceptCrWrites: CR${cr} writes cannot be intercepted (0, 3 or 4)`);
    const s = this.crWrites.get(cr) ?? new Set();
    s.add(app);
    this.crWrites.set(cr, s);
    this.apply();
  }

  interceptExceptions(app: number, vectors: number[]): void {
    for (const v of vectors) {
      if (!Number.isInteger(v) || v < 0 || v > 31) throw new RangeError(`interceptExceptions: ${v} is not an exception vector (0..31)`);
      const s = this.exceptions.get(v) ?? new Set();
      s.add(app);
      this.exceptions.set(v, s);
    }
    let bits = 0;
    for (const v of this.exceptions.keys()) bits |= 1 << v;
    for (const c of this.vcpus) c.setExceptionBitmap(bits >>> 0);
  }

  interceptCpuid(app: number): void { this.cpuid.add(app); this.apply(); }

  claimMmio(app: number, first: number, length: number): void {
    this.mmio.push({ app, first, end: first + length });
  }

  setStepping(app: number, vcpu: number, on: boolean, masked = false): void {
    const s = this.stepping.get(vcpu) ?? new Set();
    const m = this.maskedStepping.get(vcpu) ?? new Set();
    if (on) s.add(app); else s.delete(app);
    if (on && masked) m.add(app); else m.delete(app);
    this.stepping.set(vcpu, s);
    this.maskedStepping.set(vcpu, m);
    this.apply();
    if (on && masked) this.maskInterrupts(vcpu);
    this.onMaskedStepping?.(this.anySteppingMasked());
  }

  /** Told whether any masked single-step is on (the core freezes guest time meanwhile). */
  onMaskedStepping: ((any: boolean) => void) | undefined;

  /**
   * Hold external interrupts off for `vcpu`'s next instruction (an STI
   * shadow, as allow-once steps do). Not for a halted vCPU: it runs no
   * instruction that would end the shadow, so it would never wake again.
   */
  maskInterrupts(vcpu: number): void {
    const v = this.vcpus.find((x) => x.index === vcpu);
    if (v && v.getReg(Reg.ACTIVITY) === 0n) v.setReg(Reg.INTERRUPTIBILITY, v.getReg(Reg.INTERRUPTIBILITY) | 1n);
  }

  /** A masked single-step is on for `vcpu` (its next instruction runs with interrupts held off). */
  steppingMasked(vcpu: number): boolean { return (this.maskedStepping.get(vcpu)?.size ?? 0) > 0; }
  /** Some vCPU steps masked (guest time must stand still). */
  anySteppingMasked(): boolean { return [...this.maskedStepping.values()].some((m) => m.size > 0); }

  setNestedPaging(on: boolean): void { this.nestedPaging = on; this.apply(); }

  /** Write the control bits every vCPU needs now. */
  apply(): void {
    let base = this.platform.controls;
    if (this.ports.size > 0) base |= Control.USE_IO_BITMAP;
    if (this.msrs.size > 0) base |= Control.USE_MSR_BITMAP;
    if (this.cpuid.size > 0) base |= Control.CPUID_EXITING;
    if (this.crWrites.get(0)?.size) base |= Control.CR0_WRITE_EXITING;
    if (this.crWrites.get(3)?.size) base |= Control.CR3_WRITE_EXITING;
    if (this.crWrites.get(4)?.size) base |= Control.CR4_WRITE_EXITING;
    if (this.nestedPaging) base |= Control.NESTED_PAGING;
    for (const v of this.vcpus) {
      const step = (this.stepping.get(v.index)?.size ?? 0) > 0 ? Control.MONITOR_TRAP_FLAG : 0;
      v.setControls(base | step);
    }
  }
}
