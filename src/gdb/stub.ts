// The gdb stub's target side, as a hypapp built on the hypapp API only: it
// holds the guest (x.hold: guest time stands still) whenever gdb has it
// stopped, owns its breakpoints, watchpoints and single-steps (the core hands
// each owner its own events, so hypapps keep theirs), and answers the
// requests of one connected gdb (session.ts speaks the protocol).
import type { GuestCpu, GuestHold, Hypapp, HypappContext, WatchKind } from '../hypapp/api.js';
import { linuxOf } from '../linux/index.js';
import { symbolFile } from './symbol-file.js';

/** Why the guest stopped, for the stop reply. */
export interface StopInfo {
  signal: number;
  cpu: number;
  /** Stop-reply fields after thread: ("swbreak:;", "watch:ffff8000...;"). */
  reason?: string;
}

export const SIGINT = 2;
export const SIGTRAP = 5;

/** What the protocol session needs of the target. */
export interface Target {
  readonly x: HypappContext;
  readonly cpus: readonly GuestCpu[];
  readonly stopped: boolean;
  lastStop: StopInfo;
  /** Stop the guest now (gdb attached, Ctrl-C); the stop reply goes out through `onStop`. */
  interrupt(signal: number): void;
  resume(action: 'c' | 's', cpu: number): void;
  addBreakpoint(type: 0 | 1, addr: bigint): void;
  removeBreakpoint(type: 0 | 1, addr: bigint): void;
  addWatchpoint(type: 2 | 3 | 4, addr: bigint, length: number): void;
  removeWatchpoint(type: 2 | 3 | 4, addr: bigint, length: number): void;
  /** Remove everything of gdb's and let the guest run (detach, or gdb went away). */
  detach(): void;
  /** Masked single-steps (the default): no interrupts, no guest time between steps. */
  maskedSteps: boolean;
  /** An ELF symbol file of the running kernel's own symbols (kallsyms, found in guest memory). */
  kernelSymbolFile(): { bytes: Uint8Array; count: number };
}

const WATCH_KINDS: Record<2 | 3 | 4, { kind: WatchKind; reply: string }> = {
  2: { kind: 'write', reply: 'watch' },
  3: { kind: 'read', reply: 'rwatch' },
  4: { kind: 'access', reply: 'awatch' },
};

export class StubTarget implements Target {
  x!: HypappContext;
  maskedSteps = true;
  lastStop: StopInfo = { signal: SIGTRAP, cpu: 0 };
  /** Told of every stop gdb must hear about. */
  onStop: ((s: StopInfo) => void) | undefined;
  private hold: GuestHold | undefined;
  /** Breakpoint address -> core id and Z type. */
  private readonly breakpoints = new Map<bigint, { id: number; type: 0 | 1 }>();
  /** "type:addr:length" -> core id, and the reverse. */
  private readonly watchpoints = new Map<string, number>();
  private readonly watchById = new Map<number, { type: 2 | 3 | 4; addr: bigint }>();
  /** The vCPU gdb asked to step, if any. */
  private stepping: number | undefined;
  /** Resuming from an instruction gdb has a breakpoint on: step it first without stopping there again. */
  private stepOver: { cpu: number; rip: bigint; thenContinue: boolean } | undefined;
  /** A watchpoint hit before its access: reported once the instruction has retired. */
  private pendingWatch: StopInfo | undefined;

  get cpus(): readonly GuestCpu[] { return this.x.cpus; }
  get stopped(): boolean { return this.hold !== undefined; }

  kernelSymbolFile(): { bytes: Uint8Array; count: number } {
    const symbols = linuxOf(this.x).symbols();
    return { bytes: symbolFile(symbols), count: symbols.length };
  }

  /** Hold the guest (before its first instruction, for --gdb-wait). */
  holdGuest(): void { this.hold ??= this.x.hold(); }

  interrupt(signal: number): void {
    this.stop({ signal, cpu: this.lastStop.cpu });
  }

  private stop(s: StopInfo): void {
    this.holdGuest();
    this.setStepping(undefined);
    this.stepOver = undefined;
    this.pendingWatch = undefined;
    this.lastStop = s;
    this.onStop?.(s);
  }

  private setStepping(cpu: number | undefined): void {
    if (this.stepping !== undefined && this.stepping !== cpu) this.x.singleStep(this.cpus[this.stepping], false);
    // A halted vCPU moves only by taking an interrupt: its step runs with interrupts and time (else it never ends).
    if (cpu !== undefined) this.x.singleStep(this.cpus[cpu], true, { interrupts: !this.maskedSteps || this.cpus[cpu].halted });
    this.stepping = cpu;
  }

  resume(action: 'c' | 's', cpu: number): void {
    const rip = this.cpus[cpu].get('rip');
    if (this.breakpoints.has(rip)) {
      this.stepOver = { cpu, rip, thenContinue: action === 'c' };
      this.setStepping(cpu);
    } else {
      this.setStepping(action === 's' ? cpu : undefined);
    }
    const h = this.hold;
    this.hold = undefined;
    h?.release();
  }

  addBreakpoint(type: 0 | 1, addr: bigint): void {
    if (this.breakpoints.has(addr)) return;
    this.breakpoints.set(addr, { id: this.x.addBreakpoint(addr), type });
  }

  removeBreakpoint(_type: 0 | 1, addr: bigint): void {
    const b = this.breakpoints.get(addr);
    if (!b) return;
    this.breakpoints.delete(addr);
    this.x.removeBreakpoint(b.id);
  }

  addWatchpoint(type: 2 | 3 | 4, addr: bigint, length: number): void {
    const key = `${type}:${addr}:${length}`;
    if (this.watchpoints.has(key)) return;
    const id = this.x.addVirtualWatchpoint(addr, length, WATCH_KINDS[type].kind);
    this.watchpoints.set(key, id);
    this.watchById.set(id, { type, addr });
  }

  removeWatchpoint(type: 2 | 3 | 4, addr: bigint, length: number): void {
    const key = `${type}:${addr}:${length}`;
    const id = this.watchpoints.get(key);
    if (id === undefined) return;
    this.watchpoints.delete(key);
    this.watchById.delete(id);
    this.x.removeWatchpoint(id);
  }

  detach(): void {
    for (const b of this.breakpoints.values()) this.x.removeBreakpoint(b.id);
    for (const id of this.watchpoints.values()) this.x.removeWatchpoint(id);
    this.breakpoints.clear();
    this.watchpoints.clear();
    this.watchById.clear();
    this.setStepping(undefined);
    this.stepOver = undefined;
    this.pendingWatch = undefined;
    const h = this.hold;
    this.hold = undefined;
    h?.release();
  }

  // ---- the core's events for gdb's own breakpoints, watchpoints and steps ----
  breakpointHit(cpu: GuestCpu, id: number, rip: bigint): void {
    if (this.stopped) return;
    if (this.stepOver && this.stepOver.cpu === cpu.index && this.stepOver.rip === rip) return; // the CPU runs it next
    const b = this.breakpoints.get(rip);
    if (!b || b.id !== id) return;
    this.stop({ signal: SIGTRAP, cpu: cpu.index, reason: b.type === 0 ? 'swbreak:;' : 'hwbreak:;' });
  }

  watchHit(cpu: GuestCpu, id: number, gva: bigint): void {
    const w = this.watchById.get(id);
    if (!w || this.stopped) return;
    // Reported after the access (gdb compares old and new values): step the instruction first.
    this.pendingWatch = { signal: SIGTRAP, cpu: cpu.index, reason: `${WATCH_KINDS[w.type].reply}:${gva.toString(16)};` };
    if (this.stepping !== cpu.index) this.setStepping(cpu.index);
  }

  stepped(cpu: GuestCpu): void {
    if (this.stepping !== cpu.index || this.stopped) return;
    if (this.pendingWatch) { this.stop(this.pendingWatch); return; }
    if (this.stepOver?.thenContinue) {
      this.stepOver = undefined;
      this.setStepping(undefined);
      return;
    }
    this.stop({ signal: SIGTRAP, cpu: cpu.index });
  }

  /** The hypapp side: the core's events go to the target. */
  hypapp(init: (x: HypappContext) => Promise<void>, shutdown: () => void): Hypapp {
    return {
      name: 'gdb',
      init: async (x) => { this.x = x; await init(x); },
      shutdown: () => shutdown(),
      onBreakpoint: (_x, e) => this.breakpointHit(e.cpu, e.id, e.rip),
      onWatchpoint: (_x, e) => this.watchHit(e.cpu, e.id, e.gva),
      onStep: (_x, e) => this.stepped(e.cpu),
    };
  }
}
