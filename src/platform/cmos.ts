// The MC146818 CMOS real-time clock and its 128 bytes of RAM (ports 0x70/0x71).
// The time is startTime plus elapsed guest time; updates, periodic and alarm
// interrupts are driven by guest-clock timers, never by polling.
import type { GuestClock, IrqLine, PortDevice, TimerHandle } from './device.js';

export interface CmosRtcOptions {
  clock: GuestClock;
  irq: IrqLine;
  startTime?: Date;
}

const NS_PER_S = 1_000_000_000;
/** UIP rises this long before each update (datasheet tBUC). */
const UIP_LEAD_NS = 244_000;
/** After a divider reset ends, the first update comes half a second later. */
const FIRST_UPDATE_AFTER_RESET_NS = NS_PER_S / 2;

// Register indexes.
const SECONDS = 0x00, MINUTES = 0x02, HOURS = 0x04, DAY_OF_WEEK = 0x06;
const DAY = 0x07, MONTH = 0x08, YEAR = 0x09, CENTURY = 0x32;
const ALARM_SECONDS = 0x01, ALARM_MINUTES = 0x03, ALARM_HOURS = 0x05;
const REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;

const A_UIP = 0x80;
const B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_BINARY = 0x04, B_24H = 0x02;
const C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10;
const D_VRT = 0x80;
const HOUR_PM = 0x80;

/** Broken-down calendar time as the clock registers hold it (binary, 24h). */
interface Fields { sec: number; min: number; hour: number; day: number; month: number; year: number }

function fieldsOf(unixSeconds: number): Fields {
  const d = new Date(unixSeconds * 1000);
  return {
    sec: d.getUTCSeconds(), min: d.getUTCMinutes(), hour: d.getUTCHours(),
    day: d.getUTCDate(), month: d.getUTCMonth() + 1, year: d.getUTCFullYear(),
  };
}

function secondsOf(f: Fields): number {
  return Date.UTC(f.year, f.month - 1, f.day, f.hour, f.min, f.sec) / 1000;
}

const toBcd = (v: number): number => ((Math.floor(v / 10) % 10) << 4) | (v % 10);
const fromBcd = (v: number): number => (v >> 4) * 10 + (v & 0x0f);

export class CmosRtc implements PortDevice {
  readonly name = 'cmos-rtc';
  readonly ports: ReadonlyArray<readonly [number, number]> = [[0x70, 0x71]];

  private readonly clock: GuestClock;
  private readonly irq: IrqLine;
  private readonly ram = new Uint8Array(128);
  private index = 0;
  private nmiMasked = false; // bit 7 of the index port; kept for completeness, not wired

  /** RTC seconds (Unix time) at guest time originNs; each second boundary is originNs + k s. */
  private secondsAtOrigin: number;
  private originNs: number;
  /** While SET or a divider reset stops updates, the clock registers hold these fields. */
  private held: Fields | undefined;
  private updateTimer: TimerHandle | undefined;
  private periodicTimer: TimerHandle | undefined;
  private irqLevel = false;

  constructor(opts: CmosRtcOptions) {
    this.clock = opts.clock;
    this.irq = opts.irq;
    const startMs = (opts.startTime ?? new Date()).getTime();
    const now = this.clock.nowNs();
    // The sub-second part of startTime sets where the next update falls.
    this.secondsAtOrigin = Math.floor(startMs / 1000);
    this.originNs = now - (startMs - this.secondsAtOrigin * 1000) * 1_000_000;
    this.ram[REG_A] = 0x26; // 32.768 kHz divider, 1024 Hz periodic rate
    this.ram[REG_B] = B_24H; // BCD, 24-hour, as a PC BIOS leaves it
    this.ram[REG_D] = D_VRT;
    this.scheduleUpdate();
  }

  /** Record the machine's memory size where BIOSes and Linux's early code look for it. */
  setMemorySize(belowFourGiB: number, aboveFourGiB = 0): void {
    const put16 = (at: number, v: number) => { this.ram[at] = v & 0xff; this.ram[at + 1] = (v >> 8) & 0xff; };
    put16(0x15, 640); // base memory in KiB
    const extKiB = Math.min(0xffff, Math.max(0, Math.floor(belowFourGiB / 1024) - 1024));
    put16(0x17, extKiB);
    put16(0x30, extKiB);
    const above16M = Math.min(0xffff, Math.max(0, Math.floor((belowFourGiB - 16 * 1024 * 1024) / 65536)));
    put16(0x34, above16M);
    const above4G = Math.floor(aboveFourGiB / 65536);
    this.ram[0x5b] = above4G & 0xff;
    this.ram[0x5c] = (above4G >> 8) & 0xff;
    this.ram[0x5d] = (above4G >> 16) & 0xff;
  }

  ioRead(port: number, _size: number): number {
    if (port === 0x70) return 0xff; // the index register is write-only
    return this.readRegister(this.index);
  }

  ioWrite(port: number, _size: number, value: number): void {
    if (port === 0x70) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    this.writeRegister(this.index, value & 0xff);
  }

  /** Whether the last index write masked NMIs (unused: nothing raises NMIs). */
  get nmiMask(): boolean { return this.nmiMasked; }

  private readRegister(reg: number): number {
    switch (reg) {
      case SECONDS: case MINUTES: case HOURS: case DAY_OF_WEEK:
      case DAY: case MONTH: case YEAR: case CENTURY:
        return this.encodeTimeRegister(reg, this.currentFields());
      case REG_A: return this.ram[REG_A]! | (this.updateImminent() ? A_UIP : 0);
      case REG_C: {
        const c = this.ram[REG_C]!;
        this.ram[REG_C] = 0;
        this.updateIrq();
        return c;
      }
      default: return this.ram[reg]!;
    }
  }

  private writeRegister(reg: number, value: number): void {
    switch (reg) {
      case SECONDS: case MINUTES: case HOURS: case DAY: case MONTH: case YEAR: case CENTURY: {
        const f = this.currentFields();
        this.decodeTimeRegister(reg, value, f);
        if (this.held) this.held = f;
        else this.setRunningTime(secondsOf(f));
        return;
      }
      case DAY_OF_WEEK: return; // derived from the date
      case REG_A: this.writeRegisterA(value & 0x7f); return;
      case REG_B: this.writeRegisterB(value); return;
      case REG_C: case REG_D: return; // read-only
      default: this.ram[reg] = value;
    }
  }

  private writeRegisterA(value: number): void {
    const wasReset = this.dividerInReset();
    const stoppedBefore = this.stopped();
    if (!stoppedBefore && this.isStoppedWith(value, this.ram[REG_B]!)) this.held = this.currentFields();
    this.ram[REG_A] = value;
    if (wasReset && !this.dividerInReset()) {
      // Leaving divider reset restarts the chain: the first update is 500 ms away.
      this.originNs = this.clock.nowNs() - (NS_PER_S - FIRST_UPDATE_AFTER_RESET_NS);
    }
    this.resumeIfRunning();
    this.schedulePeriodic();
  }

  private writeRegisterB(value: number): void {
    const old = this.ram[REG_B]!;
    // SET going high aborts any update and clears UIE (datasheet).
    if ((value & B_SET) && !(old & B_SET)) value &= ~B_UIE;
    if (!this.stopped() && this.isStoppedWith(this.ram[REG_A]!, value)) this.held = this.currentFields();
    this.ram[REG_B] = value;
    this.resumeIfRunning();
    this.schedulePeriodic();
    this.updateIrq(); // enabling an interrupt whose flag is already set raises IRQF
  }

  private resumeIfRunning(): void {
    if (!this.held || this.stopped()) return;
    const f = this.held;
    this.held = undefined;
    this.setRunningTime(secondsOf(f));
  }

  /** Make the running clock read `seconds` now, keeping the divider's phase. */
  private setRunningTime(seconds: number): void {
    const elapsed = Math.floor((this.clock.nowNs() - this.originNs) / NS_PER_S);
    this.originNs += elapsed * NS_PER_S;
    this.secondsAtOrigin = seconds;
    this.scheduleUpdate();
  }

  private dividerInReset(): boolean { return (this.ram[REG_A]! & 0x60) === 0x60; }
  private isStoppedWith(a: number, b: number): boolean { return (a & 0x60) === 0x60 || (b & B_SET) !== 0; }
  private stopped(): boolean { return this.isStoppedWith(this.ram[REG_A]!, this.ram[REG_B]!); }

  private currentSeconds(): number {
    return this.secondsAtOrigin + Math.floor((this.clock.nowNs() - this.originNs) / NS_PER_S);
  }

  private currentFields(): Fields { return this.held ? { ...this.held } : fieldsOf(this.currentSeconds()); }

  private nextUpdateNs(): number {
    const elapsed = Math.floor((this.clock.nowNs() - this.originNs) / NS_PER_S);
    return this.originNs + (elapsed + 1) * NS_PER_S;
  }

  private updateImminent(): boolean {
    return !this.stopped() && this.nextUpdateNs() - this.clock.nowNs() <= UIP_LEAD_NS;
  }

  private encodeTimeRegister(reg: number, f: Fields): number {
    const b = this.ram[REG_B]!;
    const enc = (v: number) => (b & B_BINARY ? v : toBcd(v));
    switch (reg) {
      case SECONDS: return enc(f.sec);
      case MINUTES: return enc(f.min);
      case HOURS: {
        if (b & B_24H) return enc(f.hour);
        const h12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
        return enc(h12) | (f.hour >= 12 ? HOUR_PM : 0);
      }
      case DAY_OF_WEEK: return enc(new Date(secondsOf(f) * 1000).getUTCDay() + 1); // Sunday = 1
      case DAY: return enc(f.day);
      case MONTH: return enc(f.month);
      case YEAR: return enc(f.year % 100);
      default: return enc(Math.floor(f.year / 100)); // CENTURY
    }
  }

  private decodeTimeRegister(reg: number, value: number, f: Fields): void {
    const b = this.ram[REG_B]!;
    const dec = (v: number) => (b & B_BINARY ? v : fromBcd(v));
    switch (reg) {
      case SECONDS: f.sec = dec(value); break;
      case MINUTES: f.min = dec(value); break;
      case HOURS:
        if (b & B_24H) f.hour = dec(value);
        else f.hour = (dec(value & 0x7f) % 12) + (value & HOUR_PM ? 12 : 0);
        break;
      case DAY: f.day = dec(value); break;
      case MONTH: f.month = dec(value); break;
      case YEAR: f.year = Math.floor(f.year / 100) * 100 + dec(value); break;
      case CENTURY: f.year = dec(value) * 100 + (f.year % 100); break;
    }
  }

  /** The once-a-second update: sets UF, checks the alarm. Runs while the clock runs. */
  private scheduleUpdate(): void {
    this.updateTimer?.cancel();
    this.updateTimer = undefined;
    if (this.stopped()) return;
    this.updateTimer = this.clock.at(this.nextUpdateNs(), () => this.onUpdate());
  }

  private onUpdate(): void {
    this.updateTimer = undefined;
    if (this.stopped()) return;
    let flags = C_UF;
    if (this.alarmMatches()) flags |= C_AF;
    this.raiseFlags(flags);
    this.scheduleUpdate();
  }

  private alarmMatches(): boolean {
    const f = this.currentFields();
    const matches = (alarmReg: number, timeReg: number) => {
      const alarm = this.ram[alarmReg]!;
      return (alarm & 0xc0) === 0xc0 || alarm === this.encodeTimeRegister(timeReg, f); // 0xc0-0xff = don't care
    };
    return matches(ALARM_SECONDS, SECONDS) && matches(ALARM_MINUTES, MINUTES) && matches(ALARM_HOURS, HOURS);
  }

  /** Period of the square wave selected by register A bits 0-3, or undefined for none. */
  private periodNs(): number | undefined {
    const rs = this.ram[REG_A]! & 0x0f;
    if (rs === 0 || this.dividerInReset()) return undefined;
    const shift = rs <= 2 ? rs + 6 : rs - 1; // rates 1 and 2 repeat rates 8 and 9 (256, 128 Hz)
    return ((1 << shift) * NS_PER_S) / 32768;
  }

  /** Periodic timers run only while PIE is set: PF alone interests nobody we emulate. */
  private schedulePeriodic(): void {
    this.periodicTimer?.cancel();
    this.periodicTimer = undefined;
    const period = this.periodNs();
    if (period === undefined || !(this.ram[REG_B]! & B_PIE)) return;
    const k = Math.floor((this.clock.nowNs() - this.originNs) / period) + 1;
    this.periodicTimer = this.clock.at(this.originNs + k * period, () => {
      this.periodicTimer = undefined;
      this.raiseFlags(C_PF);
      this.schedulePeriodic();
    });
  }

  private raiseFlags(flags: number): void {
    this.ram[REG_C] = this.ram[REG_C]! | flags;
    this.updateIrq();
  }

  /** IRQF = any flag whose interrupt is enabled; the IRQ line follows it until C is read. */
  private updateIrq(): void {
    const c = this.ram[REG_C]!, b = this.ram[REG_B]!;
    const pending = ((c & C_PF) && (b & B_PIE)) || ((c & C_AF) && (b & B_AIE)) || ((c & C_UF) && (b & B_UIE));
    if (pending) this.ram[REG_C] = c | C_IRQF;
    const level = !!pending;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }
}
