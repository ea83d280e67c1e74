// The I/O APIC (82093AA-style, version 0x11, 24 pins) at 0xFEC00000: routes
// device interrupt lines to local APICs through its redirection table.
// Delivery is immediate, so the delivery-status bit always reads idle.
import type { IrqLine, MmioDevice } from './device.js';

export const IOAPIC_BASE = 0xfec00000;
const IOAPIC_PINS = 24;
const VERSION = 0x00170011; // max redirection entry 23, version 0x11

// Redirection entry low-dword bits.
const VECTOR = 0xff;
const DEST_LOGICAL = 1 << 11;
const ACTIVE_LOW = 1 << 13;
const REMOTE_IRR = 1 << 14;
const LEVEL_TRIGGER = 1 << 15;
const MASKED = 1 << 16;
const LOW_WRITABLE = 0x1afff; // vector, delivery mode, dest mode, polarity, trigger, mask
const HIGH_WRITABLE = 0xff000000; // destination field (bits 63:56)

export interface IoApicOptions {
  /** Send an interrupt message to the local APICs; `mode` is the 3-bit delivery mode, `level` the trigger mode. */
  deliver: (dest: number, destMode: 'physical' | 'logical', vector: number, mode: number, level: boolean) => void;
}

export class IoApic implements MmioDevice {
  readonly name = 'ioapic';
  readonly base = IOAPIC_BASE;
  readonly size = 0x1000;

  private regSel = 0;
  private id = 0;
  private readonly low = new Array<number>(IOAPIC_PINS).fill(MASKED);
  private readonly high = new Array<number>(IOAPIC_PINS).fill(0);
  /** Electrical level of each input, before polarity. */
  private readonly raw = new Array<boolean>(IOAPIC_PINS).fill(false);
  /** Asserted state last seen, for edge detection. */
  private readonly wasAsserted = new Array<boolean>(IOAPIC_PINS).fill(false);

  constructor(private readonly opts: IoApicOptions) {}

  irqLine(pin: number): IrqLine {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) throw new RangeError(`IOAPIC has no pin ${pin}`);
    return { set: (level) => { this.raw[pin] = level; this.update(pin); } };
  }

  /** A local APIC EOI'd a level-triggered vector: clear remote IRR and re-deliver pins still asserted. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      if ((this.low[pin]! & VECTOR) !== vector || !(this.low[pin]! & REMOTE_IRR)) continue;
      this.low[pin]! &= ~REMOTE_IRR;
      this.update(pin);
    }
  }

  mmioRead(offset: number, size: number): number {
    let value = 0;
    if (offset === 0x00) value = this.regSel;
    else if (offset === 0x10) value = this.readReg(this.regSel);
    return size >= 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
  }

  mmioWrite(offset: number, _size: number, value: number): void {
    if (offset === 0x00) this.regSel = value & 0xff;
    else if (offset === 0x10) this.writeReg(this.regSel, value >>> 0);
  }

  private readReg(reg: number): number {
    if (reg === 0x00) return this.id << 24;
    if (reg === 0x01) return VERSION;
    if (reg === 0x02) return this.id << 24; // arbitration id mirrors the APIC id
    const pin = (reg - 0x10) >> 1;
    if (reg < 0x10 || pin >= IOAPIC_PINS) return 0;
    return (reg & 1 ? this.high[pin]! : this.low[pin]!) >>> 0;
  }

  private writeReg(reg: number, value: number): void {
    if (reg === 0x00) { this.id = (value >>> 24) & 0xf; return; }
    const pin = (reg - 0x10) >> 1;
    if (reg < 0x10 || pin >= IOAPIC_PINS) return;
    if (reg & 1) { this.high[pin] = (value & HIGH_WRITABLE) >>> 0; return; }
    let low = (value & LOW_WRITABLE) | (this.low[pin]! & REMOTE_IRR);
    if (!(low & LEVEL_TRIGGER)) low &= ~REMOTE_IRR; // remote IRR has no meaning for edge pins
    this.low[pin] = low;
    // A polarity change must not look like an edge; an unmask lets a held level through.
    if (low & LEVEL_TRIGGER) this.update(pin);
    else this.wasAsserted[pin] = this.asserted(pin);
  }

  private asserted(pin: number): boolean {
    return this.raw[pin] !== !!(this.low[pin]! & ACTIVE_LOW);
  }

  private update(pin: number): void {
    const asserted = this.asserted(pin);
    const rising = asserted && !this.wasAsserted[pin];
    this.wasAsserted[pin] = asserted;
    const low = this.low[pin]!;
    if (low & MASKED) return;
    if (low & LEVEL_TRIGGER) {
      if (!asserted || low & REMOTE_IRR) return;
      this.low[pin] = low | REMOTE_IRR;
      this.send(pin);
    } else if (rising) {
      this.send(pin);
    }
  }

  private send(pin: number): void {
    const low = this.low[pin]!;
    this.opts.deliver(this.high[pin]! >>> 24, low & DEST_LOGICAL ? 'logical' : 'physical',
      low & VECTOR, (low >> 8) & 7, !!(low & LEVEL_TRIGGER));
  }
}
