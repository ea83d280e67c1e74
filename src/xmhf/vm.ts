// createCoreVm: a platform with a Linux guest under the XMHF core and its
// hypapps. The order is XMHF's: platform and guest image in memory, a
// measurement of what will run, every hypapp's init (app_main) before the
// guest's first instruction, then the event loop; shutdown callbacks see how
// it ended. Which platform and backend is the caller's choice (src/vmm.ts
// composes the PC on the WebAssembly CPU).
import type { Platform, PlatformFactory, Release, RunStop } from '../platform/platform.js';
import { loadLinux } from '../boot/linux.js';
import { HYPAPP_DEVICES, type Hypapp, type ShutdownEvent, type ShutdownReason, type GuestCpu } from '../hypapp/api.js';
import { GuestMemory } from './guest-memory.js';
import { GuestCpuImpl, instructionBytesText } from './guest-cpu.js';
import { Memprot } from './memprot.js';
import { DebugPoints } from './debug-points.js';
import { Intercepts } from './intercepts.js';
import { MeasurementLog } from './measure.js';
import { EventHub, type LoadedHypapp } from './hub.js';
import { createContext, type CoreServices } from './context.js';
import { CALLBACK_TIMEOUT_MS, type CallbackMonitor } from './watchdog.js';
import { Dmaprot } from './dmaprot.js';
import { VsockService } from './vsock.js';
import { Reg } from '../backend/interface.js';
import { errorMessage } from '../error-message.js';

/** A hypapp to run, with the bytes it was loaded from (measured at launch) and its options. */
export interface HypappSpec {
  app: Hypapp;
  source?: Uint8Array | string;
  options?: Record<string, string>;
}

export interface CoreVmOptions {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  hypapps?: Array<Hypapp | HypappSpec>;
  /** Log lines of the core and hypapps (default: standard error). */
  log?: (line: string) => void;
  /** Records hypapps emit (default: JSON lines on standard error). */
  onEvent?: (app: string, record: Record<string, unknown>) => void;
  /** Told around every hypapp callback (the CLI's watchdog reads it from another thread). */
  callbackMonitor?: CallbackMonitor;
  /** How long a hypapp's init may take to settle before the start fails (default CALLBACK_TIMEOUT_MS). */
  initTimeoutMs?: number;
}

/** How a run ended, with the reason hypapps were told. */
export interface VmStop {
  reason: ShutdownReason;
  detail?: string;
  stop: RunStop;
}

/** A hypapp's init failed: the VM did not start. */
export class HypappInitError extends Error {}

/** A Vm method called in a state where it makes no sense (run twice, input to an ended VM). */
export class VmStateError extends Error {}

/**
 * created: built, hypapps initialised, no guest instruction run. running:
 * inside run(). ended: the run is over and hypapps were shut down (a VM runs
 * once: its hypapps' shutdown has said goodbye, so a second run would run a
 * guest nobody watches).
 */
export type VmState = 'created' | 'running' | 'ended';

export class Vm {
  private current: VmState = 'created';
  /** A stop() that came before run(): the run ends before the guest's first instruction. */
  private stopBeforeRun: RunStop | undefined;
  private endedWith: VmStop | undefined;

  constructor(
    private readonly platform: Platform,
    private readonly apps: LoadedHypapp[],
    readonly measurements: MeasurementLog,
    private readonly counts: Map<string, number>,
    private readonly cpus: readonly GuestCpu[],
    private readonly monitor?: CallbackMonitor,
    private readonly vsock?: VsockService,
  ) {}

  get state(): VmState { return this.current; }

  /** VM exits seen by the core, by kind. */
  exitCounts(): Record<string, number> { return Object.fromEntries(this.counts); }

  /** Guest instructions retired so far, every vCPU's together (deterministic mode repeats this exactly). */
  instructionsRetired(): bigint {
    return this.platform.machine.vcpus.reduce((sum, v) => sum + v.getReg(Reg.INSTRET), 0n);
  }

  /** Run the guest until it powers off, resets, faults, is stopped or `timeoutMs` pass; then shut hypapps down. */
  async run(timeoutMs?: number): Promise<VmStop> {
    if (this.current === 'running') throw new VmStateError('run(): the VM is already running');
    if (this.current === 'ended') {
      throw new VmStateError(`run(): the VM has ended (${this.endedWith?.reason ?? 'error'}); create a new one`);
    }
    this.current = 'running';
    let stop: RunStop;
    try {
      stop = this.stopBeforeRun ?? await this.platform.run(timeoutMs);
    } catch (e) {
      const detail = errorMessage(e);
      this.end({ reason: 'error', detail, stop: { kind: 'halted-by-core', message: detail } });
      throw e;
    }
    const event = shutdownEvent(stop);
    // Where a triple fault happened: the boot CPU's instruction bytes at RIP.
    if (stop.kind === 'triple-fault') event.detail += instructionBytesText(this.cpus[0]);
    const result = { ...event, stop };
    this.end(result);
    return result;
  }

  /**
   * End the run at the next instruction boundary, on the host's behalf;
   * hypapps' shutdown sees `detail` (with reason 'signal', the signal's name).
   * Before run(), the run ends before the guest's first instruction.
   */
  stop(detail = 'stopped by the host', reason: 'stopped' | 'signal' = 'stopped'): void {
    if (this.current === 'ended') throw new VmStateError('stop(): the VM has already ended');
    const stop: RunStop = reason === 'signal' ? { kind: 'signal', signal: detail } : { kind: 'stopped', detail };
    if (this.current === 'created') this.stopBeforeRun ??= stop;
    else this.platform.stop(stop);
  }

  /** Bytes typed at the guest's console (before run(), the guest reads them once it runs). */
  consoleInput(bytes: Uint8Array): void {
    if (this.current === 'ended') throw new VmStateError('consoleInput(): the VM has ended');
    this.platform.consoleInput(bytes);
  }

  /** The run is over: hypapps' shutdown, exactly once. */
  private end(result: VmStop): void {
    this.current = 'ended';
    this.endedWith = result;
    this.vsock?.end(); // no vsock callback after shutdown
    const e: ShutdownEvent = { reason: result.reason, ...(result.detail === undefined ? {} : { detail: result.detail }) };
    this.apps.forEach((a, i) => {
      this.monitor?.enter(i, 'shutdown');
      try { a.app.shutdown?.(a.ctx, e); } catch (err) {
        process.stderr.write(`xmhf: hypapp ${a.app.name} failed in shutdown: ${errorMessage(err)}\n`);
      } finally {
        this.monitor?.leave();
      }
    });
    this.platform.close?.();
  }
}

function shutdownEvent(stop: RunStop): ShutdownEvent {
  switch (stop.kind) {
    case 'reset': return { reason: 'reboot' };
    case 'triple-fault': return { reason: 'triple-fault', detail: `at RIP 0x${stop.rip.toString(16)}` };
    case 'timeout': return { reason: 'timeout' };
    case 'halted-by-core': return { reason: 'stopped', detail: stop.message };
    case 'stopped': return { reason: 'stopped', detail: stop.detail };
    case 'signal': return { reason: 'signal', detail: stop.signal };
    case 'guest-halted': return { reason: 'stopped', detail: `the guest halted with interrupts off at RIP 0x${stop.rip.toString(16)}; nothing can wake it` };
    case 'poweroff': return { reason: 'poweroff' };
  }
}

export async function createCoreVm(createPlatform: PlatformFactory, o: CoreVmOptions): Promise<Vm> {
  const log = o.log ?? ((line: string) => process.stderr.write(`xmhf: ${line}\n`));
  const onEvent = o.onEvent ?? ((app, r) => process.stderr.write(JSON.stringify({ hypapp: app, ...r }, bigintJson) + '\n'));
  const specs = (o.hypapps ?? []).map((h): HypappSpec => ('app' in h ? h : { app: h }));
  const names = new Set<string>();
  for (const s of specs) {
    if (typeof s.app?.name !== 'string' || s.app.name === '') throw new HypappInitError('a hypapp needs a non-empty string "name"');
    if (names.has(s.app.name)) throw new HypappInitError(`two hypapps are named "${s.app.name}"`);
    names.add(s.app.name);
    const devices: unknown = s.app.devices;
    if (devices !== undefined && (!Array.isArray(devices) || devices.some((d) => !HYPAPP_DEVICES.includes(d)))) {
      throw new HypappInitError(`hypapp ${s.app.name}: devices must be a list of ${HYPAPP_DEVICES.map((d) => `'${d}'`).join(', ')}`);
    }
  }

  // The platform's hooks are wired before the hub and dmaprot exist; they run only once the guest does.
  let hub: EventHub | undefined;
  let dmaprot: Dmaprot | undefined;
  const pc = await createPlatform({
    exit: (vcpu, exit) => hub!.handleExit(vcpu, exit),
    mmio: {
      read: (gpa, size, vcpu) => hub!.mmio(gpa, size, vcpu, 'read', 0),
      write: (gpa, size, value, vcpu) => hub!.mmio(gpa, size, vcpu, 'write', value) !== undefined,
    },
    dma: {
      read: (device, gpa, length) => dmaprot!.read(device, gpa, length),
      write: (device, gpa, bytes) => dmaprot!.write(device, gpa, bytes),
    },
  });
  const boot = pc.machine.vcpus[0];
  loadLinux(pc.machine, boot, { kernel: o.kernel, initrd: o.initrd, cmdline: o.cmdline, rsdpAddr: pc.rsdpAddr });

  const mem = new GuestMemory(pc.machine);
  const intercepts = new Intercepts(pc.machine.vcpus, { controls: pc.controls, msrs: pc.msrIntercepts });
  const memprot = new Memprot(pc.machine, (on) => intercepts.setNestedPaging(on));
  dmaprot = new Dmaprot(pc.machine, memprot, (v) => hub!.dmaViolation(v));
  const cpus: GuestCpu[] = pc.machine.vcpus.map((v) => new GuestCpuImpl(v, mem));
  const measurements = new MeasurementLog();
  const counts = new Map<string, number>();
  const stop = (message: string) => pc.stop({ kind: 'halted-by-core', message });
  // Guest time stands still while any vCPU single-steps masked.
  let frozen: Release | undefined;
  intercepts.onMaskedStepping = (any) => {
    if (any) frozen ??= pc.freezeTime();
    else { frozen?.release(); frozen = undefined; }
  };
  const vsock = pc.hostChannel && new VsockService({
    channel: pc.hostChannel, clock: pc.clock, outsideGuest: (fn) => pc.outsideGuest(fn),
    call: (app, what, fn) => hub!.callback(app, what, fn),
  });
  const core: CoreServices = {
    cpus, mem, memprot, dmaprot, intercepts, clock: pc.clock, measurements, counts,
    debug: new DebugPoints(memprot, pc.machine),
    log, emit: onEvent, stop, monitor: o.callbackMonitor, outsideGuest: (fn) => pc.outsideGuest(fn),
    hold: () => pc.hold(),
    ...(vsock ? { vsock } : {}),
  };
  const apps: LoadedHypapp[] = specs.map((s, i) => ({ app: s.app, ctx: createContext(core, i, s.app.name, s.options ?? {}) }));
  hub = new EventHub({
    apps, cpus, memprot, debug: core.debug, intercepts, stop,
    portIn: (p, size) => pc.portIn(p, size),
    portOut: (p, size, v) => pc.portOut(p, size, v),
    platformMsr: (vcpu, exit) => { pc.servePlatformExit(exit, vcpu); },
    count: (kind) => counts.set(kind, (counts.get(kind) ?? 0) + 1),
    monitor: o.callbackMonitor,
  });

  // The measured launch: what is about to run, before any of it runs.
  measurements.extend('core', 'kernel', o.kernel);
  if (o.initrd) measurements.extend('core', 'initrd', o.initrd);
  measurements.extend('core', 'cmdline', o.cmdline);
  for (const s of specs) measurements.extend('core', `hypapp ${s.app.name}`, s.source ?? s.app.name);

  const initTimeoutMs = o.initTimeoutMs ?? CALLBACK_TIMEOUT_MS;
  for (const [i, a] of apps.entries()) {
    try {
      await settleWithin(initTimeoutMs, () => {
        o.callbackMonitor?.enter(i, 'init');
        try { return a.app.init?.(a.ctx); } finally { o.callbackMonitor?.leave(); }
      }, `init did not settle within ${initTimeoutMs / 1000} s`);
    } catch (e) {
      const message = errorMessage(e);
      for (const b of apps.slice(0, i)) {
        try { b.app.shutdown?.(b.ctx, { reason: 'error', detail: `hypapp ${a.app.name} failed to start` }); } catch { /* already failing */ }
      }
      throw new HypappInitError(`hypapp ${a.app.name} failed to start: ${message}`);
    }
  }
  return new Vm(pc, apps, measurements, counts, cpus, o.callbackMonitor, vsock);
}

/** Await what `fn` returns, failing with `message` if it has not settled after `ms` (an init that never settles would hang the start). */
async function settleWithin(ms: number, fn: () => unknown, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

function bigintJson(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}
