// The core API as one hypapp sees it: a HypappContext bound to that hypapp's
// name (for logs, claims and the measurement log) over the shared core.
import type { HypappContext, GuestCpu, TimerHandle, Measurement } from '../hypapp/api.js';
import type { Release } from '../platform/platform.js';
import { translate } from './pagewalk.js';
import type { PhysicalRange } from './debug-points.js';
import { PAGE_SIZE } from '../backend/abi.js';
import type { GuestClock } from '../platform/device.js';
import type { GuestMemory } from './guest-memory.js';
import type { Memprot } from './memprot.js';
import type { Dmaprot } from './dmaprot.js';
import type { DebugPoints } from './debug-points.js';
import type { Intercepts } from './intercepts.js';
import type { MeasurementLog } from './measure.js';
import type { CallbackMonitor } from './watchdog.js';
import { errorMessage } from '../error-message.js';
import { PhysicalView } from './address-space.js';
import type { VsockService } from './vsock.js';

/** The parts of the core every context shares. */
export interface CoreServices {
  cpus: GuestCpu[];
  mem: GuestMemory;
  memprot: Memprot;
  dmaprot: Dmaprot;
  debug: DebugPoints;
  intercepts: Intercepts;
  clock: GuestClock;
  measurements: MeasurementLog;
  /** VM exits the core has handled, by kind. */
  counts: ReadonlyMap<string, number>;
  log(line: string): void;
  emit(app: string, record: Record<string, unknown>): void;
  stop(message: string): void;
  /** Run `fn` where no vCPU is halfway through an instruction (hypapps' timers run there). */
  outsideGuest(fn: () => void): void;
  /** Told which hypapp callback runs (the watchdog). */
  monitor?: CallbackMonitor;
  /** Keep the guest stopped, guest time standing still, until released (the platform's hold). */
  hold(): Release;
  /** Streams with guest programs (x.vsock), when the platform has a host channel. */
  vsock?: VsockService;
}

export function createContext(core: CoreServices, index: number, name: string, options: Record<string, string>): HypappContext {
  const { intercepts, memprot, debug, mem } = core;
  const ctx: HypappContext = {
    name,
    options: Object.freeze({ ...options }),
    log: (...parts) => core.log(`[${name}] ${parts.map((p) => (typeof p === 'string' ? p : stringify(p))).join(' ')}`),
    emit: (record) => core.emit(name, record),
    cpus: core.cpus,
    ramSize: mem.size,
    now: () => core.clock.nowNs() / 1e6,

    readPhysical: (gpa, length) => mem.read(gpa, length),
    writePhysical: (gpa, bytes) => mem.write(gpa, bytes),
    physical: new PhysicalView(mem),
    setprot: (gpa, length, prot) => memprot.setprot(gpa, length, prot),
    getprot: (gpa) => memprot.getprot(gpa),
    protectFromDma: (gpa, length) => core.dmaprot.protect(Number(gpa), length),
    unprotectFromDma: (gpa, length) => core.dmaprot.unprotect(Number(gpa), length),

    claimPorts: (first, last = first) => intercepts.claimPorts(index, first, last),
    claimMmio: (gpa, length) => {
      if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || length <= 0 || gpa < mem.size) {
        throw new RangeError(`claimMmio: [0x${gpa.toString(16)}, +${length}) must lie above guest RAM (memory inside RAM is protected with setprot)`);
      }
      intercepts.claimMmio(index, gpa, length);
    },
    interceptCpuid: () => intercepts.interceptCpuid(index),
    interceptMsr: (msr, on) => intercepts.interceptMsr(index, msr, on.read ?? false, on.write ?? false),
    interceptCrWrites: (cr) => intercepts.interceptCrWrites(index, cr),
    interceptExceptions: (vectors) => intercepts.interceptExceptions(index, vectors),

    addBreakpoint: (gva) => debug.addBreakpoint(name, gva, core.cpus[0].translate(gva).gpa),
    removeBreakpoint: (id) => debug.removeBreakpoint(name, id),
    addWatchpoint: (gpa, length, kind) => debug.addWatchpoint(name, [{ gpa: Number(gpa), length }], kind),
    addVirtualWatchpoint: (gva, length, kind, space = 'any') =>
      debug.addWatchpoint(name, virtualRanges(core, gva, length, space), kind, space === 'any' ? undefined : space),
    removeWatchpoint: (id) => debug.removeWatchpoint(name, id),
    singleStep: (cpu, on, options) => intercepts.setStepping(index, cpu.index, on, !(options?.interrupts ?? false)),
    hold: () => core.hold(),

    // Handlers already run with the guest stopped, and the vCPUs take turns on
    // one thread (PcMachine.run), so every other vCPU is already stopped at an
    // instruction boundary: quiesce costs nothing. (With vCPUs on host
    // threads it would have to stop them; docs/smp.md.)
    quiesce: (fn) => fn(),
    every: (ms, fn) => {
      if (!(ms > 0)) throw new RangeError(`every: ${ms} is not a positive number of milliseconds`);
      let handle: TimerHandle | undefined, live = true;
      const arm = () => {
        // Lax: a hypapp's timer may run a slice late rather than cut the guest's slices short.
        // Fired during a device access, it waits for the slice to end: a hypapp may look at any vCPU.
        handle = core.clock.at(core.clock.nowNs() + ms * 1e6, () => core.outsideGuest(() => {
          if (!live) return;
          core.monitor?.enter(index, 'timer');
          try { fn(); } catch (e) { live = false; core.stop(`hypapp ${name} failed in a timer: ${errorMessage(e)}`); return; } finally { core.monitor?.leave(); }
          if (live) arm();
        }), true);
      };
      arm();
      return { cancel: () => { live = false; handle?.cancel(); } };
    },
    stopVm: (detail) => core.stop(detail),
    measure: (label, data): Measurement => core.measurements.extend(name, label, data),
    measurements: () => core.measurements.entries,
    exitCounts: () => Object.fromEntries(core.counts),
    ...(core.vsock ? { vsock: core.vsock.forApp(index, name) } : {}),
  };
  return ctx;
}

/** The guest-physical pieces of [gva, gva + length), translated through CR3 `space` (or vCPU 0's current one). */
function virtualRanges(core: CoreServices, gva: bigint, length: number, space: bigint | 'any'): PhysicalRange[] {
  if (!Number.isSafeInteger(length) || length <= 0) throw new RangeError(`watchpoint length ${length} is not a positive number of bytes`);
  const cpu = core.cpus[0];
  const regs = { cr0: cpu.get('cr0'), cr3: space === 'any' ? cpu.get('cr3') : space, cr4: cpu.get('cr4'), efer: cpu.get('efer') };
  const out: PhysicalRange[] = [];
  let a = BigInt.asUintN(64, gva), left = length;
  while (left > 0) {
    const n = Math.min(left, PAGE_SIZE - Number(a % BigInt(PAGE_SIZE)));
    out.push({ gpa: Number(translate(core.mem, regs, a).gpa), length: n });
    left -= n;
    a = BigInt.asUintN(64, a + BigInt(n));
  }
  return out;
}

function stringify(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));
}
