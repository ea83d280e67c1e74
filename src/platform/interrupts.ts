// How interrupts reach the one vCPU of a PC: ISA IRQ lines go to both the
// 8259 pair and the IOAPIC (IRQ 0 on pin 2, as the MADT's override says); the
// IOAPIC and IPIs send messages to the local APIC; the PIC's INT output
// reaches the CPU through LINT0 in ExtINT mode (virtual wire, as firmware
// leaves the BSP), or directly while the APIC is disabled in IA32_APIC_BASE.
// The CPU's INTR line and interrupt acknowledge go through here.
import { allOnes, type GuestClock, type IrqLine, type MmioDevice } from './device.js';
import { Pic8259Pair } from './pic8259.js';
import { IoApic, IOAPIC_BASE } from './ioapic.js';
import { LocalApic, LAPIC_BASE, type Ipi } from './lapic.js';
import { Msr } from '../backend/abi.js';

const APIC_BASE_ENABLE = 0x800n;
/** IOAPIC delivery modes (redirection entry bits 10:8) that carry a vector. */
const DM_FIXED = 0, DM_LOWEST = 1, DM_NMI = 4;
/** Message-signalled interrupts are writes to 0xFEExxxxx (SDM 10.11.1), whatever the APIC base. */
const MSI_ADDRESS_MASK = 0xfff00000, MSI_ADDRESS = 0xfee00000;
const MSI_DEST_SHIFT = 12, MSI_DEST_LOGICAL = 0x4;
const MSI_DATA_TRIGGER_LEVEL = 0x8000;

export interface PcInterruptsOptions {
  clock: GuestClock;
  /** Guest TSC frequency (the LAPIC's TSC-deadline timer counts in it). */
  tscHz: number;
  /** The CPU's INTR input. */
  setCpuIntr: (asserted: boolean) => void;
  /** The CPU's NMI input. */
  sendNmi: () => void;
}

export class PcInterrupts {
  readonly pic: Pic8259Pair;
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  /** The MMIO devices this wiring owns, for the machine's MMIO decoder. */
  readonly mmioDevices: MmioDevice[];
  private apicEnabled = true;
  private picIntr = false;
  private lapicIntr = false;
  private cpuIntr = false;
  private readonly isaLines: IrqLine[];

  constructor(private readonly opts: PcInterruptsOptions) {
    this.pic = new Pic8259Pair({ onIntr: (asserted) => { this.picIntr = asserted; this.lapic.setLint0(asserted); this.update(); } });
    this.lapic = new LocalApic({
      id: 0,
      clock: opts.clock,
      tscHz: opts.tscHz,
      virtualWire: true,
      onIntr: (asserted) => { this.lapicIntr = asserted; this.update(); },
      sendIpi: (ipi) => this.routeIpi(ipi),
      extIntVector: () => this.pic.acknowledge(),
      onNmi: opts.sendNmi,
      onEoi: (vector) => this.ioapic.eoi(vector),
    });
    this.ioapic = new IoApic({ deliver: (dest, destMode, vector, mode, level) => this.ioapicMessage(dest, destMode, vector, mode, level) });
    this.isaLines = Array.from({ length: 16 }, (_, irq) => {
      const toPic = this.pic.irqLine(irq);
      const toIoApic = this.ioapic.irqLine(irq === 0 ? 2 : irq);
      return { set: (level: boolean) => { toPic.set(level); toIoApic.set(level); } };
    });
    const lapicMmio: MmioDevice = {
      name: 'lapic', base: LAPIC_BASE, size: 0x1000,
      // A hardware-disabled APIC does not decode its page: reads float high.
      mmioRead: (offset, size) => (this.apicEnabled ? this.lapic.mmioRead(offset, size) : allOnes(size)),
      mmioWrite: (offset, size, value) => { if (this.apicEnabled) this.lapic.mmioWrite(offset, size, value); },
    };
    this.mmioDevices = [lapicMmio, this.ioapic];
  }

  /** ISA IRQ `irq` (0-15): wired to PIC input `irq` and IOAPIC pin `irq` (pin 2 for IRQ 0). */
  isaIrq(irq: number): IrqLine {
    const line = this.isaLines[irq];
    if (!line) throw new RangeError(`ISA IRQ ${irq} out of range 0-15`);
    return line;
  }

  /**
   * A message-signalled interrupt (MSI or MSI-X): a device wrote `data` to
   * `address`. Address: destination ID (bits 19:12) and destination mode;
   * data: vector, delivery mode and trigger mode (SDM 10.11.2). Anything
   * outside the interrupt window is not an interrupt and is dropped.
   */
  msi(address: number, data: number): void {
    if (((address & MSI_ADDRESS_MASK) >>> 0) !== MSI_ADDRESS) return;
    const dest = (address >>> MSI_DEST_SHIFT) & 0xff;
    const destMode = address & MSI_DEST_LOGICAL ? 'logical' : 'physical';
    this.ioapicMessage(dest, destMode, data & 0xff, (data >>> 8) & 7, (data & MSI_DATA_TRIGGER_LEVEL) !== 0);
  }

  /** The CPU's interrupt acknowledge: a LAPIC vector, the PIC's through ExtINT, or -1. */
  acknowledge(): number {
    return this.apicEnabled ? this.lapic.acknowledge() : this.pic.acknowledge();
  }

  /** RDMSR of an MSR this wiring serves; undefined if it is not one of them. */
  readMsr(index: number): bigint | undefined {
    if (index === Msr.TSC_DEADLINE) return this.lapic.readTscDeadline();
    return undefined;
  }

  /**
   * WRMSR of an MSR this wiring serves (the caller still stores IA32_APIC_BASE
   * in the CPU); false if it is not one of them.
   */
  writeMsr(index: number, value: bigint): boolean {
    if (index === Msr.TSC_DEADLINE) { this.lapic.writeTscDeadline(value); return true; }
    if (index === Msr.APIC_BASE) { this.setApicEnabled((value & APIC_BASE_ENABLE) !== 0n); return true; }
    return false;
  }

  /** IA32_APIC_BASE's global enable: while clear, the PIC drives INTR directly. */
  private setApicEnabled(on: boolean): void {
    if (on === this.apicEnabled) return;
    this.apicEnabled = on;
    // Re-enabling starts from the power-on register state (SDM 10.4.3), in virtual wire as firmware leaves it.
    if (on) this.lapic.initReset();
    this.update();
  }

  private update(): void {
    const intr = this.apicEnabled ? this.lapicIntr : this.picIntr;
    if (intr === this.cpuIntr) return;
    this.cpuIntr = intr;
    this.opts.setCpuIntr(intr);
  }

  /** An interrupt message from the IOAPIC or a device's MSI. */
  private ioapicMessage(dest: number, destMode: 'physical' | 'logical', vector: number, mode: number, level: boolean): void {
    if (!this.apicEnabled || !this.lapic.acceptsDestination(dest, destMode)) return;
    if (mode === DM_FIXED || mode === DM_LOWEST) this.lapic.deliver(vector, level);
    else if (mode === DM_NMI) this.opts.sendNmi();
    // SMI, INIT and ExtINT messages from the IOAPIC are not modelled (Linux does not program them).
  }

  /** One processor: only messages that include the sender itself arrive. */
  private routeIpi(ipi: Ipi): void {
    const toSelf = ipi.shorthand === 'self' || ipi.shorthand === 'all' ||
      (ipi.shorthand === 'none' && this.lapic.acceptsDestination(ipi.dest, ipi.destMode));
    if (!toSelf) return;
    if (ipi.mode === 'fixed' || ipi.mode === 'lowest') this.lapic.deliver(ipi.vector, ipi.trigger === 'level');
    else if (ipi.mode === 'nmi') this.opts.sendNmi();
    // INIT, SIPI and SMI to the only processor are ignored.
  }
}

export { IOAPIC_BASE, LAPIC_BASE };
