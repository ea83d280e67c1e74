// A 16550A UART (COM1 at 0x3f8 on PCs). Transmission is instantaneous, so
// THRE/TEMT always read as set; host keystrokes wait on the host side until
// the 16-byte receive FIFO has room, so input is never lost.
import type { IrqLine, PortDevice } from './device.js';

export interface Uart16550Options {
  base: number;
  irq: IrqLine;
  output: (bytes: Uint8Array) => void;
}

const FIFO_SIZE = 16;

// Register bits, named as in Linux's serial_reg.h.
const IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08;
const IIR_NO_INT = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06, IIR_TIMEOUT = 0x0c;
const IIR_FIFOS_ON = 0xc0;
const FCR_ENABLE = 0x01, FCR_CLEAR_RCVR = 0x02; // bit 2 clears the transmit FIFO, always empty here
const LCR_DLAB = 0x80;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const LSR_ERRORS = 0x1e; // OE, PE, FE, BI: the line status interrupt sources
const MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
/** Outside loopback the host side looks like a connected, ready terminal. */
const MSR_HOST_LINES = MSR_CTS | MSR_DSR | MSR_DCD;
const RX_TRIGGER_LEVELS = [1, 4, 8, 14];

export class Uart16550 implements PortDevice {
  readonly name = 'uart16550';
  readonly ports: ReadonlyArray<readonly [number, number]>;

  private readonly base: number;
  private readonly irq: IrqLine;
  private readonly output: (bytes: Uint8Array) => void;

  private rxFifo: number[] = [];
  /** Host bytes not yet in the FIFO (it holds at most 16, or 1 with FIFOs off). */
  private hostBacklog: number[] = [];
  private ier = 0;
  private fifoControl = 0; // last FCR value (bit 0 = FIFOs on, bits 6-7 = trigger)
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0; // OE (the only error we model), cleared by reading LSR
  private msrDeltas = 0;
  private scratch = 0;
  private divisor = 0;
  /** THR-empty interrupt latch: set when THR empties or THRI is enabled, cleared by IIR read / THR write. */
  private thrEmptyPending = false;
  private irqLevel = false;

  constructor(opts: Uart16550Options) {
    this.base = opts.base;
    this.irq = opts.irq;
    this.output = opts.output;
    this.ports = [[opts.base, opts.base + 7]];
  }

  /** Host keystrokes for the guest. */
  input(bytes: Uint8Array): void {
    // In loopback the receiver is cut off from the line; bytes wait until it ends.
    for (const b of bytes) this.hostBacklog.push(b);
    this.refillFromHost();
    this.updateIrq();
  }

  ioRead(port: number, _size: number): number {
    const value = this.readRegister(port - this.base);
    this.updateIrq();
    return value;
  }

  ioWrite(port: number, _size: number, value: number): void {
    this.writeRegister(port - this.base, value & 0xff);
    this.updateIrq();
  }

  private get fifosOn(): boolean { return (this.fifoControl & FCR_ENABLE) !== 0; }
  private get rxCapacity(): number { return this.fifosOn ? FIFO_SIZE : 1; }

  private readRegister(offset: number): number {
    switch (offset) {
      case 0: {
        if (this.lcr & LCR_DLAB) return this.divisor & 0xff;
        const b = this.rxFifo.shift() ?? 0;
        this.refillFromHost();
        return b;
      }
      case 1: return this.lcr & LCR_DLAB ? this.divisor >> 8 : this.ier;
      case 2: {
        const id = this.interruptId();
        if (id === IIR_THRI) this.thrEmptyPending = false; // reading IIR acknowledges THRE
        return id | (this.fifosOn ? IIR_FIFOS_ON : 0);
      }
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: {
        const lsr = this.lineStatus();
        this.lsrErrors = 0;
        return lsr;
      }
      case 6: {
        const msr = this.modemStatus();
        this.msrDeltas = 0;
        return msr;
      }
      default: return this.scratch;
    }
  }

  private writeRegister(offset: number, value: number): void {
    switch (offset) {
      case 0:
        if (this.lcr & LCR_DLAB) { this.divisor = (this.divisor & 0xff00) | value; return; }
        this.transmit(value);
        return;
      case 1: {
        if (this.lcr & LCR_DLAB) { this.divisor = (this.divisor & 0xff) | (value << 8); return; }
        const old = this.ier;
        this.ier = value & 0x0f; // bits 4-7 are reserved and read as 0 (Linux's scratch test relies on it)
        // A 16550 re-asserts THRE whenever THRI is turned on with THR empty (Linux's THRE test).
        if ((this.ier & IER_THRI) && !(old & IER_THRI)) this.thrEmptyPending = true;
        return;
      }
      case 2: this.writeFifoControl(value); return;
      case 3: this.lcr = value; return;
      case 4: this.writeModemControl(value & 0x1f); return;
      case 5: case 6: return; // LSR and MSR are read-only
      default: this.scratch = value;
    }
  }

  private writeFifoControl(value: number): void {
    const toggled = ((value ^ this.fifoControl) & FCR_ENABLE) !== 0;
    if (toggled || (value & FCR_CLEAR_RCVR)) this.rxFifo = [];
    this.fifoControl = value & 0xc9; // keep enable, DMA mode and trigger bits
    this.refillFromHost();
  }

  private writeModemControl(value: number): void {
    const oldLines = this.modemLines();
    this.mcr = value;
    const newLines = this.modemLines();
    // Delta bits latch changes of CTS/DSR/DCD and the falling edge of RI.
    const changed = oldLines ^ newLines;
    if (changed & MSR_CTS) this.msrDeltas |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDeltas |= MSR_DDSR;
    if (changed & MSR_DCD) this.msrDeltas |= MSR_DDCD;
    if ((oldLines & MSR_RI) && !(newLines & MSR_RI)) this.msrDeltas |= MSR_TERI;
    if (!(value & MCR_LOOP)) this.refillFromHost();
  }

  private transmit(byte: number): void {
    this.thrEmptyPending = false;
    if (this.mcr & MCR_LOOP) this.receive(byte);
    else this.output(Uint8Array.of(byte));
    // Instantaneous transmission: THR is empty again at once.
    if (this.ier & IER_THRI) this.thrEmptyPending = true;
  }

  /** A byte arriving at the receiver; a full FIFO overruns (the byte is lost). */
  private receive(byte: number): void {
    if (this.rxFifo.length >= this.rxCapacity) {
      this.lsrErrors |= LSR_OE;
      if (!this.fifosOn) this.rxFifo[0] = byte; // the holding register is overwritten
      return;
    }
    this.rxFifo.push(byte);
  }

  private refillFromHost(): void {
    // Hardware flow control: the host transmits only while the guest asserts
    // RTS, which Linux raises once the port is opened (after its startup FIFO
    // clear), so keystrokes sent during boot are not thrown away.
    if ((this.mcr & MCR_LOOP) || !(this.mcr & MCR_RTS)) return;
    while (this.hostBacklog.length > 0 && this.rxFifo.length < this.rxCapacity) {
      this.rxFifo.push(this.hostBacklog.shift()!);
    }
  }

  private lineStatus(): number {
    return (this.rxFifo.length > 0 ? LSR_DR : 0) | this.lsrErrors | LSR_THRE | LSR_TEMT;
  }

  /** CTS/DSR/RI/DCD inputs: wired to RTS/DTR/OUT1/OUT2 in loopback, else a connected host. */
  private modemLines(): number {
    if (!(this.mcr & MCR_LOOP)) return MSR_HOST_LINES;
    return (this.mcr & MCR_RTS ? MSR_CTS : 0) | (this.mcr & MCR_DTR ? MSR_DSR : 0) |
      (this.mcr & MCR_OUT1 ? MSR_RI : 0) | (this.mcr & MCR_OUT2 ? MSR_DCD : 0);
  }

  private modemStatus(): number { return this.modemLines() | this.msrDeltas; }

  /** The highest-priority pending interrupt, as IIR bits 0-3. */
  private interruptId(): number {
    if ((this.ier & IER_RLSI) && (this.lsrErrors & LSR_ERRORS)) return IIR_RLSI;
    if ((this.ier & IER_RDI) && this.rxFifo.length > 0) {
      if (!this.fifosOn) return IIR_RDI;
      const trigger = RX_TRIGGER_LEVELS[this.fifoControl >> 6]!;
      // Below the trigger level real hardware reports a character timeout after
      // four character times; with no line timing we report it at once.
      return this.rxFifo.length >= trigger ? IIR_RDI : IIR_TIMEOUT;
    }
    if ((this.ier & IER_THRI) && this.thrEmptyPending) return IIR_THRI;
    if ((this.ier & IER_MSI) && this.msrDeltas) return IIR_MSI;
    return IIR_NO_INT;
  }

  /** On PCs OUT2 gates the UART's interrupt output onto the ISA IRQ line. */
  private updateIrq(): void {
    const level = this.interruptId() !== IIR_NO_INT && (this.mcr & MCR_OUT2) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }
}
