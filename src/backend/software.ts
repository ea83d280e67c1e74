// The software backend: our WebAssembly x86-64 CPU behind the Machine/Vcpu
// interfaces. Faults and mid-instruction exits leave WebAssembly by a trap
// (see src/cpu/fault.ts); run() catches it and calls resume().
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import type { Machine, MachineSpec, Vcpu, SegmentState, CpuidEntry, X87Register } from './interface.js';
import { Reg, Seg, SegField, Exit, ExitField, EventType, PAGE_SIZE, MMIO_HOLE_START } from './abi.js';
import type { instantiate } from '../../build/cpu-exports.js';
import { cpuModeText, emulationFailureText } from './emulation-failure.js';

/** The exports asc's bindings describe (adapted: booleans as booleans, globals as { value }). */
type AdaptedExports = Awaited<ReturnType<typeof instantiate>>;
/** A bool crosses the raw WebAssembly boundary as an i32: 0 or 1 out, anything truthy in. */
type Raw<T> = T extends boolean ? number : T;
type RawFunction<F> = F extends (...args: infer A) => infer R
  ? (...args: { [I in keyof A]: A[I] extends boolean ? number | boolean : A[I] }) => Raw<R>
  : F;
/** Raw exports of build/cpu.wasm (src/cpu/index.ts), typed from the bindings build-cpu.mjs generates. */
type CpuExports = { [K in keyof AdaptedExports]: RawFunction<AdaptedExports[K]> };


export type SoftwareMachineOptions = MachineSpec;

function wasmPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', 'build', 'cpu.wasm');
}

let compiled: Promise<WebAssembly.Module> | undefined;
function cpuModule(): Promise<WebAssembly.Module> {
  const path = wasmPath();
  if (!existsSync(path)) {
    throw new Error(`the CPU is not built: ${path} is missing (run "npm run build:cpu")`);
  }
  compiled ??= readFile(path).then((bytes) => {
    // The run loop is entered once and runs for millions of instructions;
    // WebAssembly has no on-stack replacement, so V8's baseline tier would
    // keep it at half speed. Compile this module with the optimizing tier.
    // Compile synchronously so the flag is in force for the whole compilation.
    setFlagsFromString('--no-liftoff');
    try {
      return new WebAssembly.Module(bytes);
    } finally {
      setFlagsFromString('--liftoff');
    }
  });
  return compiled;
}

/** An emulation failure inside the CPU itself (a bug, not a guest fault). */
export class CpuInternalError extends Error {}

export async function createSoftwareMachine(opts: SoftwareMachineOptions): Promise<Machine> {
  const { ramSize, bus } = opts;
  if (!Number.isInteger(ramSize) || ramSize < 1 << 20 || ramSize % PAGE_SIZE !== 0) {
    throw new RangeError(`guest RAM size must be a whole number of 4 KiB pages, at least 1 MiB (got ${ramSize})`);
  }
  if (ramSize > MMIO_HOLE_START) throw new RangeError(`guest RAM size ${ramSize} exceeds the 3 GiB this machine supports`);
  const vcpuCount = opts.vcpus ?? 1;
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > 64) throw new RangeError(`vCPU count must be 1 to 64 (got ${vcpuCount})`);

  const module = await cpuModule();
  const active: ActiveVcpu = { index: 0, running: false };
  const instance = await WebAssembly.instantiate(module, {
    env: {
      ioIn: (port: number, size: number) => bus.ioIn(port, size) | 0,
      ioOut: (port: number, size: number, value: number) => bus.ioOut(port, size, value >>> 0),
      mmioRead: (gpa: number, size: number) => bus.mmioRead(gpa, size, active.index) | 0,
      mmioWrite: (gpa: number, size: number, value: number) => bus.mmioWrite(gpa, size, value >>> 0, active.index),
      ackInterrupt: () => bus.ackInterrupt(active.index) | 0,
      guestTsc: opts.tsc ?? (() => 0),
      abort: (_msg: number, _file: number, line: number, col: number) => {
        throw new CpuInternalError(`CPU assertion failed at ${line}:${col}`);
      },
    },
  });
  const cpu = instance.exports as unknown as CpuExports;
  const base = cpu.init(ramSize);
  if (base === 0) throw new RangeError(`could not allocate ${ramSize} bytes of guest RAM`);
  cpu.setTscSource(opts.tsc ? 1 : 0);
  if (vcpuCount > 1 && !cpu.setVcpuCount(vcpuCount)) throw new RangeError(`could not create ${vcpuCount} vCPUs`);
  const vcpus = Array.from({ length: vcpuCount }, (_, i) => new SoftwareVcpu(cpu, i, active));
  return new SoftwareMachine(cpu, base, ramSize, vcpus);
}

class SoftwareMachine implements Machine {
  private ramView: Uint8Array;
  constructor(private cpu: CpuExports, private base: number, readonly ramSize: number, readonly vcpus: readonly Vcpu[]) {
    this.ramView = new Uint8Array(cpu.memory.buffer, base, ramSize);
  }
  get ram(): Uint8Array {
    // memory.grow detaches old views; the CPU grows only in init, but stay safe.
    if (this.ramView.byteLength === 0) this.ramView = new Uint8Array(this.cpu.memory.buffer, this.base, this.ramSize);
    return this.ramView;
  }
  setNestedPerm(gpa: number, count: number, access: number): void {
    this.cpu.setNestedPerm(Math.floor(gpa / PAGE_SIZE), count, access);
  }
  getNestedPerm(gpa: number): number { return this.cpu.getNestedPerm(Math.floor(gpa / PAGE_SIZE)); }
  notifyRamWritten(gpa: number, length: number): void { this.cpu.ramWritten(gpa, length); }
  addExecBreakpoint(gpa: number): void {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa >= this.ramSize) throw new RangeError(`execution breakpoint 0x${gpa.toString(16)} is not in guest RAM`);
    if (!this.cpu.addExecBreakpoint(gpa)) throw new RangeError(`no room for another execution breakpoint (${this.cpu.EXEC_BREAKPOINTS_MAX.value} at most)`);
  }
  removeExecBreakpoint(gpa: number): void { this.cpu.removeExecBreakpoint(gpa); }
}

/** Which vCPU the CPU holds, and whether it is inside run() (then no other may be switched in). */
interface ActiveVcpu { index: number; running: boolean }

class SoftwareVcpu implements Vcpu {
  constructor(private readonly raw: CpuExports, readonly index: number, private readonly active: ActiveVcpu) {}

  /**
   * The WebAssembly CPU with this vCPU made the active one (the CPU holds one
   * vCPU at a time). A getter, not a Proxy: exits read and write registers
   * dozens of times, and a Proxy trap costs several times a plain call.
   */
  private get cpu(): CpuExports {
    if (this.active.index !== this.index) this.select();
    return this.raw;
  }

  private select(): void {
    const active = this.active;
    // Switching would swap out the vCPU whose instruction is half done (a device or MMIO callback inside its run()).
    if (active.running) throw new Error(`vCPU ${this.index} cannot be reached while vCPU ${active.index} runs (from a device or MMIO callback)`);
    this.raw.selectVcpu(this.index);
    active.index = this.index;
  }

  run(budget: number): Exit {
    let r: number;
    // Exits leave WebAssembly by a trap; a trap's error would capture a stack
    // trace, which costs more than the exit itself.
    const traceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const run = this.cpu.run; // selects this vCPU before `running` is set
    this.active.running = true;
    try {
      r = run(BigInt(Math.max(0, Math.floor(budget))));
    } catch (e) {
      r = this.afterTrap(e);
    } finally {
      this.active.running = false;
      Error.stackTraceLimit = traceLimit;
    }
    return r as Exit;
  }

  /** The trap behind the last EmulationFailure.INTERNAL. */
  private lastTrap: string | undefined;

  private afterTrap(first: unknown): number {
    let e: unknown = first;
    for (;;) {
      // A trap, or an assertion of the CPU's code (abort, below): either leaves the CPU's WebAssembly stack.
      if (!(e instanceof WebAssembly.RuntimeError) && !(e instanceof CpuInternalError)) throw e;
      try {
        const r = this.cpu.resume();
        // The CPU names the reason of a failure it recorded; for a trap it did not record, only this message says what it was.
        if (r === Exit.EMULATION_FAILURE) this.lastTrap = e.message;
        return r;
      } catch (next) {
        e = next;
      }
    }
  }

  emulationFailure(): string {
    return `${cpuModeText(this)}: ${emulationFailureText(this, this.lastTrap)}`;
  }

  exitField(field: ExitField): bigint { return BigInt.asUintN(64, this.cpu.exitField(field)); }
  getReg(reg: Reg): bigint { return BigInt.asUintN(64, this.cpu.getReg(reg)); }
  setReg(reg: Reg, value: bigint): void { this.cpu.setReg(reg, BigInt.asIntN(64, value)); }
  getSeg(seg: Seg): SegmentState {
    return {
      selector: Number(this.cpu.getSeg(seg, SegField.SELECTOR)),
      base: BigInt.asUintN(64, this.cpu.getSeg(seg, SegField.BASE)),
      limit: Number(BigInt.asUintN(32, this.cpu.getSeg(seg, SegField.LIMIT))),
      attr: Number(this.cpu.getSeg(seg, SegField.ATTR)),
    };
  }
  setSeg(seg: Seg, s: SegmentState): void {
    this.cpu.setSeg(seg, SegField.SELECTOR, BigInt(s.selector));
    this.cpu.setSeg(seg, SegField.BASE, BigInt.asIntN(64, s.base));
    this.cpu.setSeg(seg, SegField.LIMIT, BigInt(s.limit >>> 0));
    this.cpu.setSeg(seg, SegField.ATTR, BigInt(s.attr));
  }
  /** XMM register as 128-bit unsigned. */
  getXmm(r: number): bigint {
    return (BigInt.asUintN(64, this.cpu.getXmm(r, 1)) << 64n) | BigInt.asUintN(64, this.cpu.getXmm(r, 0));
  }
  setXmm(r: number, v: bigint): void {
    this.cpu.setXmm(r, 0, BigInt.asIntN(64, v & 0xffff_ffff_ffff_ffffn));
    this.cpu.setXmm(r, 1, BigInt.asIntN(64, v >> 64n));
  }
  getSt(i: number): X87Register {
    return { significand: BigInt.asUintN(64, this.cpu.getSt(i & 7, 0)), signExponent: Number(this.cpu.getSt(i & 7, 1)) & 0xffff };
  }
  setSt(i: number, v: X87Register): void {
    this.cpu.setSt(i & 7, BigInt.asIntN(64, v.significand), v.signExponent & 0xffff);
  }
  getMsr(index: number): bigint | undefined {
    const v = this.cpu.getMsr(index >>> 0);
    return this.cpu.msrExists() ? BigInt.asUintN(64, v) : undefined;
  }
  setMsr(index: number, value: bigint): boolean { return this.cpu.setMsr(index >>> 0, BigInt.asIntN(64, value)) !== 0; }
  completeIo(value: number): void { this.cpu.completeIo(value | 0); }
  /** Perform an intercepted CR write the hypervisor decided to allow (and skip the MOV); a value the MOV faults for queues #GP(0) instead. */
  completeCrWrite(cr: number, value: bigint): void {
    if (this.cpu.completeCrWrite(cr, BigInt.asIntN(64, value))) this.skipInstruction();
  }
  skipInstruction(): void {
    const len = this.cpu.exitField(ExitField.INSTR_LEN);
    this.setReg(Reg.RIP, this.getReg(Reg.RIP) + len);
  }
  inject(type: EventType, vector: number, errorCode?: number): void {
    this.cpu.inject(type, vector & 0xff, errorCode === undefined ? -1 : errorCode | 0);
  }
  setInterruptLine(asserted: boolean): void { this.cpu.setInterruptLine(asserted ? 1 : 0); }
  requestStop(): void { this.cpu.requestStop(); }
  sendNmi(): void { this.cpu.sendNmi(); }
  sendInit(): void { this.cpu.sendInit(); }
  sendSipi(vector: number): void { this.cpu.sendSipi(vector & 0xff); }
  setControls(bits: number): void { this.cpu.setControls(bits); }
  setExceptionBitmap(bits: number): void { this.cpu.setExceptionBitmap(bits >>> 0); }
  setIoIntercept(port: number, intercept: boolean): void { this.cpu.setIoIntercept(port, intercept ? 1 : 0); }
  setMsrIntercept(index: number, read: boolean, write: boolean): void {
    this.cpu.setMsrIntercept(index >>> 0, read ? 1 : 0, write ? 1 : 0);
  }
  cpuid(leaf: number, subleaf: number): CpuidEntry {
    const q = (r: number) => this.cpu.cpuidQuery(leaf | 0, subleaf | 0, r) >>> 0;
    return { leaf, subleaf, eax: q(0), ebx: q(1), ecx: q(2), edx: q(3) };
  }
  setCpuid(entries: CpuidEntry[]): void {
    this.cpu.cpuidReset();
    this.updateCpuid(entries);
  }
  updateCpuid(entries: CpuidEntry[]): void {
    for (const e of entries) {
      if (!this.cpu.cpuidEntry(e.leaf | 0, e.subleaf ?? -1, e.eax | 0, e.ebx | 0, e.ecx | 0, e.edx | 0)) {
        throw new RangeError(`CPUID table full (${this.cpu.CPUID_ENTRIES_MAX.value} entries)`);
      }
    }
  }
}

export type { SoftwareVcpu };
