// The local APIC of one vCPU: xAPIC registers (MMIO page at 0xFEE00000; the
// CPU does not advertise x2APIC, so there is no MSR view), interrupt priority
// (IRR/ISR/TPR/PPR), the LVT sources (timer, LINT0/1, error) and IPIs sent
// through the ICR. The machine routes IPIs and interrupt messages between
// vCPUs; this class only models what one processor's APIC holds.
import type { GuestClock, TimerHandle } from './device.js';

export const LAPIC_BASE = 0xfee00000;
/**
 * Frequency of the APIC timer's input clock before the divider. Linux
 * calibrates the timer against another clock, so any stable value works;
 * 1 GHz makes one tick at divide-by-1 equal one guest nanosecond.
 */
const APIC_BUS_HZ = 1_000_000_000;
/** Version 0x14 (integrated APIC), max LVT entry 5: timer, thermal, perf, LINT0, LINT1, error (no CMCI). */
export const LAPIC_VERSION = 0x00050014;
/** Shortest periodic timer period, so a tiny count cannot starve the guest (KVM clamps similarly). */
const MIN_PERIOD_NS = 10_000;

export type IpiDeliveryMode = 'fixed' | 'lowest' | 'smi' | 'nmi' | 'init' | 'sipi';

/** An inter-processor interrupt written to the ICR, for the machine to route. */
export interface Ipi {
  /** APIC id of the sender. */
  source: number;
  /** 'none' means use dest/destMode. */
  shorthand: 'none' | 'self' | 'all' | 'all-but-self';
  destMode: 'physical' | 'logical';
  /** 8-bit xAPIC destination (ICR high bits 31:24). */
  dest: number;
  mode: IpiDeliveryMode;
  vector: number;
  /** Level bit: false only for the INIT level de-assert message. */
  level: boolean;
  trigger: 'edge' | 'level';
}

export interface LocalApicOptions {
  id: number;
  clock: GuestClock;
  /** Guest TSC frequency; the guest TSC is assumed to read nowNs * tscHz / 1e9. */
  tscHz: number;
  /** The CPU's INTR input: true while an interrupt can be acknowledged. */
  onIntr: (asserted: boolean) => void;
  sendIpi: (ipi: Ipi) => void;
  /** The 8259 PIC's interrupt acknowledge, used when LINT0 is in ExtINT mode. */
  extIntVector?: () => number;
  /** An NMI from an LVT entry in NMI mode (usually LINT1). */
  onNmi?: () => void;
  /** EOI of a level-triggered vector (the IOAPIC clears remote IRR). */
  onEoi?: (vector: number) => void;
  /**
   * Start as firmware leaves the BSP (software enabled, LINT0 ExtINT,
   * LINT1 NMI) instead of the hardware reset state, for direct kernel boot.
   */
  virtualWire?: boolean;
  busHz?: number;
}

// Register offsets in the MMIO page.
const REG = {
  ID: 0x20, VERSION: 0x30, TPR: 0x80, APR: 0x90, PPR: 0xa0, EOI: 0xb0, RRD: 0xc0, LDR: 0xd0, DFR: 0xe0, SVR: 0xf0,
  ISR: 0x100, TMR: 0x180, IRR: 0x200, ESR: 0x280, ICR_LOW: 0x300, ICR_HIGH: 0x310,
  LVT_TIMER: 0x320, LVT_THERMAL: 0x330, LVT_PERF: 0x340, LVT_LINT0: 0x350, LVT_LINT1: 0x360, LVT_ERROR: 0x370,
  TIMER_INITIAL: 0x380, TIMER_CURRENT: 0x390, TIMER_DIVIDE: 0x3e0,
} as const;

const LVT_OFFSETS = [REG.LVT_TIMER, REG.LVT_THERMAL, REG.LVT_PERF, REG.LVT_LINT0, REG.LVT_LINT1, REG.LVT_ERROR];
/** Writable bits of each LVT entry (vector, delivery mode, polarity, trigger, mask, timer mode). */
const LVT_WRITABLE: Record<number, number> = {
  [REG.LVT_TIMER]: 0x700ff, [REG.LVT_THERMAL]: 0x107ff, [REG.LVT_PERF]: 0x107ff,
  [REG.LVT_LINT0]: 0x1a7ff, [REG.LVT_LINT1]: 0x1a7ff, [REG.LVT_ERROR]: 0x100ff,
};
const LVT_MASKED = 1 << 16;
const LVT_REMOTE_IRR = 1 << 14;
const LVT_LEVEL = 1 << 15;
const LVT_ACTIVE_LOW = 1 << 13;
const SVR_ENABLE = 1 << 8;
const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
const DM_FIXED = 0, DM_NMI = 4, DM_EXTINT = 7;
// LVT timer modes other than one-shot (0).
const TIMER_PERIODIC = 1, TIMER_TSC_DEADLINE = 2;
const IPI_MODES: Array<IpiDeliveryMode | undefined> = ['fixed', 'lowest', 'smi', undefined, 'nmi', 'init', 'sipi', undefined];
const SHORTHANDS = ['none', 'self', 'all', 'all-but-self'] as const;

/** A 256-bit vector set laid out as the APIC's eight 32-bit registers. */
class VectorBits {
  readonly words = new Uint32Array(8);
  has(v: number): boolean { return (this.words[v >> 5]! >>> (v & 31) & 1) === 1; }
  set(v: number, on: boolean): void {
    if (on) this.words[v >> 5]! |= 1 << (v & 31);
    else this.words[v >> 5]! &= ~(1 << (v & 31));
  }
  /** Highest set vector, or -1. */
  highest(): number {
    for (let w = 7; w >= 0; w--) if (this.words[w]) return w * 32 + 31 - Math.clz32(this.words[w]!);
    return -1;
  }
}

export class LocalApic {
  readonly name = 'lapic';
  readonly base = LAPIC_BASE;
  readonly size = 0x1000;

  private id: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private esr = 0;
  private esrPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Map<number, number>(LVT_OFFSETS.map((o) => [o, LVT_MASKED]));
  private readonly irr = new VectorBits();
  private readonly isr = new VectorBits();
  private readonly tmr = new VectorBits();
  private lint = [false, false];
  private intrAsserted = false;

  // Timer state: counting runs from `countStartNs` at `countFrom` ticks.
  private timerInitial = 0;
  private divideConfig = 0;
  private countFrom = 0;
  private countStartNs = 0;
  private counting = false;
  private timer: TimerHandle | undefined;
  private tscDeadline = 0n;

  constructor(private readonly opts: LocalApicOptions) {
    this.id = opts.id;
    if (opts.virtualWire) {
      this.svr = SVR_ENABLE | 0xff;
      this.lvt.set(REG.LVT_LINT0, DM_EXTINT << 8);
      this.lvt.set(REG.LVT_LINT1, DM_NMI << 8);
    }
  }

  get apicId(): number { return this.id; }
  /** Processor priority, for lowest-priority arbitration among APICs. */
  get taskPriority(): number { return this.ppr(); }

  /** CR8 reads TPR bits 7:4. */
  readCr8(): number { return this.tpr >> 4; }
  /** CR8 writes set TPR bits 7:4 (and clear 3:0), as MOV to CR8 does. */
  writeCr8(value: number): void { this.tpr = (value & 0xf) << 4; this.updateIntr(); }

  /**
   * An INIT message (or RESET): registers return to their power-on values,
   * keeping the APIC id; pending and in-service interrupts are lost.
   */
  initReset(): void {
    this.stopTimer();
    this.tpr = 0; this.ldr = 0; this.dfr = 0xffffffff; this.svr = 0xff;
    this.esr = 0; this.esrPending = 0; this.icrLow = 0; this.icrHigh = 0;
    for (const offset of LVT_OFFSETS) this.lvt.set(offset, LVT_MASKED);
    this.irr.words.fill(0); this.isr.words.fill(0); this.tmr.words.fill(0);
    this.timerInitial = 0; this.divideConfig = 0; this.tscDeadline = 0n;
    this.updateIntr();
  }
  get enabled(): boolean { return (this.svr & SVR_ENABLE) !== 0; }

  // ---- interrupt acceptance and priority ----

  /** An interrupt message arrives (IOAPIC, IPI, LVT). `level` marks it level-triggered (sets TMR). */
  deliver(vector: number, level = false): void {
    if (vector < 16) { this.raiseError(ESR_RECEIVE_ILLEGAL_VECTOR); return; }
    if (!this.enabled) return; // a software-disabled APIC drops fixed interrupts (as KVM does)
    this.irr.set(vector, true);
    this.tmr.set(vector, level);
    this.updateIntr();
  }

  /** Processor priority: the higher class of TPR and the highest in-service vector. */
  private ppr(): number {
    const isrv = Math.max(this.isr.highest(), 0);
    return (this.tpr & 0xf0) >= (isrv & 0xf0) ? this.tpr & 0xff : isrv & 0xf0;
  }

  private deliverableVector(): number {
    if (!this.enabled) return -1;
    const v = this.irr.highest();
    return v >= 0 && (v & 0xf0) > (this.ppr() & 0xf0) ? v : -1;
  }

  private extIntPending(): boolean {
    const lvt = this.lvt.get(REG.LVT_LINT0)!;
    return !(lvt & LVT_MASKED) && ((lvt >> 8) & 7) === DM_EXTINT && this.lintAsserted(0);
  }

  pending(): boolean { return this.extIntPending() || this.deliverableVector() >= 0; }

  /** The CPU takes an interrupt: returns its vector (moved from IRR to ISR), or -1 if none. */
  acknowledge(): number {
    let vector = -1;
    if (this.extIntPending()) {
      vector = this.opts.extIntVector?.() ?? -1; // the PIC's vector bypasses IRR/ISR
    } else {
      vector = this.deliverableVector();
      if (vector >= 0) { this.irr.set(vector, false); this.isr.set(vector, true); }
    }
    this.updateIntr();
    return vector;
  }

  private eoi(): void {
    const vector = this.isr.highest();
    if (vector < 0) return;
    this.isr.set(vector, false);
    if (this.tmr.has(vector)) {
      this.tmr.set(vector, false);
      this.opts.onEoi?.(vector);
      this.lintEoi(vector);
    }
    this.updateIntr();
  }

  private updateIntr(): void {
    const now = this.pending();
    if (now !== this.intrAsserted) { this.intrAsserted = now; this.opts.onIntr(now); }
  }

  private raiseError(bit: number): void {
    this.esrPending |= bit;
    const lvt = this.lvt.get(REG.LVT_ERROR)!;
    if (!(lvt & LVT_MASKED)) this.deliver(lvt & 0xff);
  }

  // ---- local interrupt pins ----

  /** Level of the LINT0 input (the 8259 PIC's INT output in virtual-wire mode). */
  setLint0(level: boolean): void { this.setLint(0, level); }
  /** Level of the LINT1 input (usually NMI). */
  setLint1(level: boolean): void { this.setLint(1, level); }

  private lintAsserted(pin: 0 | 1): boolean {
    const lvt = this.lvt.get(pin ? REG.LVT_LINT1 : REG.LVT_LINT0)!;
    return this.lint[pin] !== !!(lvt & LVT_ACTIVE_LOW);
  }

  private setLint(pin: 0 | 1, level: boolean): void {
    const before = this.lintAsserted(pin);
    this.lint[pin] = level;
    const rising = !before && this.lintAsserted(pin);
    const offset = pin ? REG.LVT_LINT1 : REG.LVT_LINT0;
    const lvt = this.lvt.get(offset)!;
    const mode = (lvt >> 8) & 7;
    if (mode === DM_FIXED && lvt & LVT_LEVEL) this.lintLevelFixed(offset);
    else if (rising) this.fireLvt(offset);
    this.updateIntr(); // ExtINT follows the level
  }

  /** Level-triggered fixed LINT: deliver while asserted, held off by remote IRR until EOI. */
  private lintLevelFixed(offset: number): void {
    const lvt = this.lvt.get(offset)!;
    if (lvt & LVT_MASKED || lvt & LVT_REMOTE_IRR || !this.lintAsserted(offset === REG.LVT_LINT1 ? 1 : 0)) return;
    this.lvt.set(offset, lvt | LVT_REMOTE_IRR);
    this.deliver(lvt & 0xff, true);
  }

  private lintEoi(vector: number): void {
    for (const offset of [REG.LVT_LINT0, REG.LVT_LINT1]) {
      const lvt = this.lvt.get(offset)!;
      if (!(lvt & LVT_REMOTE_IRR) || (lvt & 0xff) !== vector) continue;
      this.lvt.set(offset, lvt & ~LVT_REMOTE_IRR);
      this.lintLevelFixed(offset);
    }
  }

  /** Raise the interrupt an LVT entry describes (edge). */
  private fireLvt(offset: number): void {
    const lvt = this.lvt.get(offset)!;
    if (lvt & LVT_MASKED) return;
    const mode = offset === REG.LVT_TIMER || offset === REG.LVT_ERROR ? DM_FIXED : (lvt >> 8) & 7;
    if (mode === DM_FIXED) this.deliver(lvt & 0xff);
    else if (mode === DM_NMI) this.opts.onNmi?.();
    // ExtINT is level-sensed in pending(); SMI and INIT from an LVT are not modelled.
  }

  // ---- timer ----

  private timerMode(): number { return (this.lvt.get(REG.LVT_TIMER)! >> 17) & 3; }

  private tickNs(): number {
    const code = ((this.divideConfig & 8) >> 1) | (this.divideConfig & 3);
    const divisor = code === 7 ? 1 : 2 << code;
    return (divisor * 1e9) / (this.opts.busHz ?? APIC_BUS_HZ);
  }

  private stopTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.counting = false;
  }

  /** Count down `count` ticks starting at guest time `startNs`. */
  private startCount(count: number, startNs: number): void {
    this.stopTimer();
    if (count === 0) return;
    this.counting = true;
    this.countFrom = count;
    this.countStartNs = startNs;
    let durationNs = count * this.tickNs();
    if (this.timerMode() === TIMER_PERIODIC) durationNs = Math.max(durationNs, MIN_PERIOD_NS);
    const deadline = startNs + durationNs;
    this.timer = this.opts.clock.at(deadline, () => this.countExpired(deadline));
  }

  private countExpired(deadline: number): void {
    this.timer = undefined;
    this.counting = false;
    this.fireLvt(REG.LVT_TIMER);
    if (this.timerMode() === TIMER_PERIODIC) this.startCount(this.timerInitial, deadline);
  }

  private currentCount(): number {
    if (!this.counting) return 0;
    const elapsed = Math.floor((this.opts.clock.nowNs() - this.countStartNs) / this.tickNs());
    return Math.max(this.countFrom - elapsed, 0);
  }

  private tscToNs(tsc: bigint): number {
    const hz = BigInt(this.opts.tscHz);
    return Number((tsc * 1_000_000_000n + hz - 1n) / hz);
  }

  /** IA32_TSC_DEADLINE (MSR 0x6E0) write: arm at that guest TSC, or disarm with 0. Ignored outside TSC-deadline mode. */
  writeTscDeadline(tsc: bigint): void {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) return;
    this.stopTimer();
    this.tscDeadline = BigInt.asUintN(64, tsc);
    if (this.tscDeadline === 0n) return;
    this.timer = this.opts.clock.at(this.tscToNs(this.tscDeadline), () => {
      this.timer = undefined;
      this.tscDeadline = 0n;
      this.fireLvt(REG.LVT_TIMER);
    });
  }

  /** IA32_TSC_DEADLINE read: the armed deadline, 0 once fired, disarmed or outside TSC-deadline mode. */
  readTscDeadline(): bigint { return this.timerMode() === TIMER_TSC_DEADLINE ? this.tscDeadline : 0n; }

  private writeLvt(offset: number, value: number): void {
    let lvt = (value & LVT_WRITABLE[offset]!) | (this.lvt.get(offset)! & LVT_REMOTE_IRR);
    if (!this.enabled) lvt |= LVT_MASKED; // a software-disabled APIC keeps every LVT masked
    const oldTimerMode = this.timerMode();
    this.lvt.set(offset, lvt);
    if (offset === REG.LVT_TIMER && oldTimerMode !== this.timerMode()
      && (oldTimerMode === TIMER_TSC_DEADLINE || this.timerMode() === TIMER_TSC_DEADLINE)) {
      // Switching to or from TSC-deadline mode disarms the timer.
      this.stopTimer();
      this.tscDeadline = 0n;
      this.timerInitial = 0;
    }
    if (offset === REG.LVT_LINT0 || offset === REG.LVT_LINT1) this.lintLevelFixed(offset);
    this.updateIntr();
  }

  // ---- register file ----

  /** Read the 32-bit register at a 16-byte-aligned offset; undefined if none. */
  private readReg(offset: number): number | undefined {
    if (offset >= REG.ISR && offset < REG.ISR + 0x80) return this.isr.words[(offset - REG.ISR) >> 4];
    if (offset >= REG.TMR && offset < REG.TMR + 0x80) return this.tmr.words[(offset - REG.TMR) >> 4];
    if (offset >= REG.IRR && offset < REG.IRR + 0x80) return this.irr.words[(offset - REG.IRR) >> 4];
    if (this.lvt.has(offset)) return this.lvt.get(offset);
    switch (offset) {
      case REG.ID: return this.id << 24;
      case REG.VERSION: return LAPIC_VERSION;
      case REG.TPR: return this.tpr;
      case REG.APR: return 0;
      case REG.PPR: return this.ppr();
      case REG.LDR: return this.ldr;
      case REG.DFR: return this.dfr;
      case REG.SVR: return this.svr;
      case REG.ESR: return this.esr;
      case REG.ICR_LOW: return this.icrLow; // delivery status (bit 12) always idle
      case REG.ICR_HIGH: return this.icrHigh;
      case REG.TIMER_INITIAL: return this.timerInitial;
      case REG.TIMER_CURRENT: return this.currentCount();
      case REG.TIMER_DIVIDE: return this.divideConfig;
      case REG.EOI: case REG.RRD: return 0;
      default: return undefined;
    }
  }

  /** Write a 32-bit register (writes to read-only and reserved ones are dropped). */
  private writeReg(offset: number, value: number): void {
    value >>>= 0;
    if (this.lvt.has(offset)) { this.writeLvt(offset, value); return; }
    switch (offset) {
      case REG.ID: this.id = value >>> 24; return;
      case REG.TPR: this.tpr = value & 0xff; this.updateIntr(); return;
      case REG.EOI: this.eoi(); return;
      case REG.LDR: this.ldr = value & 0xff000000; return;
      case REG.DFR: this.dfr = value | 0x0fffffff; return;
      case REG.SVR: this.writeSvr(value); return;
      case REG.ESR: this.esr = this.esrPending; this.esrPending = 0; return; // a write latches errors
      case REG.ICR_HIGH: this.icrHigh = value & 0xff000000; return;
      case REG.ICR_LOW: this.writeIcr(value, this.icrHigh >>> 24); return;
      case REG.TIMER_INITIAL:
        if (this.timerMode() === TIMER_TSC_DEADLINE) return; // ignored in TSC-deadline mode
        this.timerInitial = value;
        this.startCount(value, this.opts.clock.nowNs());
        return;
      case REG.TIMER_DIVIDE: {
        const remaining = this.currentCount();
        this.divideConfig = value & 0xb;
        if (this.counting) this.startCount(remaining, this.opts.clock.nowNs()); // finish the count at the new rate
        return;
      }
    }
  }

  private writeSvr(value: number): void {
    this.svr = value & 0x1ff;
    if (!this.enabled) for (const [offset, lvt] of this.lvt) this.lvt.set(offset, lvt | LVT_MASKED);
    this.updateIntr();
  }

  private writeIcr(low: number, dest: number): void {
    this.icrLow = low & ~(1 << 12);
    const mode = IPI_MODES[(low >> 8) & 7];
    const vector = low & 0xff;
    if (!mode) return; // reserved delivery modes are not sent
    if ((mode === 'fixed' || mode === 'lowest') && vector < 16) { this.raiseError(ESR_SEND_ILLEGAL_VECTOR); return; }
    this.sendIpi({
      shorthand: SHORTHANDS[(low >> 18) & 3]!,
      destMode: low & (1 << 11) ? 'logical' : 'physical',
      dest,
      mode,
      vector,
      level: (low & (1 << 14)) !== 0,
      trigger: low & (1 << 15) ? 'level' : 'edge',
    });
  }

  private sendIpi(ipi: Omit<Ipi, 'source'>): void { this.opts.sendIpi({ source: this.id, ...ipi }); }

  /** MMIO read in the xAPIC page. Reads of 1, 2 or 4 bytes within a register's first dword return those bytes; the rest reads 0. */
  mmioRead(offset: number, size: number): number {
    const reg = offset & ~0xf;
    const byte = offset & 0xf;
    if (byte + size > 4) return 0;
    const value = this.readReg(reg) ?? 0;
    return size >= 4 ? value >>> 0 : (value >>> (byte * 8)) & ((1 << (size * 8)) - 1);
  }

  /** MMIO write in the xAPIC page. Only aligned 32-bit writes take effect (KVM ignores the others too). */
  mmioWrite(offset: number, size: number, value: number): void {
    if (size !== 4 || offset & 0xf) return;
    this.writeReg(offset, value);
  }

  // ---- destination matching, for the machine's IPI and IOAPIC routing ----

  /** Whether a message to `dest` in `destMode` (not a shorthand) targets this APIC. */
  acceptsDestination(dest: number, destMode: 'physical' | 'logical'): boolean {
    dest &= 0xff;
    if (dest === 0xff) return true;
    if (destMode === 'physical') return dest === (this.id & 0xff);
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (dest & logicalId) !== 0; // flat model
    return dest >> 4 === logicalId >> 4 && (dest & logicalId & 0xf) !== 0; // cluster model
  }
}
