// The event hub: every exit of every vCPU comes here. Each exit kind asks the
// interested hypapps in load order (a hypapp answers, or returns CHAIN to pass
// it on), then falls back to the core's default, which does what the guest
// would have seen without a hypervisor. Handlers run one at a time, to
// completion, while the guest is stopped.
import { Exit, ExitField, Reg, EventType, Access, type Vcpu } from '../backend/interface.js';
import type { RunStop } from '../platform/platform.js';
import {
  type Hypapp, type HypappContext, type GuestCpu, type AccessKind, type ViolationResult,
  CoreHypercall, HYPERCALL_ENOSYS, protText,
} from '../hypapp/api.js';
import { MemprotError, type Memprot } from './memprot.js';
import type { DebugPoints } from './debug-points.js';
import type { Intercepts } from './intercepts.js';
import { instructionBytesText } from './guest-cpu.js';
import type { CallbackMonitor } from './watchdog.js';
import type { DmaViolation } from './dmaprot.js';
import { checkAnswer, AnswerError } from './answers.js';
import { Vector, PAGE_SIZE } from '../backend/abi.js';
import { allOnes } from '../platform/device.js';
import { errorMessage } from '../error-message.js';


export interface LoadedHypapp {
  app: Hypapp;
  ctx: HypappContext;
}

/** A hypapp threw: the VM stops with this message. */
export class HypappError extends Error {}

/** What the hub needs of the rest of the core. */
export interface HubDeps {
  apps: LoadedHypapp[];
  cpus: GuestCpu[];
  memprot: Memprot;
  debug: DebugPoints;
  intercepts: Intercepts;
  portIn(port: number, size: number): number;
  portOut(port: number, size: number, value: number): void;
  /** The platform completes an MSR exit no hypapp took (its device MSRs, else the CPU's own). */
  platformMsr(vcpu: Vcpu, exit: Exit): void;
  /** Counts every exit by kind (for hypapps' statistics and the benchmarks). */
  count(kind: string): void;
  /** End the run at the next instruction boundary with this message (from outside an exit). */
  stop(message: string): void;
  /** Told which hypapp callback runs (the watchdog). */
  monitor?: CallbackMonitor;
}

export class EventHub {
  /** Inside a single-instruction step: allow-once verdicts only grant, the step loop retries. */
  private stepping = false;

  constructor(private readonly d: HubDeps) {}

  /** The platform's exit handler. */
  handleExit(vcpu: Vcpu, exit: Exit): RunStop | undefined {
    this.d.count(Exit[exit] ?? String(exit));
    try {
      return this.dispatch(vcpu, exit);
    } catch (e) {
      if (e instanceof HypappError) return { kind: 'halted-by-core', message: e.message };
      // A verdict the core cannot apply (a { setprot } with bits that are no protection).
      if (e instanceof MemprotError) return { kind: 'halted-by-core', message: `a hypapp's verdict could not be applied: ${e.message}` };
      throw e;
    }
  }

  /**
   * The one place hypapps are called: `fn` is hypapp `a`'s callback `what`,
   * `check` its answer's type. A throw or a wrong answer becomes a
   * HypappError naming the hypapp and the callback, which stops the VM. The
   * watchdog's monitor is told which callback runs.
   */
  private call<T>(a: LoadedHypapp, what: string, fn: () => unknown, check: (r: unknown) => T): T {
    const monitor = this.d.monitor;
    monitor?.enter(this.d.apps.indexOf(a), what);
    try {
      return check(fn());
    } catch (e) {
      if (e instanceof AnswerError) throw new HypappError(`hypapp ${a.app.name}: ${what} ${e.message}`);
      throw new HypappError(`hypapp ${a.app.name} failed in ${what}: ${errorMessage(e)}`);
    } finally {
      monitor?.leave();
    }
  }

  /**
   * A guest MMIO access outside RAM that hypapps claimed (claimMmio): the
   * first claimant that answers serves it. Undefined: the platform serves it.
   * A hypapp failing here stops the VM; the guest reads all ones meanwhile.
   */
  mmio(gpa: number, size: number, vcpu: number, direction: 'read' | 'write', value: number): number | undefined {
    for (const c of this.d.intercepts.mmio) {
      if (gpa < c.first || gpa >= c.end) continue;
      const a = this.d.apps[c.app];
      if (!a.app.onMmio) continue;
      let r;
      try {
        r = this.call(a, 'onMmio', () => a.app.onMmio!(a.ctx, { vcpu, gpa, size, direction, value }), checkAnswer.onMmio);
      } catch (e) {
        if (!(e instanceof HypappError)) throw e;
        this.d.stop(e.message);
        return direction === 'read' ? allOnes(size) : 0;
      }
      if (r === undefined) continue;
      if (direction === 'read') return r === 'skip' ? allOnes(size) : (r.value & allOnes(size)) >>> 0;
      return 0;
    }
    return undefined;
  }

  /**
   * dmaprot refused a device's access: every hypapp with onDmaViolation is
   * told (devices run between guest instructions or inside an MMIO access,
   * never inside another callback). A hypapp failing here stops the VM.
   */
  dmaViolation(v: DmaViolation): void {
    // A device's address may be any number a lying driver wrote; the event carries it as an integer.
    const gpa = Number.isFinite(v.gpa) ? BigInt(Math.trunc(v.gpa)) : -1n;
    const e = { device: v.device, gpa, length: v.length, direction: v.direction };
    for (const [i, a] of this.d.apps.entries()) {
      if (a.app.onDmaViolation && !this.callback(i, 'onDmaViolation', () => a.app.onDmaViolation!(a.ctx, { ...e }))) return;
    }
  }

  /**
   * Hypapp number `app`'s callback `what`, called from outside an exit (a
   * device's event, a vsock connection's data): through call(), its answer
   * ignored. A failure stops the VM; false then.
   */
  callback(app: number, what: string, fn: () => unknown): boolean {
    try {
      this.call(this.d.apps[app], what, fn, checkAnswer.ignored);
      return true;
    } catch (err) {
      if (!(err instanceof HypappError)) throw err;
      this.d.stop(err.message);
      return false;
    }
  }

  private dispatch(vcpu: Vcpu, exit: Exit): RunStop | undefined {
    const cpu = this.d.cpus[vcpu.index];
    switch (exit) {
      case Exit.VMCALL: this.hypercall(vcpu, cpu); return;
      case Exit.IO: this.portIo(vcpu, cpu); return;
      case Exit.CPUID: this.cpuid(vcpu, cpu); return;
      case Exit.MSR_READ: case Exit.MSR_WRITE: this.msr(vcpu, cpu, exit === Exit.MSR_WRITE); return;
      case Exit.CR_WRITE: this.crWrite(vcpu, cpu); return;
      case Exit.EXCEPTION: this.exception(vcpu, cpu); return;
      case Exit.NPF: return this.nestedFault(vcpu, cpu);
      case Exit.MONITOR_TRAP: this.step(cpu); return;
      case Exit.BREAKPOINT: this.breakpoint(vcpu, cpu); return;
      case Exit.INIT: case Exit.SIPI: case Exit.INTERRUPT_WINDOW: case Exit.HLT: return;
      case Exit.TRIPLE_FAULT: return { kind: 'triple-fault', rip: vcpu.getReg(Reg.RIP) };
      case Exit.EMULATION_FAILURE:
        return { kind: 'halted-by-core', message: `emulation failure at RIP 0x${vcpu.getReg(Reg.RIP).toString(16)}${instructionBytesText(cpu)}, in ${vcpu.emulationFailure()}` };
      default: return { kind: 'halted-by-core', message: `emulation failure (${Exit[exit] ?? exit}) at RIP 0x${vcpu.getReg(Reg.RIP).toString(16)}${instructionBytesText(cpu)}` };
    }
  }

  // ---- hypercalls ----
  private hypercall(vcpu: Vcpu, cpu: GuestCpu): void {
    const fn = Number(vcpu.getReg(Reg.RAX) & 0xffff_ffffn);
    const args: [bigint, bigint, bigint, bigint] = [vcpu.getReg(Reg.RBX), vcpu.getReg(Reg.RCX), vcpu.getReg(Reg.RDX), vcpu.getReg(Reg.RSI)];
    let result: bigint = HYPERCALL_ENOSYS;
    if (fn === CoreHypercall.RESOLVE) {
      result = this.resolveHypercall(cpu, args[0]);
    } else if (fn === CoreHypercall.READY) {
      for (const a of this.d.apps) if (a.app.onGuestReady) this.call(a, 'onGuestReady', () => a.app.onGuestReady!(a.ctx), checkAnswer.ignored);
      result = 0n;
    } else {
      for (const a of this.d.apps) {
        if (!a.app.onHypercall) continue;
        const r = this.call(a, 'onHypercall', () => a.app.onHypercall!(a.ctx, { cpu, fn, args }), checkAnswer.onHypercall);
        if (r !== undefined) { result = BigInt(r); break; }
      }
    }
    vcpu.setReg(Reg.RAX, BigInt.asUintN(64, result));
    vcpu.skipInstruction();
  }

  private resolveHypercall(cpu: GuestCpu, nameAt: bigint): bigint {
    let name: string;
    try { name = cpu.readString(nameAt, 64); } catch { return HYPERCALL_ENOSYS; }
    if (name === 'ready') return BigInt(CoreHypercall.READY);
    for (const a of this.d.apps) {
      const n = a.app.hypercalls?.[name];
      if (n !== undefined) return BigInt(n);
    }
    return HYPERCALL_ENOSYS;
  }

  // ---- port I/O ----
  private portIo(vcpu: Vcpu, cpu: GuestCpu): void {
    const port = Number(vcpu.exitField(ExitField.NUMBER));
    const size = Number(vcpu.exitField(ExitField.SIZE)) as 1 | 2 | 4;
    const isIn = vcpu.exitField(ExitField.DIRECTION) === 1n;
    const value = Number(vcpu.exitField(ExitField.VALUE) & 0xffff_ffffn);
    const string = vcpu.exitField(ExitField.FLAGS) === 1n;
    const mask = allOnes(size);
    for (const i of this.d.intercepts.ports.get(port) ?? []) {
      const a = this.d.apps[i];
      if (!a.app.onPortIo) continue;
      const direction = isIn ? 'in' : 'out';
      const r = this.call(a, 'onPortIo', () => a.app.onPortIo!(a.ctx, { cpu, port, size, direction, value, string }), (x) => checkAnswer.onPortIo(x, direction));
      if (r === undefined) continue;
      if (isIn) {
        vcpu.completeIo((r as { value: number }).value & mask);
      } else {
        vcpu.completeIo(0);
      }
      return;
    }
    if (isIn) vcpu.completeIo(this.d.portIn(port, size) & mask);
    else { this.d.portOut(port, size, value & mask); vcpu.completeIo(0); }
  }

  // ---- CPUID ----
  private cpuid(vcpu: Vcpu, cpu: GuestCpu): void {
    const leaf = Number(vcpu.getReg(Reg.RAX) & 0xffff_ffffn);
    const subleaf = Number(vcpu.getReg(Reg.RCX) & 0xffff_ffffn);
    const e = vcpu.cpuid(leaf, subleaf);
    let result = { eax: e.eax, ebx: e.ebx, ecx: e.ecx, edx: e.edx };
    for (const i of this.d.intercepts.cpuid) {
      const a = this.d.apps[i];
      if (!a.app.onCpuid) continue;
      const r = this.call(a, 'onCpuid', () => a.app.onCpuid!(a.ctx, { cpu, leaf, subleaf, result: { ...result } }), checkAnswer.onCpuid);
      if (r !== undefined) result = r;
    }
    vcpu.setReg(Reg.RAX, BigInt(result.eax >>> 0));
    vcpu.setReg(Reg.RBX, BigInt(result.ebx >>> 0));
    vcpu.setReg(Reg.RCX, BigInt(result.ecx >>> 0));
    vcpu.setReg(Reg.RDX, BigInt(result.edx >>> 0));
    vcpu.skipInstruction();
  }

  // ---- MSRs ----
  private msr(vcpu: Vcpu, cpu: GuestCpu, write: boolean): void {
    const index = Number(vcpu.exitField(ExitField.NUMBER));
    const value = write ? vcpu.exitField(ExitField.VALUE) : 0n;
    const claims = this.d.intercepts.msrs.get(index);
    for (const i of (write ? claims?.write : claims?.read) ?? []) {
      const a = this.d.apps[i];
      if (!a.app.onMsr) continue;
      const direction = write ? 'write' : 'read';
      const r = this.call(a, 'onMsr', () => a.app.onMsr!(a.ctx, { cpu, index, direction, value: BigInt.asUintN(64, value) }), (x) => checkAnswer.onMsr(x, direction));
      if (r === undefined) continue;
      if (r === 'allow') break;
      if (r === 'deny') { vcpu.inject(EventType.HARDWARE_EXCEPTION, Vector.GP, 0); return; }
      if (r === 'skip') { vcpu.skipInstruction(); return; }
      setEdxEax(vcpu, r.value);
      vcpu.skipInstruction();
      return;
    }
    this.d.platformMsr(vcpu, write ? Exit.MSR_WRITE : Exit.MSR_READ);
  }

  // ---- control registers ----
  private crWrite(vcpu: Vcpu, cpu: GuestCpu): void {
    const cr = Number(vcpu.exitField(ExitField.NUMBER)) as 0 | 3 | 4;
    let value = vcpu.exitField(ExitField.VALUE);
    const old = vcpu.getReg(cr === 0 ? Reg.CR0 : cr === 3 ? Reg.CR3 : Reg.CR4);
    for (const i of this.d.intercepts.crWrites.get(cr) ?? []) {
      const a = this.d.apps[i];
      if (!a.app.onCrWrite) continue;
      const r = this.call(a, 'onCrWrite', () => a.app.onCrWrite!(a.ctx, { cpu, cr, old, value }), checkAnswer.onCrWrite);
      if (r === undefined || r === 'allow') continue;
      if (r === 'deny') { vcpu.inject(EventType.HARDWARE_EXCEPTION, Vector.GP, 0); return; }
      if (r === 'skip') { vcpu.skipInstruction(); return; }
      value = r.value;
    }
    vcpu.completeCrWrite(cr, value);
  }

  // ---- exceptions ----
  private exception(vcpu: Vcpu, cpu: GuestCpu): void {
    const vector = Number(vcpu.exitField(ExitField.NUMBER));
    const hasCode = vcpu.exitField(ExitField.FLAGS) === 1n;
    const errorCode = hasCode ? Number(vcpu.exitField(ExitField.VALUE) & 0xffff_ffffn) : undefined;
    const address = vector === Vector.PF ? vcpu.exitField(ExitField.GPA) : undefined;
    for (const i of this.d.intercepts.exceptions.get(vector) ?? []) {
      const a = this.d.apps[i];
      if (!a.app.onException) continue;
      const r = this.call(a, 'onException', () => a.app.onException!(a.ctx, { cpu, vector, errorCode, address }), checkAnswer.onException);
      if (r === 'suppress') return;
      if (r === 'deliver') break;
    }
    // Deliver it as the guest would have seen it: INT3/INTO/INT1 as the
    // software event they were (returning after the instruction), faults with
    // their error code and, for #PF, CR2.
    if (vcpu.exitField(ExitField.INSTR_LEN) > 0n) {
      vcpu.skipInstruction();
      vcpu.inject(EventType.SOFTWARE_INTERRUPT, vector);
      return;
    }
    if (address !== undefined) vcpu.setReg(Reg.CR2, address);
    vcpu.inject(EventType.HARDWARE_EXCEPTION, vector, errorCode);
  }

  // ---- single-step ----
  private step(cpu: GuestCpu): void {
    for (const i of [...this.d.intercepts.stepping.get(cpu.index) ?? []]) {
      const a = this.d.apps[i];
      if (a.app.onStep) this.call(a, 'onStep', () => a.app.onStep!(a.ctx, { cpu, rip: cpu.get('rip') }), checkAnswer.ignored);
    }
    // Masked steps: no interrupt before the next stepped instruction either.
    if (this.d.intercepts.steppingMasked(cpu.index)) this.d.intercepts.maskInterrupts(cpu.index);
  }

  // ---- nested page faults: breakpoints, watchpoints, protection violations ----
  private nestedFault(vcpu: Vcpu, cpu: GuestCpu): RunStop | undefined {
    const gpa = vcpu.exitField(ExitField.GPA);
    const gva = vcpu.exitField(ExitField.GVA);
    const bits = Number(vcpu.exitField(ExitField.DIRECTION));
    const size = Number(vcpu.exitField(ExitField.SIZE));
    const stored = vcpu.exitField(ExitField.FLAGS) === 1n ? vcpu.exitField(ExitField.VALUE) : undefined;
    const page = Number(gpa / BigInt(PAGE_SIZE));
    const access: AccessKind = bits & Access.WRITE ? 'write' : bits & (Access.EXEC_SUPER | Access.EXEC_USER) ? 'execute' : 'read';
    const need = bits & Access.ALL;
    const memprot = this.d.memprot;

    if (access !== 'execute') {
      for (const w of this.d.debug.watchpointsHit(Number(gpa), size, access === 'write', vcpu.getReg(Reg.CR3))) {
        const a = this.owner(w.owner);
        if (a?.app.onWatchpoint) {
          this.call(a, 'onWatchpoint', () => a.app.onWatchpoint!(a.ctx, { cpu, id: w.id, gpa, gva, access: access as 'read' | 'write', size }), checkAnswer.ignored);
        }
      }
    }

    // Blocked only by the core's own overlays (watchpoints): let the guest through.
    if ((memprot.getprot(Number(gpa)) & need) === need) return this.allowOnce(vcpu, page, need);

    const prot = memprot.getprot(Number(gpa));
    let verdict: ViolationResult;
    for (const a of this.d.apps) {
      if (!a.app.onViolation) continue;
      verdict = this.call(a, 'onViolation', () => a.app.onViolation!(a.ctx, {
        cpu, gpa, gva, access, user: (bits & Access.USER) !== 0, pageWalk: (bits & Access.PAGE_WALK) !== 0, size, value: stored, prot,
      }), checkAnswer.onViolation);
      if (verdict !== undefined) break;
    }
    if (verdict === undefined) {
      return { kind: 'halted-by-core', message: `memory protection violation that no hypapp handled: ${access} of gpa 0x${gpa.toString(16)} (gva 0x${gva.toString(16)}) at RIP 0x${vcpu.getReg(Reg.RIP).toString(16)}; the page is ${protText(prot)}` };
    }
    if (verdict === 'allow-once') return this.allowOnce(vcpu, page, need);
    if (verdict === 'skip') {
      if (access === 'execute' || vcpu.exitField(ExitField.INSTR_LEN) === 0n) {
        return { kind: 'halted-by-core', message: `a hypapp asked to skip an instruction fetch at 0x${gva.toString(16)}; deny execution with { inject } instead` };
      }
      vcpu.skipInstruction();
      return;
    }
    if ('stop' in verdict) return { kind: 'halted-by-core', message: verdict.stop };
    if ('setprot' in verdict) { memprot.setprot(page * PAGE_SIZE, PAGE_SIZE, verdict.setprot); return; }
    if (verdict.inject.vector === Vector.PF) vcpu.setReg(Reg.CR2, gva);
    cpu.injectException(verdict.inject.vector, verdict.inject.errorCode);
    return;
  }

  /** A hypervisor breakpoint: tell its owners (those set at this RIP); the CPU runs the instruction on resuming. */
  private breakpoint(vcpu: Vcpu, cpu: GuestCpu): void {
    const rip = vcpu.getReg(Reg.RIP);
    const bps = this.d.debug.breakpointsAt(Number(vcpu.exitField(ExitField.GPA)));
    for (let i = 0; i < bps.length; i++) {
      const bp = bps[i];
      if (bp.gva !== rip) continue;
      // A hypapp moved the vCPU on (skipped a call, say): the instruction is not reached, later owners are not told.
      if (i > 0 && vcpu.getReg(Reg.RIP) !== rip) break;
      const a = this.owner(bp.owner);
      if (a?.app.onBreakpoint) this.call(a, 'onBreakpoint', () => a.app.onBreakpoint!(a.ctx, { cpu, id: bp.id, rip }), checkAnswer.ignored);
    }
  }

  private owners?: Map<string, LoadedHypapp>;
  /** The hypapp of that name (breakpoints and watchpoints name their owner). */
  private owner(name: string): LoadedHypapp | undefined {
    if (!this.owners) {
      this.owners = new Map();
      for (const a of this.d.apps) if (!this.owners.has(a.app.name)) this.owners.set(a.app.name, a);
    }
    return this.owners.get(name);
  }

  /** Let one instruction through with `rights` added on `page`, then take them back. */
  private allowOnce(vcpu: Vcpu, page: number, rights: number): RunStop | undefined {
    this.d.memprot.grant(page, rights);
    if (this.stepping) return; // the step loop in progress retries with the grant
    return this.stepInstruction(vcpu);
  }

  /**
   * Run the guest one instruction at a time. An instruction that touches more
   * than one protected page exits again mid-way; those exits are handled
   * (adding their grants) and the instruction retried, until it retires.
   */
  private stepInstruction(vcpu: Vcpu): RunStop | undefined {
    const before = vcpu.getReg(Reg.INSTRET);
    this.stepping = true;
    try {
      for (let tries = 0; tries < 16; tries++) {
        // An interrupt shadow keeps external interrupts from running first
        // with the allowance in place (as VM entry with blocking-by-STI does).
        vcpu.setReg(Reg.INTERRUPTIBILITY, vcpu.getReg(Reg.INTERRUPTIBILITY) | 1n);
        const exit = vcpu.run(1);
        if (exit === Exit.BUDGET || exit === Exit.HALTED || exit === Exit.STOPPED) return;
        if (exit === Exit.MONITOR_TRAP) { this.step(this.d.cpus[vcpu.index]); return; }
        const stop = this.dispatch(vcpu, exit);
        if (stop) return stop;
        if (vcpu.getReg(Reg.INSTRET) !== before) return;
      }
      return { kind: 'halted-by-core', message: `an instruction at RIP 0x${vcpu.getReg(Reg.RIP).toString(16)} kept faulting on protected pages` };
    } finally {
      this.stepping = false;
      this.d.memprot.revokeGrants();
    }
  }

}

function setEdxEax(vcpu: Vcpu, v: bigint): void {
  vcpu.setReg(Reg.RAX, v & 0xffff_ffffn);
  vcpu.setReg(Reg.RDX, (v >> 32n) & 0xffff_ffffn);
}

