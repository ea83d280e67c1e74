// How interrupts reach the vCPUs of a PC: ISA IRQ lines go to both the 8259
// pair and the IOAPIC (IRQ 0 on pin 2, as the MADT's override says); the
// IOAPIC and IPIs send messages to the local APICs (one per vCPU, APIC id =
// vCPU index); the PIC's INT output reaches the boot CPU through LINT0 in
// ExtINT mode (virtual wire, as firmware leaves the BSP), or directly while
// its APIC is disabled in IA32_APIC_BASE. Each CPU's INTR line, NMI, INIT,
// SIPI and interrupt acknowledge go through here.
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
  /** Processors, each with its local APIC (default 1); CPU 0 is the boot processor. */
  cpus?: number;
  /** A CPU's INTR input. */
  setCpuIntr: (asserted: boolean, cpu: number) => void;
  /** A CPU's NMI input. */
  sendNmi: (cpu: number) => void;
  /** An INIT message to a CPU (it resets and waits for a SIPI). */
  sendInit?: (cpu: number) => void;
  /** A startup IPI to a CPU waiting for one: it starts in real mode at vector << 12. */
  sendSipi?: (cpu: number, vector: number) => void;
}

/** One processor's interrupt inputs as this wiring tracks them. */
interface CpuPins {
  readonly lapic: LocalApic;
  apicEnabled: boolean;
  lapicIntr: boolean;
  cpuIntr: boolean;
}

export class PcInterrupts {
  readonly pic: Pic8259Pair;
  /** The local APICs, indexed by CPU (APIC id = index). */
  readonly lapics: readonly LocalApic[];
  readonly ioapic: IoApic;
  /** The MMIO devices this wiring owns, for the machine's MMIO decoder. */
  readonly mmioDevices: MmioDevice[];
  private readonly cpus: CpuPins[];
  private picIntr = false;
  private readonly isaLines: IrqLine[];

  constructor(private readonly opts: PcInterruptsOptions) {
    const n = opts.cpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 255) throw new RangeError(`a PC has 1 to 255 CPUs (got ${n})`);
    this.pic = new Pic8259Pair({
      onIntr: (asserted) => { this.picIntr = asserted; this.cpus[0]!.lapic.setLint0(asserted); this.update(0); },
    });
    this.cpus = Array.from({ length: n }, (_, cpu) => ({
      lapic: new LocalApic({
        id: cpu,
        clock: opts.clock,
        tscHz: opts.tscHz,
        virtualWire: cpu === 0,
        onIntr: (asserted) => { this.cpus[cpu]!.lapicIntr = asserted; this.update(cpu); },
        sendIpi: (ipi) => this.routeIpi(ipi),
        extIntVector: () => this.pic.acknowledge(),
        onNmi: () => opts.sendNmi(cpu),
        onEoi: (vector) => this.ioapic.eoi(vector),
      }),
      apicEnabled: true, lapicIntr: false, cpuIntr: false,
    }));
    this.lapics = this.cpus.map((c) => c.lapic);
    this.ioapic = new IoApic({ deliver: (dest, destMode, vector, mode, level) => this.ioapicMessage(dest, destMode, vector, mode, level) });
    this.isaLines = Array.from({ length: 16 }, (_, irq) => {
      const toPic = this.pic.irqLine(irq);
      const toIoApic = this.ioapic.irqLine(irq === 0 ? 2 : irq);
      return { set: (level: boolean) => { toPic.set(level); toIoApic.set(level); } };
    });
    const lapicMmio: MmioDevice = {
      // Every CPU sees its own APIC at the same address.
      name: 'lapic', base: LAPIC_BASE, size: 0x1000,
      // A hardware-disabled APIC does not decode its page: reads float high.
      mmioRead: (offset, size, cpu) => {
        const c = this.cpus[cpu];
        return c?.apicEnabled ? c.lapic.mmioRead(offset, size) : allOnes(size);
      },
      mmioWrite: (offset, size, value, cpu) => {
        const c = this.cpus[cpu];
        if (c?.apicEnabled) c.lapic.mmioWrite(offset, size, value);
      },
    };
    this.mmioDevices = [lapicMmio, this.ioapic];
  }

  /** The boot processor's local APIC. */
  get lapic(): LocalApic { return this.lapics[0]!; }

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

  /** CPU `cpu`'s interrupt acknowledge: a LAPIC vector, the PIC's through ExtINT, or -1. */
  acknowledge(cpu = 0): number {
    const c = this.cpus[cpu];
    if (!c) return -1;
    if (c.apicEnabled) return c.lapic.acknowledge();
    return cpu === 0 ? this.pic.acknowledge() : -1;
  }

  /** RDMSR of an MSR this wiring serves, on CPU `cpu`; undefined if it is not one of them. */
  readMsr(index: number, cpu = 0): bigint | undefined {
    if (index === Msr.TSC_DEADLINE) return this.cpus[cpu]?.lapic.readTscDeadline();
    return undefined;
  }

  /**
   * WRMSR of an MSR this wiring serves, on CPU `cpu` (the caller still stores
   * IA32_APIC_BASE in the CPU); false if it is not one of them.
   */
  writeMsr(index: number, value: bigint, cpu = 0): boolean {
    const c = this.cpus[cpu];
    if (!c) return false;
    if (index === Msr.TSC_DEADLINE) { c.lapic.writeTscDeadline(value); return true; }
    if (index === Msr.APIC_BASE) { this.setApicEnabled(cpu, (value & APIC_BASE_ENABLE) !== 0n); return true; }
    return false;
  }

  /** IA32_APIC_BASE's global enable: while clear, the boot CPU's INTR is the PIC's. */
  private setApicEnabled(cpu: number, on: boolean): void {
    const c = this.cpus[cpu]!;
    if (on === c.apicEnabled) return;
    c.apicEnabled = on;
    // Re-enabling starts from the power-on register state (SDM 10.4.3), in virtual wire as firmware leaves it.
    if (on) c.lapic.initReset();
    this.update(cpu);
  }

  private update(cpu: number): void {
    const c = this.cpus[cpu]!;
    const intr = c.apicEnabled ? c.lapicIntr : cpu === 0 && this.picIntr;
    if (intr === c.cpuIntr) return;
    c.cpuIntr = intr;
    this.opts.setCpuIntr(intr, cpu);
  }

  /** CPUs whose enabled APIC accepts a message to `dest` in `destMode`. */
  private destinations(dest: number, destMode: 'physical' | 'logical'): number[] {
    const out: number[] = [];
    this.cpus.forEach((c, i) => { if (c.apicEnabled && c.lapic.acceptsDestination(dest, destMode)) out.push(i); });
    return out;
  }

  /**
   * Lowest-priority arbitration: the accepting CPU with the lowest task
   * priority, the lowest index among equals (deterministic, as the SDM
   * leaves the choice among equals to the chipset).
   */
  private lowestPriority(cpus: number[]): number[] {
    let best: number | undefined;
    for (const i of cpus) if (best === undefined || this.cpus[i]!.lapic.taskPriority < this.cpus[best]!.lapic.taskPriority) best = i;
    return best === undefined ? [] : [best];
  }

  /** An interrupt message from the IOAPIC or a device's MSI. */
  private ioapicMessage(dest: number, destMode: 'physical' | 'logical', vector: number, mode: number, level: boolean): void {
    let targets = this.destinations(dest, destMode);
    if (mode === DM_LOWEST) targets = this.lowestPriority(targets);
    for (const cpu of targets) {
      if (mode === DM_FIXED || mode === DM_LOWEST) this.cpus[cpu]!.lapic.deliver(vector, level);
      else if (mode === DM_NMI) this.opts.sendNmi(cpu);
      // SMI, INIT and ExtINT messages from the IOAPIC are not modelled (Linux does not program them).
    }
  }

  /** An IPI from the ICR of APIC `ipi.source` to the CPUs its shorthand or destination names. */
  private routeIpi(ipi: Ipi): void {
    let targets: number[];
    switch (ipi.shorthand) {
      case 'self': targets = [ipi.source]; break;
      case 'all': targets = this.cpus.map((_, i) => i); break;
      case 'all-but-self': targets = this.cpus.map((_, i) => i).filter((i) => i !== ipi.source); break;
      default: targets = this.destinations(ipi.dest, ipi.destMode);
    }
    if (ipi.mode === 'lowest') targets = this.lowestPriority(targets.filter((i) => this.cpus[i]!.apicEnabled));
    for (const cpu of targets) this.deliverIpi(cpu, ipi);
  }

  private deliverIpi(cpu: number, ipi: Ipi): void {
    const c = this.cpus[cpu];
    if (!c) return;
    switch (ipi.mode) {
      case 'fixed': case 'lowest':
        if (c.apicEnabled) c.lapic.deliver(ipi.vector, ipi.trigger === 'level');
        return;
      case 'nmi': this.opts.sendNmi(cpu); return;
      case 'init':
        // The level de-assert INIT (level 0, trigger level) only synchronises arbitration IDs: no effect.
        if (!ipi.level && ipi.trigger === 'level') return;
        if (cpu === ipi.source) return; // a processor does not INIT itself (Linux never asks; the SDM disallows the self shorthand)
        c.lapic.initReset();
        this.opts.sendInit?.(cpu);
        return;
      case 'sipi': this.opts.sendSipi?.(cpu, ipi.vector); return;
      case 'smi': return; // not modelled
    }
  }
}

export { IOAPIC_BASE, LAPIC_BASE };
