// The PC's cascaded 8259A interrupt controllers: master at 0x20-0x21 (IRQ 0-7),
// slave at 0xA0-0xA1 (IRQ 8-15) feeding master IR2, plus the ELCR edge/level
// registers at 0x4D0-0x4D1. The CPU sees the master's INT output through
// `onIntr` and runs the INTA cycle with acknowledge().
import type { IrqLine, PortDevice } from './device.js';

/** One 8259A chip. Priority resolution follows the datasheet (and QEMU's model). */
class Pic8259Chip {
  irr = 0; // interrupt request register
  isr = 0; // in-service register
  imr = 0; // interrupt mask register
  elcr = 0; // edge/level control: a 1 bit makes that input level-triggered
  vectorBase = 0; // ICW2 (low 3 bits are the IR number)
  private lines = 0; // current input levels, for edge detection and level re-requests
  private ltim = false; // ICW1 bit 3: all inputs level-triggered
  private initStep = 0; // 0 = operational; 2..4 = next ICW expected
  private single = false;
  private needIcw4 = false;
  private autoEoi = false;
  private rotateOnAutoEoi = false;
  private lowestPriority = 7; // IR with the lowest priority; IR (lowestPriority+1)&7 is the highest
  private readIsr = false;
  private pollPending = false;
  private specialMask = false;

  constructor(readonly elcrMask: number) {}

  private levelMask(): number { return this.ltim ? 0xff : this.elcr; }

  setLine(ir: number, level: boolean): void {
    const bit = 1 << ir;
    const wasHigh = (this.lines & bit) !== 0;
    if (level) this.lines |= bit; else this.lines &= ~bit;
    if (this.levelMask() & bit) {
      // Level: the request follows the line.
      if (level) this.irr |= bit; else this.irr &= ~bit;
    } else if (level && !wasHigh) {
      this.irr |= bit; // edge: latch the rising edge; it stays until INTA
    }
  }

  /** Priority rank (0 = highest) of the best bit in `mask`, 8 if none. */
  private bestRank(mask: number): number {
    for (let rank = 0; rank < 8; rank++) {
      if (mask & (1 << ((rank + this.lowestPriority + 1) & 7))) return rank;
    }
    return 8;
  }
  private irOfRank(rank: number): number { return (rank + this.lowestPriority + 1) & 7; }

  /** The IR this chip would present at INTA now, or -1 (its INT output is `pending() >= 0`). */
  pending(): number {
    const rank = this.bestRank(this.irr & ~this.imr);
    if (rank === 8) return -1;
    // In special mask mode, masked in-service levels do not block lower priorities.
    const inService = this.specialMask ? this.isr & ~this.imr : this.isr;
    return rank < this.bestRank(inService) ? this.irOfRank(rank) : -1;
  }

  /** INTA for `ir`: move it from IRR to ISR (or not, in auto-EOI mode). */
  ack(ir: number): void {
    const bit = 1 << ir;
    this.irr &= ~bit;
    if ((this.levelMask() & bit) && (this.lines & bit)) this.irr |= bit; // level still high: keeps requesting
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowestPriority = ir;
    } else {
      this.isr |= bit;
    }
  }

  /** Poll command read: acknowledges like INTA and returns 0x80|IR, or 0 if nothing pending. */
  poll(): number {
    const ir = this.pending();
    if (ir < 0) return 0;
    this.ack(ir);
    return 0x80 | ir;
  }

  read(a0: number): number {
    if (this.pollPending) {
      this.pollPending = false;
      return this.poll();
    }
    if (a0) return this.imr;
    return this.readIsr ? this.isr : this.irr;
  }

  write(a0: number, value: number): void {
    value &= 0xff;
    if (a0 === 0 && value & 0x10) return this.icw1(value);
    if (a0 === 0 && value & 0x08) return this.ocw3(value);
    if (a0 === 0) return this.ocw2(value);
    switch (this.initStep) {
      case 2: // ICW2: vector base
        this.vectorBase = value & 0xf8;
        this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
        return;
      case 3: // ICW3: the cascade wiring is fixed (slave on master IR2), so only the sequence matters
        this.initStep = this.needIcw4 ? 4 : 0;
        return;
      case 4: // ICW4: bit 1 = auto EOI (bit 4 special fully nested mode is not modelled)
        this.autoEoi = (value & 0x02) !== 0;
        this.initStep = 0;
        return;
      default: // OCW1
        this.imr = value;
    }
  }

  private icw1(value: number): void {
    this.ltim = (value & 0x08) !== 0;
    this.single = (value & 0x02) !== 0;
    this.needIcw4 = (value & 0x01) !== 0;
    this.imr = 0;
    this.isr = 0;
    // Initialization clears the edge-sense latch: edge inputs need a new rising edge.
    this.irr = this.lines & this.levelMask();
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.lowestPriority = 7;
    this.readIsr = false;
    this.specialMask = false;
    this.pollPending = false;
    this.initStep = 2;
  }

  private ocw2(value: number): void {
    const command = value >> 5;
    const level = value & 7;
    switch (command) {
      case 0: this.rotateOnAutoEoi = false; break;
      case 4: this.rotateOnAutoEoi = true; break;
      case 1: // non-specific EOI
      case 5: { // rotate on non-specific EOI
        const rank = this.bestRank(this.isr);
        if (rank === 8) break;
        const ir = this.irOfRank(rank);
        this.isr &= ~(1 << ir);
        if (command === 5) this.lowestPriority = ir;
        break;
      }
      case 3: this.isr &= ~(1 << level); break; // specific EOI
      case 7: this.isr &= ~(1 << level); this.lowestPriority = level; break; // rotate on specific EOI
      case 6: this.lowestPriority = level; break; // set priority
      default: break; // 2: no operation
    }
  }

  private ocw3(value: number): void {
    if (value & 0x04) this.pollPending = true;
    if (value & 0x02) this.readIsr = (value & 0x01) !== 0;
    if (value & 0x40) this.specialMask = (value & 0x20) !== 0;
  }

  writeElcr(value: number): void {
    this.elcr = value & this.elcrMask;
    // Inputs that became level-triggered request while high.
    this.irr = (this.irr & ~this.levelMask()) | (this.lines & this.levelMask());
  }
}

export interface Pic8259Options {
  /** Called when the master's INT output to the CPU changes. */
  onIntr: (asserted: boolean) => void;
}

const CASCADE_IR = 2;

export class Pic8259Pair implements PortDevice {
  readonly name = 'pic8259';
  readonly ports = [[0x20, 0x21], [0xa0, 0xa1], [0x4d0, 0x4d1]] as const;
  // ELCR bits for IRQ 0, 1, 2, 8 and 13 are hard-wired to edge on PC chipsets.
  private readonly master = new Pic8259Chip(0xf8);
  private readonly slave = new Pic8259Chip(0xde);
  private intr = false;
  /** Set when INT was up at some point since the last INTA: an INTA then returns a vector, if only a spurious one. */
  private intrRaisedSinceAck = false;
  private readonly onIntr: (asserted: boolean) => void;

  constructor(options: Pic8259Options) {
    this.onIntr = options.onIntr;
  }

  irqLine(n: number): IrqLine {
    if (!Number.isInteger(n) || n < 0 || n > 15) throw new RangeError(`ISA IRQ ${n} out of range 0-15`);
    return {
      set: (level: boolean) => {
        if (n < 8) this.master.setLine(n, level); else this.slave.setLine(n - 8, level);
        this.update();
      },
    };
  }

  /** True while the master's INT output is asserted. */
  get intrAsserted(): boolean { return this.intr; }

  /**
   * The INTA cycle: the vector of the highest-priority pending unmasked request,
   * moved from IRR to ISR. As on the real part, if INT was raised but the request
   * vanished before INTA, the answer is the spurious IR7 vector (IRQ 7, or IRQ 15
   * when the slave was selected) without setting ISR. -1 if INT was never raised.
   */
  acknowledge(): number {
    const ir = this.master.pending();
    let vector: number;
    if (ir < 0) {
      vector = this.intrRaisedSinceAck ? this.master.vectorBase + 7 : -1;
    } else {
      this.master.ack(ir);
      if (ir === CASCADE_IR) {
        const slaveIr = this.slave.pending();
        if (slaveIr >= 0) this.slave.ack(slaveIr);
        vector = this.slave.vectorBase + (slaveIr >= 0 ? slaveIr : 7);
      } else {
        vector = this.master.vectorBase + ir;
      }
    }
    this.update();
    this.intrRaisedSinceAck = this.intr; // INT still up: the next INTA owes a vector too
    return vector;
  }

  ioRead(port: number, _size: number): number {
    let value: number;
    if (port === 0x4d0) value = this.master.elcr;
    else if (port === 0x4d1) value = this.slave.elcr;
    else value = (port & 0x80 ? this.slave : this.master).read(port & 1);
    // A poll read acknowledges, so outputs may change.
    this.update();
    return value;
  }

  ioWrite(port: number, _size: number, value: number): void {
    if (port === 0x4d0) this.master.writeElcr(value);
    else if (port === 0x4d1) this.slave.writeElcr(value);
    else (port & 0x80 ? this.slave : this.master).write(port & 1, value);
    this.update();
  }

  /** Propagate the slave's INT to master IR2, then the master's INT to the CPU. */
  private update(): void {
    this.master.setLine(CASCADE_IR, this.slave.pending() >= 0);
    const intr = this.master.pending() >= 0;
    if (intr === this.intr) return;
    this.intr = intr;
    if (intr) this.intrRaisedSinceAck = true;
    this.onIntr(intr);
  }
}
