// The 8254 programmable interval timer (ports 0x40-0x43) and system control
// port B (0x61: channel 2 gate, speaker enable, refresh toggle, channel 2 OUT).
// Counts are derived from guest time rather than polled: each channel records
// when it started counting and computes its count and OUT on demand. Only
// channel 0 schedules timers, for the rising edges of OUT that drive IRQ 0.
import type { GuestClock, IrqLine, PortDevice, TimerHandle } from './device.js';

export const PIT_HZ = 1_193_182;
const NS_PER_S = 1_000_000_000n;

/** Whole input-clock ticks in `ns` nanoseconds (exact, BigInt to avoid float rounding). */
function ticksIn(ns: number): number {
  return Number((BigInt(Math.max(0, Math.floor(ns))) * BigInt(PIT_HZ)) / NS_PER_S);
}
/** Nanoseconds until tick number `ticks` has happened (the ceiling, so ticksIn() of it is >= ticks). */
function nsForTicks(ticks: number): number {
  return Number((BigInt(ticks) * NS_PER_S + BigInt(PIT_HZ) - 1n) / BigInt(PIT_HZ));
}

function toBcd(n: number): number {
  return (n % 10) | (Math.floor(n / 10) % 10) << 4 | (Math.floor(n / 100) % 10) << 8 | (Math.floor(n / 1000) % 10) << 12;
}
function fromBcd(n: number): number {
  return (n & 0xf) + ((n >> 4) & 0xf) * 10 + ((n >> 8) & 0xf) * 100 + ((n >> 12) & 0xf) * 1000;
}

const ACCESS_LO = 1, ACCESS_HI = 2, ACCESS_LOHI = 3;

/** One counter. Time is in "ticks counted since the count was loaded or last triggered". */
class PitChannel {
  mode = 0;
  access = ACCESS_LOHI;
  bcd = false;
  gate: boolean;
  private reload = 0x10000; // initial count N (0 written means 65536, or 10000 in BCD)
  private loaded = false; // a count has been written since the control word
  private nullCount = true; // count written but not yet moved into the counting element (read-back bit 6)
  private triggered = false; // modes 1 and 5 count only after a gate rising edge
  private baseTicks = 0; // ticks counted before the current running stretch
  private runStartNs: number | null = null; // guest time the current running stretch began, null when paused
  private writeLow: number | null = null; // low byte waiting for its high byte (lobyte-then-hibyte)
  private readHighNext = false; // lobyte-then-hibyte read flip-flop
  private latchedCount: number[] = []; // bytes of a latched count, read in order
  private latchedStatus: number | null = null;

  constructor(private readonly clock: GuestClock, gate: boolean, private readonly onChange: () => void) {
    this.gate = gate;
  }

  private get modulus(): number { return this.bcd ? 10000 : 0x10000; }

  /** Ticks counted so far. */
  ticks(): number {
    if (this.runStartNs === null) return this.baseTicks;
    return this.baseTicks + ticksIn(this.clock.nowNs() - this.runStartNs);
  }

  /** Modes 1 and 5 start on a gate rising edge and ignore the gate level afterwards. */
  private isGateTriggeredMode(): boolean { return this.mode === 1 || this.mode === 5; }
  private isCounting(): boolean {
    if (!this.loaded) return false;
    if (this.isGateTriggeredMode()) return this.triggered;
    return this.gate;
  }

  private restartCounting(): void {
    this.baseTicks = 0;
    this.runStartNs = null;
    this.syncRunning();
  }
  /** Start or pause the running stretch to match isCounting(). */
  private syncRunning(): void {
    const counting = this.isCounting();
    if (counting && this.runStartNs === null) {
      this.runStartNs = this.clock.nowNs();
    } else if (!counting && this.runStartNs !== null) {
      this.baseTicks = this.ticks();
      this.runStartNs = null;
    }
  }

  out(): boolean {
    const n = this.reload;
    const d = this.ticks();
    switch (this.mode) {
      case 0: return this.loaded && d >= n;
      case 1: return !this.triggered || d >= n;
      case 2: return !this.isCounting() || d % n !== n - 1; // low for the one tick at count 1
      case 3: return !this.isCounting() || d % n < Math.ceil(n / 2); // high for the first half (the larger half if odd)
      case 4: return !this.loaded || d !== n; // low for the one tick at count 0
      default: return !this.triggered || d !== n; // mode 5
    }
  }

  /** The counting element's current value (binary; 65536 reads as 0). */
  private count(): number {
    const n = this.reload;
    const d = this.ticks();
    let c: number;
    if (!this.loaded) c = n;
    else if (this.mode === 2) c = n - (d % n);
    else if (this.mode === 3) c = n - ((2 * d) % n); // decrements by two, reloading each half period
    else if (this.isGateTriggeredMode() && !this.triggered) c = n;
    else c = (((n - d) % this.modulus) + this.modulus) % this.modulus; // modes 0, 1, 4, 5 wrap around
    c %= this.modulus;
    return this.bcd ? toBcd(c) : c;
  }

  /** The next tick (after the current one) at which OUT rises, or undefined if none is coming. */
  nextRisingTick(): { tick: number; holdHigh: boolean } | undefined {
    if (!this.isCounting()) return undefined;
    const n = this.reload;
    const d = this.ticks();
    switch (this.mode) {
      case 0: case 1: return d < n ? { tick: n, holdHigh: true } : undefined;
      case 2: case 3: return { tick: (Math.floor(d / n) + 1) * n, holdHigh: false };
      default: return d <= n ? { tick: n + 1, holdHigh: false } : undefined; // modes 4, 5
    }
  }
  /** Guest time at which `tick` is reached, given the current running stretch. */
  timeOfTick(tick: number): number {
    return (this.runStartNs ?? this.clock.nowNs()) + nsForTicks(tick - this.baseTicks);
  }

  setGate(level: boolean): void {
    if (level === this.gate) return;
    this.gate = level;
    // A rising gate triggers modes 1 and 5 (loading the count) and reloads modes 2 and 3.
    if (level && this.loaded && this.mode !== 0 && this.mode !== 4) {
      if (this.isGateTriggeredMode()) { this.triggered = true; this.nullCount = false; }
      this.restartCounting();
    } else {
      this.syncRunning();
    }
    this.onChange();
  }

  writeControl(mode: number, access: number, bcd: boolean): void {
    this.mode = mode > 5 ? mode - 4 : mode; // modes 6 and 7 alias 2 and 3
    this.access = access;
    this.bcd = bcd;
    this.loaded = false;
    this.nullCount = true;
    this.triggered = false;
    this.writeLow = null;
    this.readHighNext = false;
    this.restartCounting();
    this.onChange();
  }

  latchCount(): void {
    if (this.latchedCount.length) return; // a pending latch is kept until read
    const c = this.count();
    if (this.access === ACCESS_LO) this.latchedCount = [c & 0xff];
    else if (this.access === ACCESS_HI) this.latchedCount = [c >> 8];
    else this.latchedCount = [c & 0xff, c >> 8];
  }

  latchStatus(): void {
    if (this.latchedStatus !== null) return;
    this.latchedStatus = (this.out() ? 0x80 : 0) | (this.nullCount ? 0x40 : 0) |
      (this.access << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  readByte(): number {
    if (this.latchedStatus !== null) {
      const s = this.latchedStatus;
      this.latchedStatus = null;
      return s;
    }
    const latched = this.latchedCount.shift();
    if (latched !== undefined) return latched;
    const c = this.count();
    if (this.access === ACCESS_LO) return c & 0xff;
    if (this.access === ACCESS_HI) return c >> 8;
    this.readHighNext = !this.readHighNext;
    return this.readHighNext ? c & 0xff : c >> 8;
  }

  writeByte(value: number): void {
    let written: number;
    if (this.access === ACCESS_LO) written = value;
    else if (this.access === ACCESS_HI) written = value << 8;
    else if (this.writeLow === null) {
      this.writeLow = value;
      // Mode 0 stops counting (OUT low) on the first byte of a new count.
      if (this.mode === 0) { this.loaded = false; this.restartCounting(); this.onChange(); }
      return;
    } else {
      written = this.writeLow | (value << 8);
      this.writeLow = null;
    }
    let n = this.bcd ? fromBcd(written) : written;
    if (n === 0) n = this.modulus;
    this.reload = n;
    this.loaded = true;
    // Modes 1 and 5 load the count into the counting element only on a gate trigger.
    this.nullCount = this.isGateTriggeredMode();
    // Simplification: a new count restarts the counter at once (the real part
    // waits for the end of the current period in modes 2 and 3).
    this.restartCounting();
    this.onChange();
  }
}

export interface Pit8254Options {
  clock: GuestClock;
  /** ISA IRQ 0: sees channel 0's rising OUT edges. */
  irq0: IrqLine;
}

export class Pit8254 implements PortDevice {
  readonly name = 'pit8254';
  readonly ports = [[0x40, 0x43], [0x61, 0x61]] as const;
  private readonly clock: GuestClock;
  private readonly irq0: IrqLine;
  private readonly channels: PitChannel[];
  private irq0Timer: TimerHandle | undefined;
  private irq0High = false;
  private portB = 0; // bits 0-3 as written (gate 2, speaker enable, parity/channel check disables)
  private refreshToggle = false;

  constructor(options: Pit8254Options) {
    this.clock = options.clock;
    this.irq0 = options.irq0;
    // Channels 0 and 1 have their gates tied high; channel 2's gate is port 0x61 bit 0.
    this.channels = [
      new PitChannel(this.clock, true, () => this.rescheduleIrq0()),
      new PitChannel(this.clock, true, () => {}),
      new PitChannel(this.clock, false, () => {}),
    ];
  }

  ioRead(port: number, _size: number): number {
    if (port === 0x61) {
      // Linux only needs the refresh bit to change between reads.
      this.refreshToggle = !this.refreshToggle;
      return (this.portB & 0x0f) | (this.refreshToggle ? 0x10 : 0) | (this.channels[2]!.out() ? 0x20 : 0);
    }
    if (port === 0x43) return 0xff; // the control register is write-only
    return this.channels[port - 0x40]!.readByte();
  }

  ioWrite(port: number, _size: number, value: number): void {
    value &= 0xff;
    if (port === 0x61) {
      this.portB = value & 0x0f;
      this.channels[2]!.setGate((value & 1) !== 0);
    } else if (port === 0x43) {
      this.writeControl(value);
    } else {
      this.channels[port - 0x40]!.writeByte(value);
    }
  }

  private writeControl(value: number): void {
    const select = value >> 6;
    if (select === 3) return this.readBack(value);
    const channel = this.channels[select]!;
    const access = (value >> 4) & 3;
    if (access === 0) return channel.latchCount();
    channel.writeControl((value >> 1) & 7, access, (value & 1) !== 0);
  }

  /** Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3 select channels. */
  private readBack(value: number): void {
    for (let i = 0; i < 3; i++) {
      if (!(value & (2 << i))) continue;
      const channel = this.channels[i]!;
      if (!(value & 0x10)) channel.latchStatus();
      if (!(value & 0x20)) channel.latchCount();
    }
  }

  /**
   * Channel 0's OUT drives IRQ 0. In modes 0 and 1 the line follows OUT (low while
   * counting, high at terminal count); in the periodic and strobe modes, whose low
   * phase is short, each rising edge of OUT is delivered as a pulse.
   */
  private rescheduleIrq0(): void {
    this.irq0Timer?.cancel();
    this.irq0Timer = undefined;
    const ch0 = this.channels[0]!;
    const holdsLevel = ch0.mode === 0 || ch0.mode === 1;
    this.setIrq0(holdsLevel && ch0.out());
    const next = ch0.nextRisingTick();
    if (!next) return;
    this.irq0Timer = this.clock.at(ch0.timeOfTick(next.tick), () => {
      this.irq0Timer = undefined;
      this.setIrq0(true);
      if (!next.holdHigh) this.setIrq0(false);
      this.rescheduleIrq0();
    });
  }

  private setIrq0(level: boolean): void {
    if (level === this.irq0High) return;
    this.irq0High = level;
    this.irq0.set(level);
  }
}
