// createCoreVm: a platform with a Linux guest under the XMHF core and its
// hypapps. The order is XMHF's: platform and guest image in memory, a
// measurement of what will run, every hypapp's init (app_main) before the
// guest's first instruction, then the event loop; shutdown callbacks see how
// it ended. Which platform and backend is the caller's choice (src/vmm.ts
// composes the PC on the WebAssembly CPU).
import type { Platform, PlatformFactory, RunStop } from '../platform/platform.js';
import { loadLinux } from '../boot/linux.js';
import type { Hypapp, ShutdownEvent, ShutdownReason, GuestCpu } from '../hypapp/api.js';
import { GuestMemory } from './guest-memory.js';
import { GuestCpuImpl, instructionBytesText } from './guest-cpu.js';
import { Memprot } from './memprot.js';
import { DebugPoints } from './debug-points.js';
import { Intercepts } from './intercepts.js';
import { MeasurementLog } from './measure.js';
import { EventHub, type LoadedHypapp } from './hub.js';
import { createContext, type CoreServices } from './context.js';
import type { CallbackMonitor } from './watchdog.js';
import { Dmaprot } from './dmaprot.js';

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
}

/** How a run ended, with the reason hypapps were told. */
export interface VmStop {
  reason: ShutdownReason;
  detail?: string;
  stop: RunStop;
}

/** A hypapp's init failed: the VM did not start. */
export class HypappInitError extends Error {}

export class Vm {
  constructor(
    private readonly platform: Platform,
    private readonly apps: LoadedHypapp[],
    readonly measurements: MeasurementLog,
    private readonly counts: Map<string, number>,
    private readonly cpus: readonly GuestCpu[],
  ) {}

  /** VM exits seen by the core, by kind. */
  exitCounts(): Record<string, number> { return Object.fromEntries(this.counts); }

  /** Run the guest until it powers off, resets, faults, is stopped or `timeoutMs` pass; then shut hypapps down. */
  async run(timeoutMs?: number): Promise<VmStop> {
    let stop: RunStop;
    try {
      stop = await this.platform.run(timeoutMs);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      this.shutdown({ reason: 'error', detail });
      throw e;
    }
    const event = shutdownEvent(stop);
    // Where a triple fault happened: the boot CPU's instruction bytes at RIP.
    if (stop.kind === 'triple-fault') event.detail += instructionBytesText(this.cpus[0]);
    this.shutdown(event);
    return { ...event, stop };
  }

  /** End the run at the next instruction boundary. */
  /** End the run at the next instruction boundary, on the host's behalf; hypapps' shutdown sees `detail`. */
  stop(detail = 'stopped by the host', reason: 'stopped' | 'signal' = 'stopped'): void {
    this.platform.stop(reason === 'signal' ? { kind: 'signal', signal: detail } : { kind: 'stopped', detail });
  }

  /** Bytes typed at the guest's console. */
  consoleInput(bytes: Uint8Array): void { this.platform.consoleInput(bytes); }

  private shutdown(e: ShutdownEvent): void {
    for (const a of this.apps) {
      try { a.app.shutdown?.(a.ctx, e); } catch (err) {
        process.stderr.write(`xmhf: hypapp ${a.app.name} failed in shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
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
  dmaprot = new Dmaprot(pc.machine, memprot);
  const cpus: GuestCpu[] = pc.machine.vcpus.map((v) => new GuestCpuImpl(v, mem));
  const measurements = new MeasurementLog();
  const counts = new Map<string, number>();
  const stop = (message: string) => pc.stop({ kind: 'halted-by-core', message });
  const core: CoreServices = {
    cpus, mem, memprot, intercepts, clock: pc.clock, measurements, counts,
    debug: new DebugPoints(memprot, pc.machine),
    log, emit: onEvent, stop, monitor: o.callbackMonitor,
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

  for (const a of apps) {
    try {
      await a.app.init?.(a.ctx);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      for (const b of apps.slice(0, apps.indexOf(a))) {
        try { b.app.shutdown?.(b.ctx, { reason: 'error', detail: `hypapp ${a.app.name} failed to start` }); } catch { /* already failing */ }
      }
      throw new HypappInitError(`hypapp ${a.app.name} failed to start: ${message}`);
    }
  }
  return new Vm(pc, apps, measurements, counts, cpus);
}

function bigintJson(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}
