// A PC: the CPU backend plus the legacy devices, wired together, with the
// run loop that advances guest time (the host's monotonic clock), fires
// device timers between instruction slices and sleeps while the guest idles.
import { createSoftwareMachine } from '../backend/software.js';
import { Exit, Reg } from '../backend/abi.js';
import type { Machine, PlatformBus, Vcpu } from '../backend/interface.js';
import { ManualClock, type PortDevice } from './device.js';
import { Pic8259Pair } from './pic8259.js';
import { Pit8254 } from './pit8254.js';
import { Uart16550 } from './uart16550.js';
import { CmosRtc } from './cmos.js';
import { I8042 } from './i8042.js';
import { PciHost } from './pci.js';

export interface PcOptions {
  ramSize: number;
  /** Bytes the guest writes to the serial console (COM1). */
  serialOutput: (bytes: Uint8Array) => void;
  /**
   * The hypervisor core: called for every exit the platform does not own
   * itself (anything but an exhausted budget, a halt or a stop request).
   * Returning a PcStop ends the run.
   */
  exitHandler?: (vcpu: Vcpu, exit: Exit) => PcStop | undefined;
  /** Interposes on MMIO outside guest RAM before the platform's devices see it. */
  mmioInterposer?: MmioInterposer;
}

/** MMIO hooks of the hypervisor core: return undefined to let the platform serve the access. */
export interface MmioInterposer {
  read(gpa: number, size: number, vcpu: number): number | undefined;
  /** True if the write was consumed. */
  write(gpa: number, size: number, value: number, vcpu: number): boolean;
}

/** How a run ended. */
export type PcStop =
  | { kind: 'reset' }
  | { kind: 'triple-fault'; rip: bigint }
  | { kind: 'timeout' }
  | { kind: 'stopped' }
  /** The hypervisor core ended the run (a hypapp's verdict, an unhandled event). */
  | { kind: 'halted-by-core'; message: string };

/** Longest stretch of guest instructions between looks at device timers. */
const SLICE = 200_000;
/** Longest sleep while the guest is halted, so stop requests are seen. */
const MAX_IDLE_MS = 20;
/** Host time between yields to the event loop, which writes console output and reads input. */
const YIELD_EVERY_MS = 10;
/**
 * The guest TSC runs at 1 GHz of guest time. Within a slice the CPU counts
 * retired instructions; between slices the TSC is brought up to guest time
 * (never back), so it keeps advancing while the guest idles in HLT and
 * agrees with the timers on average.
 */
const TSC_MSR = 0x10;

export class PcMachine {
  private stopReason: PcStop | undefined;
  private readonly portMap: Array<PortDevice | undefined> = new Array(65536);

  private constructor(
    readonly machine: Machine,
    readonly vcpu: Vcpu,
    readonly clock: ManualClock,
    readonly uart: Uart16550,
    devices: PortDevice[],
    private readonly exitHandler: PcOptions['exitHandler'],
  ) {
    for (const d of devices) {
      for (const [first, last] of d.ports) for (let p = first; p <= last; p++) this.portMap[p] = d;
    }
  }

  static async create(opts: PcOptions): Promise<PcMachine> {
    let pc: PcMachine | undefined;
    let vcpu: Vcpu | undefined;
    const pic = new Pic8259Pair({ onIntr: (asserted) => vcpu?.setInterruptLine(asserted) });
    const clock = new ManualClock();
    const uart = new Uart16550({ base: 0x3f8, irq: pic.irqLine(4), output: opts.serialOutput });
    const devices: PortDevice[] = [
      pic,
      new Pit8254({ clock, irq0: pic.irqLine(0) }),
      uart,
      new CmosRtc({ clock, irq: pic.irqLine(8) }),
      new I8042({ onReset: () => pc?.stop({ kind: 'reset' }) }),
      new PciHost(),
    ];
    const bus: PlatformBus = {
      ioIn: (port, size) => pc?.portIn(port, size) ?? 0xffffffff,
      ioOut: (port, size, value) => pc?.portOut(port, size, value),
      mmioRead: (gpa, size, cpu) => opts.mmioInterposer?.read(gpa, size, cpu) ?? 0xffffffff,
      mmioWrite: (gpa, size, value, cpu) => { opts.mmioInterposer?.write(gpa, size, value, cpu); },
      ackInterrupt: () => pic.acknowledge(),
    };
    const machine = await createSoftwareMachine({ ramSize: opts.ramSize, bus });
    vcpu = machine.vcpus[0];
    pc = new PcMachine(machine, vcpu, clock, uart, devices, opts.exitHandler);
    return pc;
  }

  /** A port read as the platform's devices answer it (for exits a hypapp chains on). */
  portIn(port: number, size: number): number {
    return this.portMap[port]?.ioRead(port, size) ?? (0xffffffff >>> (32 - 8 * size));
  }
  portOut(port: number, size: number, value: number): void { this.portMap[port]?.ioWrite(port, size, value); }

  private syncTsc(): void {
    const want = BigInt(Math.floor(this.clock.nowNs()));
    if (want > (this.vcpu.getMsr(TSC_MSR) ?? 0n)) this.vcpu.setMsr(TSC_MSR, want);
  }

  /** End the run at the next instruction boundary (from a device or another caller). */
  stop(reason: PcStop): void {
    this.stopReason ??= reason;
    this.vcpu.requestStop();
  }

  /**
   * Run until the guest resets, triple-faults, `stop()` is called or
   * `timeoutMs` of host time pass. The loop yields to the event loop every few
   * milliseconds and while the guest idles, so I/O keeps flowing.
   */
  async run(timeoutMs = Infinity): Promise<PcStop> {
    const start = process.hrtime.bigint();
    const origin = this.clock.nowNs(); // guest time continues across run() calls
    const hostNs = () => origin + Number(process.hrtime.bigint() - start);
    let lastYield = hostNs();
    this.stopReason = undefined;
    for (;;) {
      const exit = this.vcpu.run(SLICE);
      this.clock.advanceTo(Math.max(this.clock.nowNs(), hostNs()));
      this.syncTsc();
      if (this.stopReason) return this.stopReason;
      if (exit === Exit.TRIPLE_FAULT) return { kind: 'triple-fault', rip: this.vcpu.getReg(Reg.RIP) };
      if (exit !== Exit.HALTED && exit !== Exit.BUDGET && exit !== Exit.STOPPED) {
        if (!this.exitHandler) {
          throw new Error(`the guest stopped with an unexpected exit (${Exit[exit]}) at RIP 0x${this.vcpu.getReg(Reg.RIP).toString(16)}`);
        }
        const stop = this.exitHandler(this.vcpu, exit);
        if (stop) return stop;
        if (this.stopReason) return this.stopReason;
      } else if (exit === Exit.HALTED) {
        const next = this.clock.nextDeadline();
        const waitMs = next === undefined ? MAX_IDLE_MS : Math.min(MAX_IDLE_MS, (next - hostNs()) / 1e6);
        if (waitMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          lastYield = hostNs();
        }
        this.clock.advanceTo(Math.max(this.clock.nowNs(), hostNs()));
        this.syncTsc();
      }
      if (Number(process.hrtime.bigint() - start) / 1e6 > timeoutMs) return { kind: 'timeout' };
      if (hostNs() - lastYield > YIELD_EVERY_MS * 1e6) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = hostNs();
      }
    }
  }
}
