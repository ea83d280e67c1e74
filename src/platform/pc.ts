// A PC: the CPU backend plus the legacy devices, the local APIC and IOAPIC,
// and ACPI tables, wired together, with the run loop. Guest time is the
// host's monotonic clock while the machine runs (one HostTimebase read by the
// TSC and every device access); device timers fire on deadlines of that
// clock, the loop sizes each instruction slice to end near the next deadline,
// and sleeps while the guest idles in HLT.
import { Control, EventType, Exit, Msr, Reg, Vector } from '../backend/abi.js';
import type { Machine, MachineFactory, PlatformBus, Vcpu } from '../backend/interface.js';
import { directDma, type DmaPort, type Platform, type PlatformHooks, type RunStop } from './platform.js';
import { ManualClock, allOnes } from './device.js';
import { DeviceBus } from './bus.js';
import { Pit8254 } from './pit8254.js';
import { Uart16550 } from './uart16550.js';
import { CmosRtc } from './cmos.js';
import { I8042 } from './i8042.js';
import { PciHost } from './pci.js';
import { PcInterrupts } from './interrupts.js';
import { AcpiPm } from './acpi-pm.js';
import { AcpiPmTimer } from './acpi-pm-timer.js';
import { buildAcpiTables, SCI_IRQ } from './acpi.js';
import { HostTimebase } from './timebase.js';
import { serveMsrExit, type MsrDevices } from './msr-exits.js';
import { KvmClock, KVM_CPUID } from './kvmclock.js';
import type { VirtioDevice } from './virtio/device.js';
import { VirtioPci } from './virtio/pci.js';

export interface PcOptions {
  ramSize: number;
  /** The backend the PC is built on: given the PC's device bus and TSC source, it makes the Machine. */
  backend: MachineFactory;
  /** Bytes the guest writes to the serial console (COM1). */
  serialOutput: (bytes: Uint8Array) => void;
  /** The hypervisor core's hooks (none: a bare PC, whose devices reach all of RAM). */
  hooks?: PlatformHooks;
  /** Virtio devices, each a virtio-pci function at 00:01.0, 00:02.0, ... in this order. */
  virtio?: readonly VirtioDevice[];
  /** Host log lines of the devices (a driver that broke the virtio rules); default standard error. */
  log?: (line: string) => void;
}

/** PCI slot of the first virtio device (00:00.0 is the host bridge). */
const FIRST_VIRTIO_SLOT = 1;

/** Longest stretch of guest instructions between looks at device timers. */
const SLICE = 200_000;
/**
 * Slices before a deadline aim at this fraction of the time left: the speed
 * estimate is an average, and code run for the first time is several times
 * slower, so aiming at the deadline itself overshot it by milliseconds.
 */
const DEADLINE_AIM = 0.5;
/** Shortest slice, so a deadline that is due at once still lets the guest make progress. */
const MIN_SLICE = 2_000;
/** Longest sleep while the guest is halted with no timer armed (interrupts and stop() wake it sooner). */
const MAX_IDLE_MS = 1000;
/** A halted guest whose next deadline is nearer than this runs again at once instead of sleeping. */
const SPIN_BELOW_MS = 0.05;
/** Host time between yields to the event loop, which writes console output and reads input. */
const YIELD_EVERY_MS = 10;
/**
 * A CPU halted with interrupts off must stay so this long (guest time, the
 * machine's timers running) before the run ends: only an NMI could wake it,
 * and none arrived.
 */
const DEAD_HALT_NS = 1e9;
const RFLAGS_IF = 0x200n;
/** The guest TSC counts guest nanoseconds: a 1 GHz invariant TSC. */
export const TSC_HZ = 1_000_000_000;
/** Where the ACPI tables go: the BIOS area the kernel also scans for the RSDP. */
export const ACPI_TABLES_BASE = 0xe0000;
/** CPU controls the platform needs: device MSRs (TSC deadline, APIC base) exit to it. */
export const PLATFORM_CONTROLS = Control.USE_MSR_BITMAP;
/** The MSR accesses the platform intercepts (besides every MSR outside the bitmap's ranges, which always exit). */
export const PLATFORM_MSR_INTERCEPTS: ReadonlyArray<{ index: number; read: boolean; write: boolean }> = [
  { index: Msr.TSC_DEADLINE, read: true, write: true },
  { index: Msr.APIC_BASE, read: false, write: true },
];

export class PcMachine implements Platform {
  private stopReason: RunStop | undefined;
  /** Guest instructions per nanosecond of guest time, measured over recent slices. */
  private instructionsPerNs = 0.05;
  private inSlice = false;
  /** Guest time the running slice is expected to end. */
  private sliceEndNs = 0;
  private syncing = false;
  private wakeIdle: (() => void) | undefined;
  /** An interrupt or NMI was raised since the last slice began: a halted guest must run again, not sleep. */
  private wakePending = false;
  /** The last TSC value handed to the CPU before its offset, to turn guest TSC deadlines into guest time. */
  private lastRawTsc = 0;
  /** Devices with MSRs, asked in order on MSR exits. */
  private readonly msrDevices: MsrDevices[];
  readonly controls = PLATFORM_CONTROLS;
  readonly msrIntercepts = PLATFORM_MSR_INTERCEPTS;

  private constructor(
    readonly machine: Machine,
    readonly vcpu: Vcpu,
    readonly clock: ManualClock,
    readonly uart: Uart16550,
    /** The devices on the port and MMIO buses. */
    private readonly devices: DeviceBus,
    private readonly exitHandler: PlatformHooks['exit'],
    readonly timebase: HostTimebase,
    readonly interrupts: PcInterrupts,
    /** Guest-physical address of the ACPI RSDP (for the boot loader). */
    readonly rsdpAddr: number,
    dma: DmaPort,
  ) {
    const kvmclock = new KvmClock({
      dma,
      tscHz: TSC_HZ,
      now: () => {
        const tsc = this.vcpu.getMsr(Msr.TSC) ?? 0n;
        return { tsc, ns: BigInt(this.lastRawTsc) * 1_000_000_000n / BigInt(TSC_HZ) };
      },
    });
    this.msrDevices = [this.apicMsrs(), kvmclock];
    clock.onArm = (deadline) => {
      // A device armed a timer due before the running slice would end: end it now.
      if (this.inSlice && deadline < this.sliceEndNs) this.vcpu.requestStop();
    };
  }

  static async create(opts: PcOptions): Promise<PcMachine> {
    let pc: PcMachine | undefined;
    let vcpu: Vcpu | undefined;
    const clock = new ManualClock();
    const timebase = new HostTimebase();
    const irqs = new PcInterrupts({
      clock,
      tscHz: TSC_HZ,
      setCpuIntr: (asserted) => {
        vcpu?.setInterruptLine(asserted);
        if (asserted) pc?.wake();
      },
      sendNmi: () => { vcpu?.sendNmi(); pc?.wake(); },
    });
    const uart = new Uart16550({ base: 0x3f8, irq: irqs.isaIrq(4), output: opts.serialOutput });
    const rtc = new CmosRtc({ clock, irq: irqs.isaIrq(8) });
    const devices = new DeviceBus();
    const pci = new PciHost();
    for (const d of [
      irqs.pic,
      new Pit8254({ clock, irq0: irqs.isaIrq(0) }),
      uart,
      rtc,
      new I8042({ onReset: () => pc?.stop({ kind: 'reset' }), irq1: irqs.isaIrq(1), irq12: irqs.isaIrq(12) }),
      pci,
      new AcpiPm(() => pc?.stop({ kind: 'poweroff' }), irqs.isaIrq(SCI_IRQ)),
      new AcpiPmTimer(clock),
    ]) devices.addPortDevice(d);
    for (const d of irqs.mmioDevices) devices.addMmioDevice(d);
    devices.addMmioDevice(pci.mmio);
    const bus: PlatformBus = {
      ioIn: (port, size) => pc?.portIn(port, size) ?? allOnes(size),
      ioOut: (port, size, value) => pc?.portOut(port, size, value),
      mmioRead: (gpa, size, cpu) => {
        pc?.syncClock();
        const v = opts.hooks?.mmio?.read(gpa, size, cpu);
        if (v !== undefined) return v;
        return devices.mmioRead(gpa, size, cpu);
      },
      mmioWrite: (gpa, size, value, cpu) => {
        pc?.syncClock();
        if (opts.hooks?.mmio?.write(gpa, size, value, cpu)) return;
        devices.mmioWrite(gpa, size, value, cpu);
      },
      ackInterrupt: () => irqs.acknowledge(),
    };
    const machine = await opts.backend({
      ramSize: opts.ramSize,
      bus,
      tsc: () => (pc ? (pc.lastRawTsc = Math.floor(timebase.nowNs() * (TSC_HZ / 1e9))) : 0),
    });
    vcpu = machine.vcpus[0];
    vcpu.setControls(PLATFORM_CONTROLS);
    for (const m of PLATFORM_MSR_INTERCEPTS) vcpu.setMsrIntercept(m.index, m.read, m.write);
    vcpu.updateCpuid(KVM_CPUID);
    const acpi = buildAcpiTables({ base: ACPI_TABLES_BASE, cpus: 1 });
    machine.ram.set(acpi.image, ACPI_TABLES_BASE);
    machine.notifyRamWritten(ACPI_TABLES_BASE, acpi.image.length);
    const dma = opts.hooks?.dma ?? directDma(machine);
    const log = opts.log ?? ((line: string) => process.stderr.write(`xmhf: ${line}\n`));
    (opts.virtio ?? []).forEach((device, i) => {
      const transport = new VirtioPci({ device, dma, msi: (address, data) => irqs.msi(address, data), log });
      pci.add(FIRST_VIRTIO_SLOT + i, 0, transport.pci);
      pci.assignBars(transport.pci);
    });
    pc = new PcMachine(machine, vcpu, clock, uart, devices, opts.hooks?.exit, timebase, irqs, acpi.rsdpAddr, dma);
    return pc;
  }

  /** A port read as the platform's devices answer it (also for exits a hypapp chains on). */
  portIn(port: number, size: number): number {
    this.syncClock();
    return this.devices.ioRead(port, size);
  }

  portOut(port: number, size: number, value: number): void {
    this.syncClock();
    this.devices.ioWrite(port, size, value);
  }

  /** Bring device time up to guest time, firing due timers (before every device access and between slices). */
  private syncClock(): void {
    if (this.syncing) return; // a timer callback touching a device must not re-enter
    this.syncing = true;
    try {
      this.clock.advanceTo(Math.max(this.clock.nowNs(), this.timebase.nowNs()));
    } finally {
      this.syncing = false;
    }
  }

  /** Something the guest must see arrived: do not let it sleep through it. */
  private wake(): void {
    this.wakePending = true;
    this.wakeIdle?.();
  }

  /** End the run at the next instruction boundary (from a device or another caller). */
  stop(reason: RunStop): void {
    this.stopReason ??= reason;
    this.vcpu.requestStop();
    this.wakeIdle?.();
  }

  /**
   * Run until the guest resets, powers off, triple-faults, `stop()` is called
   * or `timeoutMs` of host time pass. The loop yields to the event loop every
   * few milliseconds and while the guest idles, so I/O keeps flowing. Guest
   * time stands still between runs.
   */
  async run(timeoutMs = Infinity): Promise<RunStop> {
    const endMs = performance.now() + timeoutMs;
    let lastYield = performance.now();
    /** Guest time the CPU was first seen halted with interrupts off (and has not run since). */
    let deadHaltSince: number | undefined;
    this.stopReason = undefined;
    this.timebase.resume();
    try {
      for (;;) {
        this.syncClock();
        const exit = this.runSlice();
        this.syncClock();
        if (this.stopReason) return this.stopReason;
        if (exit === Exit.TRIPLE_FAULT) return { kind: 'triple-fault', rip: this.vcpu.getReg(Reg.RIP) };
        if (exit === Exit.HALTED) {
          if ((this.vcpu.getReg(Reg.RFLAGS) & RFLAGS_IF) === 0n) {
            const now = this.timebase.nowNs();
            deadHaltSince ??= now;
            if (now - deadHaltSince >= DEAD_HALT_NS) return { kind: 'guest-halted', rip: this.vcpu.getReg(Reg.RIP) };
          } else deadHaltSince = undefined;
          await this.idle(endMs, deadHaltSince === undefined ? undefined : deadHaltSince + DEAD_HALT_NS);
          lastYield = performance.now();
        } else {
          deadHaltSince = undefined;
        }
        if (exit !== Exit.HALTED && exit !== Exit.BUDGET && exit !== Exit.STOPPED) {
          // The hypervisor core sees every other exit first, and hands the platform's back (servePlatformExit).
          if (this.exitHandler) {
            const stop = this.exitHandler(this.vcpu, exit);
            if (stop) return stop;
            if (this.stopReason) return this.stopReason;
          } else if (!this.servePlatformExit(exit)) {
            throw new Error(`the guest stopped with an unexpected exit (${Exit[exit]}) at RIP 0x${this.vcpu.getReg(Reg.RIP).toString(16)}`);
          }
        }
        const now = performance.now();
        if (now > endMs) return { kind: 'timeout' };
        if (now - lastYield > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
    } finally {
      this.timebase.pause();
    }
  }

  consoleInput(bytes: Uint8Array): void { this.uart.input(bytes); }

  /** Run the guest up to the next timer deadline (estimated in instructions), at most SLICE instructions. */
  private runSlice(): Exit {
    const startNs = this.timebase.nowNs();
    const next = this.clock.nextDeadline();
    const budget = next === undefined ? SLICE
      : Math.min(SLICE, Math.max(MIN_SLICE, Math.floor((next - startNs) * this.instructionsPerNs * DEADLINE_AIM)));
    this.sliceEndNs = startNs + budget / this.instructionsPerNs;
    this.wakePending = false;
    const before = this.vcpu.getReg(Reg.INSTRET);
    this.inSlice = true;
    let exit: Exit;
    try {
      exit = this.vcpu.run(budget);
    } finally {
      this.inSlice = false;
    }
    const retired = Number(this.vcpu.getReg(Reg.INSTRET) - before);
    const elapsedNs = this.timebase.nowNs() - startNs;
    // Learn the speed from slices long enough to measure; halts do not count.
    if (exit !== Exit.HALTED && retired >= MIN_SLICE && elapsedNs > 0) {
      this.instructionsPerNs = 0.8 * this.instructionsPerNs + 0.2 * (retired / elapsedNs);
    }
    return exit;
  }

  /**
   * Complete an exit the platform serves itself: VMCALL (#UD) and RDMSR/WRMSR of device MSRs
   * (TSC deadline, APIC base, kvmclock) and of every MSR outside the bitmap's
   * ranges. False for any other exit. A hypervisor that sets its own controls
   * keeps PLATFORM_CONTROLS in them and hands MSR exits it does not want here.
   */
  servePlatformExit(exit: Exit, vcpu: Vcpu = this.vcpu): boolean {
    // No hypervisor answers VMCALL on a bare PC: the instruction is undefined there, as on hardware outside VMX.
    if (exit === Exit.VMCALL) { vcpu.inject(EventType.HARDWARE_EXCEPTION, Vector.UD, undefined); return true; }
    return serveMsrExit(vcpu, exit, {
      readMsr: (index) => {
        for (const d of this.msrDevices) {
          const value = d.readMsr(index);
          if (value !== undefined) return value;
        }
        return undefined;
      },
      writeMsr: (index, value) => this.msrDevices.some((d) => d.writeMsr(index, value)),
    });
  }

  /** The local APIC's MSRs, with TSC deadlines moved between the guest's TSC and guest time. */
  private apicMsrs(): MsrDevices {
    return {
      readMsr: (index) => {
        if (index !== Msr.TSC_DEADLINE) return undefined;
        const deadline = this.interrupts.readMsr(index) ?? 0n;
        return deadline ? deadline + this.tscOffset() : 0n;
      },
      writeMsr: (index, value) => {
        if (index !== Msr.TSC_DEADLINE || value === 0n) return this.interrupts.writeMsr(index, value);
        const deadline = value - this.tscOffset();
        return this.interrupts.writeMsr(index, deadline > 0n ? deadline : 1n); // already past: fire at once
      },
    };
  }

  /** What the guest added to the TSC by writing it (0 unless it did). */
  private tscOffset(): bigint {
    const tsc = this.vcpu.getMsr(Msr.TSC) ?? 0n;
    return tsc - BigInt(this.lastRawTsc);
  }

  /** Sleep while the guest is halted: until the next timer deadline, an interrupt, stop(), or the run's end. */
  private async idle(endMs: number, wakeAtNs?: number): Promise<void> {
    let next = this.clock.nextDeadline();
    if (wakeAtNs !== undefined && (next === undefined || wakeAtNs < next)) next = wakeAtNs;
    let waitMs = Math.min(MAX_IDLE_MS, endMs - performance.now());
    if (next !== undefined) waitMs = Math.min(waitMs, (next - this.timebase.nowNs()) / 1e6);
    // A timer that fired after the guest's HLT has an interrupt waiting; a deadline this close is cheaper to poll for.
    if (this.wakePending || waitMs < SPIN_BELOW_MS) return;
    await new Promise<void>((resolve) => {
      // Timers count whole milliseconds and truncate: round up, or the guest is woken early and polls the rest.
      const timer = setTimeout(resolve, Math.ceil(waitMs));
      this.wakeIdle = () => { clearTimeout(timer); resolve(); };
    });
    this.wakeIdle = undefined;
  }
}
