// A PC: the CPU backend plus the legacy devices, a local APIC per vCPU and
// the IOAPIC, and ACPI tables, wired together, with the run loop. Guest time
// is the host's monotonic clock while the machine runs (one HostTimebase read
// by the TSC and every device access); device timers fire on deadlines of
// that clock, the loop sizes each instruction slice to end near the next
// deadline, and sleeps while every vCPU idles in HLT. With several vCPUs the
// loop runs them in turn on this thread, one slice each, skipping halted ones
// until an interrupt for them arrives. In deterministic mode guest time is the
// retired-instruction count (InstructionTimebase) and slices are fixed
// instruction counts, so a run with the same inputs repeats exactly.
import { Control, EventType, Exit, Msr, Reg, Vector } from '../backend/abi.js';
import type { Machine, MachineFactory, PlatformBus, Vcpu } from '../backend/interface.js';
import { directDma, type DmaPort, type HostChannel, type Platform, type PlatformHooks, type Release, type RunStop } from './platform.js';
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
import { HostTimebase, InstructionTimebase, NS_PER_INSTRUCTION, type Timebase } from './timebase.js';
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
  /** The host side of one of them that carries streams to guest programs (a virtio-vsock), offered to the core. */
  hostChannel?: HostChannel;
  /** Host log lines of the devices (a driver that broke the virtio rules); default standard error. */
  log?: (line: string) => void;
  /** Processors (default 1, at most MAX_CPUS): the MADT lists them, vCPU 0 boots, the others wait for INIT/SIPI. */
  cpus?: number;
  /** Guest time from retired instructions and fixed slices: the same inputs give the same run. */
  deterministic?: boolean;
}

/** PCI slot of the first virtio device (00:00.0 is the host bridge). */
const FIRST_VIRTIO_SLOT = 1;

/** Most processors a PC has (the CPU keeps this many save slots; xAPIC logical flat mode addresses 8). */
export const MAX_CPUS = 8;
/** Instructions per slice in deterministic mode (a timer deadline can end one sooner). */
export const DETERMINISTIC_SLICE = 100_000;
/** Where deterministic mode's wall clock (RTC, kvmclock) starts: 2026-01-01T00:00:00Z. */
const DETERMINISTIC_EPOCH_MS = Date.UTC(2026, 0, 1);

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
  /** Per vCPU: an interrupt, NMI, INIT or SIPI was raised for it since its last slice began: it must run again, not sleep. */
  private readonly wakePending: boolean[];
  /** Each vCPU's INTR line as the interrupt controllers last set it. */
  private readonly intrLine: boolean[];
  /** Per vCPU: its last slice ended in HLT (or waiting for SIPI) and nothing has woken it since. */
  private readonly halted: boolean[];
  /** Signals for vCPUs other than the one in the CPU, applied before each runs (the CPU holds one vCPU at a time). */
  private readonly queued: Array<Array<{ apply: (v: Vcpu) => void; init: boolean }>>;
  /** Work held until the running slice ends (outsideGuest). */
  private deferred: Array<() => void> = [];
  /** The vCPU in the CPU: running a slice, or the last one that did. */
  private current = 0;
  /** The last TSC value handed to the CPU before its offset, to turn guest TSC deadlines into guest time. */
  private lastRawTsc = 0;
  /** Devices with MSRs, per vCPU, asked in order on MSR exits. */
  private readonly msrDevices: MsrDevices[][];
  /** The virtio devices, closed by close(). */
  private virtio: readonly VirtioDevice[] = [];
  /** Streams to guest programs (the virtio-vsock's host side), for the core. */
  hostChannel: HostChannel | undefined;
  readonly vcpus: readonly Vcpu[];
  readonly controls = PLATFORM_CONTROLS;
  readonly msrIntercepts = PLATFORM_MSR_INTERCEPTS;
  // ---- holds and time freezes (hold(), freezeTime()) ----
  private holds = 0;
  private frozen = 0;
  private running = false;
  /** Wakes the run loop waiting while held (a release or stop()). */
  private wakeHeld: (() => void) | undefined;

  private constructor(
    readonly machine: Machine,
    readonly clock: ManualClock,
    readonly uart: Uart16550,
    /** The devices on the port and MMIO buses. */
    private readonly devices: DeviceBus,
    private readonly exitHandler: PlatformHooks['exit'],
    readonly timebase: Timebase,
    readonly interrupts: PcInterrupts,
    /** Guest-physical address of the ACPI RSDP (for the boot loader). */
    readonly rsdpAddr: number,
    dma: DmaPort,
    /** Deterministic mode's wall clock start (host time otherwise). */
    wallClockNs: (() => bigint) | undefined,
  ) {
    this.vcpus = machine.vcpus;
    const n = this.vcpus.length;
    this.wakePending = new Array<boolean>(n).fill(false);
    this.intrLine = new Array<boolean>(n).fill(false);
    this.halted = new Array<boolean>(n).fill(false);
    this.queued = Array.from({ length: n }, () => []);
    this.msrDevices = this.vcpus.map((vcpu) => [this.apicMsrs(vcpu), new KvmClock({
      dma,
      tscHz: TSC_HZ,
      now: () => {
        const tsc = vcpu.getMsr(Msr.TSC) ?? 0n;
        return { tsc, ns: BigInt(this.lastRawTsc) * 1_000_000_000n / BigInt(TSC_HZ) };
      },
      ...(wallClockNs ? { wallClockNs } : {}),
    })]);
    clock.onArm = (deadline) => {
      // A device armed a timer due before the running slice would end: end it now.
      if (this.inSlice && deadline < this.sliceEndNs) this.vcpus[this.current]!.requestStop();
    };
  }

  outsideGuest(fn: () => void): void {
    if (this.inSlice) this.deferred.push(fn);
    else fn();
  }

  /** The boot processor (vCPU 0). */
  get vcpu(): Vcpu { return this.vcpus[0]!; }

  /**
   * Apply a signal to vCPU `cpu` and wake it: now if it is the one in the CPU
   * (also from inside its slice, as a device callback), else before it next runs.
   */
  private signal(cpu: number, apply: (v: Vcpu) => void, wakes: boolean, init = false): void {
    const v = this.vcpus[cpu];
    if (!v) return;
    if (cpu === this.current) apply(v);
    else this.queued[cpu]!.push({ apply, init });
    if (wakes) this.wake(cpu);
  }

  static async create(opts: PcOptions): Promise<PcMachine> {
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) throw new RangeError(`a PC has 1 to ${MAX_CPUS} CPUs (got ${cpus})`);
    let pc: PcMachine | undefined;
    const clock = new ManualClock();
    const timebase = opts.deterministic ? new InstructionTimebase() : new HostTimebase();
    const irqs = new PcInterrupts({
      clock,
      tscHz: TSC_HZ,
      cpus,
      setCpuIntr: (asserted, cpu) => pc?.setIntr(cpu, asserted),
      sendNmi: (cpu) => pc?.signal(cpu, (v) => v.sendNmi(), true),
      sendInit: (cpu) => pc?.signal(cpu, (v) => v.sendInit(), true, true),
      sendSipi: (cpu, vector) => pc?.signal(cpu, (v) => v.sendSipi(vector), true),
    });
    const uart = new Uart16550({ base: 0x3f8, irq: irqs.isaIrq(4), output: opts.serialOutput });
    const rtc = new CmosRtc({ clock, irq: irqs.isaIrq(8), ...(opts.deterministic ? { startTime: new Date(DETERMINISTIC_EPOCH_MS) } : {}) });
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
      ackInterrupt: (cpu) => irqs.acknowledge(cpu),
    };
    const machine = await opts.backend({
      ramSize: opts.ramSize,
      bus,
      vcpus: cpus,
      tsc: () => (pc ? (pc.lastRawTsc = Math.floor(timebase.nowNs() * (TSC_HZ / 1e9))) : 0),
    });
    for (const vcpu of machine.vcpus) {
      vcpu.setControls(PLATFORM_CONTROLS);
      for (const m of PLATFORM_MSR_INTERCEPTS) vcpu.setMsrIntercept(m.index, m.read, m.write);
      vcpu.updateCpuid(KVM_CPUID);
    }
    const acpi = buildAcpiTables({ base: ACPI_TABLES_BASE, cpus });
    machine.ram.set(acpi.image, ACPI_TABLES_BASE);
    machine.notifyRamWritten(ACPI_TABLES_BASE, acpi.image.length);
    const dma = opts.hooks?.dma ?? directDma(machine);
    const log = opts.log ?? ((line: string) => process.stderr.write(`xmhf: ${line}\n`));
    (opts.virtio ?? []).forEach((device, i) => {
      const transport = new VirtioPci({ device, dma, msi: (address, data) => irqs.msi(address, data), log });
      pci.add(FIRST_VIRTIO_SLOT + i, 0, transport.pci);
      pci.assignBars(transport.pci);
    });
    const wallClockNs = opts.deterministic ? () => BigInt(DETERMINISTIC_EPOCH_MS) * 1_000_000n + BigInt(Math.floor(timebase.nowNs())) : undefined;
    pc = new PcMachine(machine, clock, uart, devices, opts.hooks?.exit, timebase, irqs, acpi.rsdpAddr, dma, wallClockNs);
    pc.virtio = opts.virtio ?? [];
    pc.hostChannel = opts.hostChannel;
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

  /** The interrupt controllers set vCPU `cpu`'s INTR line. */
  private setIntr(cpu: number, asserted: boolean): void {
    if (cpu < this.intrLine.length) this.intrLine[cpu] = asserted;
    this.signal(cpu, (v) => v.setInterruptLine(asserted), asserted);
  }

  /** Something vCPU `cpu` must see arrived: do not let it sleep through it. */
  private wake(cpu: number): void {
    this.wakePending[cpu] = true;
    this.halted[cpu] = false;
    this.wakeIdle?.();
  }

  /** End the run at the next instruction boundary (from a device or another caller). */
  stop(reason: RunStop): void {
    this.stopReason ??= reason;
    if (this.inSlice) this.vcpus[this.current]!.requestStop();
    this.wakeIdle?.();
    this.wakeHeld?.();
  }

  hold(): Release {
    this.holds++;
    this.timebase.pause();
    if (this.inSlice) this.vcpus[this.current]!.requestStop();
    this.wakeIdle?.();
    return once(() => {
      if (--this.holds > 0) return;
      this.wakeHeld?.();
      this.resumeTime();
    });
  }

  freezeTime(): Release {
    this.frozen++;
    this.timebase.pause();
    return once(() => {
      if (--this.frozen === 0) this.resumeTime();
    });
  }

  /** Guest time follows the host again, unless the run is over or something holds or freezes it. */
  private resumeTime(): void {
    if (this.running && this.holds === 0 && this.frozen === 0) this.timebase.resume();
  }

  /** Wait while held (guest time stands still from hold() on) until released, stopped or the run's end. */
  private async whileHeld(endMs: number): Promise<void> {
    while (this.holds > 0 && !this.stopReason && performance.now() < endMs) {
      await new Promise<void>((resolve) => {
        const timer = endMs === Infinity ? undefined : setTimeout(resolve, Math.max(0, Math.ceil(endMs - performance.now())));
        this.wakeHeld = () => { clearTimeout(timer); resolve(); };
      });
      this.wakeHeld = undefined;
    }
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
    /** Guest time every vCPU was first seen halted with interrupts off (and none has run since). */
    let deadHaltSince: number | undefined;
    this.stopReason = undefined;
    this.running = true;
    this.resumeTime();
    try {
      for (;;) {
        if (this.holds > 0) {
          await this.whileHeld(endMs);
          lastYield = performance.now();
          if (this.stopReason) return this.stopReason;
          if (performance.now() > endMs) return { kind: 'timeout' };
        }
        this.syncClock();
        const cpu = this.nextRunnable();
        if (cpu === undefined) {
          // Every vCPU is halted: the machine idles until an interrupt, a timer or the end.
          if (this.vcpus.every((v, i) => this.waitsForever(v, i))) {
            const now = this.timebase.nowNs();
            deadHaltSince ??= now;
            if (now - deadHaltSince >= DEAD_HALT_NS) return { kind: 'guest-halted', rip: this.vcpu.getReg(Reg.RIP) };
          } else deadHaltSince = undefined;
          await this.idle(endMs, deadHaltSince === undefined ? undefined : deadHaltSince + DEAD_HALT_NS);
          lastYield = performance.now();
          if (this.stopReason) return this.stopReason;
          if (performance.now() > endMs) return { kind: 'timeout' };
          continue;
        }
        const vcpu = this.vcpus[cpu]!;
        const exit = this.runSlice(cpu);
        this.syncClock();
        if (this.deferred.length) for (const fn of this.deferred.splice(0)) fn();
        if (this.stopReason) return this.stopReason;
        if (exit === Exit.TRIPLE_FAULT) return { kind: 'triple-fault', rip: vcpu.getReg(Reg.RIP) };
        if (exit === Exit.HALTED) {
          // Asleep until something for it arrives. One that came during the slice wakes it at once, and so does
          // an interrupt the line already holds (STI; HLT with the line up): no new edge would ever wake it.
          const interruptible = this.intrLine[cpu] && (vcpu.getReg(Reg.RFLAGS) & RFLAGS_IF) !== 0n;
          if (!this.wakePending[cpu] && !interruptible) this.halted[cpu] = true;
        } else {
          deadHaltSince = undefined;
        }
        if (exit !== Exit.HALTED && exit !== Exit.BUDGET && exit !== Exit.STOPPED) {
          // The hypervisor core sees every other exit first, and hands the platform's back (servePlatformExit).
          if (this.exitHandler) {
            const stop = this.exitHandler(vcpu, exit);
            if (stop) return stop;
            if (this.stopReason) return this.stopReason;
          } else if (!this.servePlatformExit(exit, vcpu)) {
            throw new Error(`the guest stopped with an unexpected exit (${Exit[exit]}) at RIP 0x${vcpu.getReg(Reg.RIP).toString(16)}`);
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
      this.running = false;
      this.timebase.pause();
    }
  }

  /**
   * Apply the signals queued for vCPU `cpu` in order. An INIT ends the batch:
   * the vCPU must take it (its next run reports Exit.INIT) before a SIPI that
   * followed it can find it waiting.
   */
  private applyQueued(cpu: number): void {
    const signals = this.queued[cpu]!;
    let taken = 0;
    while (taken < signals.length) {
      const s = signals[taken++]!;
      s.apply(this.vcpus[cpu]!);
      if (s.init) break;
    }
    signals.splice(0, taken);
  }

  /** The vCPU to run next: round-robin after the current one, skipping halted ones; undefined if all are halted. */
  private nextRunnable(): number | undefined {
    const n = this.vcpus.length;
    if (n === 1) return this.halted[0] ? undefined : 0;
    for (let k = 1; k <= n; k++) {
      const i = (this.current + k) % n;
      if (!this.halted[i]) return i;
    }
    return undefined;
  }

  /** Halted with interrupts off (or waiting for a SIPI): only another processor's IPI or an NMI could wake it. */
  private waitsForever(v: Vcpu, i: number): boolean {
    if (!this.halted[i]) return false;
    if (this.queued[i]!.length) return false;
    return (v.getReg(Reg.RFLAGS) & RFLAGS_IF) === 0n;
  }

  consoleInput(bytes: Uint8Array): void { this.uart.input(bytes); }

  close(): void {
    for (const d of this.virtio) d.close?.();
  }

  /**
   * Run vCPU `cpu` up to the next timer deadline (estimated in instructions),
   * at most SLICE instructions; in deterministic mode exactly up to the
   * deadline, at most DETERMINISTIC_SLICE.
   */
  private runSlice(cpu: number): Exit {
    const vcpu = this.vcpus[cpu]!;
    this.current = cpu;
    this.applyQueued(cpu);
    const startNs = this.timebase.nowNs();
    const next = this.clock.nextDeadline();
    const deterministic = this.timebase instanceof InstructionTimebase ? this.timebase : undefined;
    let budget: number;
    if (deterministic) {
      budget = next === undefined ? DETERMINISTIC_SLICE
        : Math.min(DETERMINISTIC_SLICE, Math.max(1, Math.ceil((next - startNs) / NS_PER_INSTRUCTION)));
      this.sliceEndNs = startNs + budget * NS_PER_INSTRUCTION;
    } else {
      budget = next === undefined ? SLICE
        : Math.min(SLICE, Math.max(MIN_SLICE, Math.floor((next - startNs) * this.instructionsPerNs * DEADLINE_AIM)));
      this.sliceEndNs = startNs + budget / this.instructionsPerNs;
    }
    this.wakePending[cpu] = false;
    const before = vcpu.getReg(Reg.INSTRET);
    deterministic?.beginSlice(() => Number(vcpu.getReg(Reg.INSTRET) - before));
    this.inSlice = true;
    let exit: Exit;
    let retired = 0;
    try {
      exit = vcpu.run(budget);
    } finally {
      this.inSlice = false;
      retired = Number(vcpu.getReg(Reg.INSTRET) - before);
      deterministic?.endSlice(retired);
    }
    const elapsedNs = this.timebase.nowNs() - startNs;
    // Learn the speed from slices long enough to measure; halts do not count.
    if (!deterministic && exit !== Exit.HALTED && retired >= MIN_SLICE && elapsedNs > 0) {
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
    const devices = this.msrDevices[vcpu.index] ?? [];
    return serveMsrExit(vcpu, exit, {
      readMsr: (index) => {
        for (const d of devices) {
          const value = d.readMsr(index);
          if (value !== undefined) return value;
        }
        return undefined;
      },
      writeMsr: (index, value) => devices.some((d) => d.writeMsr(index, value)),
    });
  }

  /** A vCPU's local APIC MSRs, with TSC deadlines moved between its TSC and guest time. */
  private apicMsrs(vcpu: Vcpu): MsrDevices {
    const cpu = vcpu.index;
    return {
      readMsr: (index) => {
        if (index !== Msr.TSC_DEADLINE) return undefined;
        const deadline = this.interrupts.readMsr(index, cpu) ?? 0n;
        return deadline ? deadline + this.tscOffset(vcpu) : 0n;
      },
      writeMsr: (index, value) => {
        if (index !== Msr.TSC_DEADLINE || value === 0n) return this.interrupts.writeMsr(index, value, cpu);
        const deadline = value - this.tscOffset(vcpu);
        return this.interrupts.writeMsr(index, deadline > 0n ? deadline : 1n, cpu); // already past: fire at once
      },
    };
  }

  /** What the guest added to this vCPU's TSC by writing it (0 unless it did). */
  private tscOffset(vcpu: Vcpu): bigint {
    const tsc = vcpu.getMsr(Msr.TSC) ?? 0n;
    return tsc - BigInt(this.lastRawTsc);
  }

  /**
   * Sleep while every vCPU is halted: until the next timer deadline, an
   * interrupt, stop(), or the run's end. Deterministic time does not pass
   * while the host sleeps: it jumps to the deadline instead.
   */
  private async idle(endMs: number, wakeAtNs?: number): Promise<void> {
    let next = this.clock.nextDeadline();
    if (wakeAtNs !== undefined && (next === undefined || wakeAtNs < next)) next = wakeAtNs;
    if (this.timebase instanceof InstructionTimebase && next !== undefined) {
      this.timebase.skipTo(next);
      await new Promise((resolve) => setImmediate(resolve)); // console output and input still flow
      return;
    }
    let waitMs = Math.min(MAX_IDLE_MS, endMs - performance.now());
    if (next !== undefined) waitMs = Math.min(waitMs, (next - this.timebase.nowNs()) / 1e6);
    // A timer that fired after the guest's HLT has an interrupt waiting; a deadline this close is cheaper to poll for.
    if (!this.halted.every(Boolean) || waitMs < SPIN_BELOW_MS) return;
    await new Promise<void>((resolve) => {
      // Timers count whole milliseconds and truncate: round up, or the guest is woken early and polls the rest.
      const timer = setTimeout(resolve, Math.ceil(waitMs));
      this.wakeIdle = () => { clearTimeout(timer); resolve(); };
    });
    this.wakeIdle = undefined;
  }
}

/** A Release whose second call does nothing. */
function once(fn: () => void): Release {
  let done = false;
  return { release: () => { if (!done) { done = true; fn(); } } };
}
