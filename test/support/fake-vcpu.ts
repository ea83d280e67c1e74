// A Vcpu and Machine for unit tests of the core: registers and exit fields
// are set by the test, and every call that completes or steers an exit is
// recorded as text ("setReg(RAX, 0x2a)", "skipInstruction()", ...), so a test
// states the backend calls an exit must end in. No CPU runs: run() retires
// one instruction per call, or returns the exits queued in `runExits`.
import { Reg, ExitField, EventType, Exit, type Vcpu, type Machine, type SegmentState, type CpuidEntry } from '../../src/backend/interface.js';
import { Access, PAGE_SIZE } from '../../src/backend/abi.js';

export class FakeVcpu implements Vcpu {
  readonly index = 0;
  /** The calls that complete or steer an exit, in order. */
  readonly calls: string[] = [];
  readonly regs = new Map<Reg, bigint>();
  readonly fields = new Map<ExitField, bigint>();
  /** Exits run() returns, in order; then it retires one instruction (Exit.BUDGET). */
  readonly runExits: Exit[] = [];
  controls = 0;
  exceptionBitmap = 0;
  readonly ioIntercepts = new Set<number>();
  readonly msrIntercepts = new Map<number, { read: boolean; write: boolean }>();
  /** What CPUID answers from the table. */
  cpuidAnswer = { eax: 0x11, ebx: 0x22, ecx: 0x33, edx: 0x44 };

  /** Set up an exit's qualification. */
  exit(fields: Partial<Record<keyof typeof ExitField, bigint>>, regs: Partial<Record<keyof typeof Reg, bigint>> = {}): this {
    for (const [k, v] of Object.entries(fields)) this.fields.set(ExitField[k as keyof typeof ExitField], v as bigint);
    for (const [k, v] of Object.entries(regs)) this.regs.set(Reg[k as keyof typeof Reg], v as bigint);
    return this;
  }

  run(budget: number): Exit {
    this.calls.push(`run(${budget})`);
    const e = this.runExits.shift();
    if (e !== undefined) return e;
    this.regs.set(Reg.INSTRET, this.getReg(Reg.INSTRET) + 1n);
    return Exit.BUDGET;
  }
  exitField(field: ExitField): bigint { return this.fields.get(field) ?? 0n; }
  emulationFailure(): string { return '64-bit mode: an instruction the fake does not know'; }
  getReg(reg: Reg): bigint { return this.regs.get(reg) ?? 0n; }
  setReg(reg: Reg, value: bigint): void {
    this.regs.set(reg, value);
    if (reg !== Reg.INTERRUPTIBILITY) this.calls.push(`setReg(${Reg[reg]}, 0x${value.toString(16)})`);
  }
  getSeg(): SegmentState { return { selector: 0, base: 0n, limit: 0xffff, attr: 0 }; }
  setSeg(): void {}
  getMsr(): bigint | undefined { return 0n; }
  setMsr(): boolean { return true; }
  getXmm(): bigint { return 0n; }
  setXmm(): void {}
  getSt(): { significand: bigint; signExponent: number } { return { significand: 0n, signExponent: 0 }; }
  setSt(): void {}
  completeIo(value: number): void { this.calls.push(`completeIo(0x${value.toString(16)})`); }
  completeCrWrite(cr: number, value: bigint): void { this.calls.push(`completeCrWrite(${cr}, 0x${value.toString(16)})`); }
  skipInstruction(): void { this.calls.push('skipInstruction()'); }
  inject(type: EventType, vector: number, errorCode?: number): void {
    this.calls.push(`inject(${EventType[type]}, ${vector}${errorCode === undefined ? '' : `, ${errorCode}`})`);
  }
  setInterruptLine(): void {}
  sendNmi(): void {}
  sendInit(): void {}
  sendSipi(): void {}
  requestStop(): void {}
  setControls(bits: number): void { this.controls = bits; }
  setExceptionBitmap(bits: number): void { this.exceptionBitmap = bits; }
  setIoIntercept(port: number, intercept: boolean): void {
    if (intercept) this.ioIntercepts.add(port); else this.ioIntercepts.delete(port);
  }
  setMsrIntercept(index: number, read: boolean, write: boolean): void { this.msrIntercepts.set(index, { read, write }); }
  setCpuid(): void {}
  cpuid(leaf: number, subleaf: number): CpuidEntry { return { leaf, subleaf, ...this.cpuidAnswer }; }
  updateCpuid(): void {}
}

/** Guest RAM and a nested page table of Access bits per page, around one FakeVcpu. */
export class FakeMachine implements Machine {
  readonly ram: Uint8Array;
  readonly vcpus: readonly Vcpu[];
  private readonly perms: Uint8Array;
  readonly breakpoints = new Set<number>();
  constructor(readonly ramSize: number, readonly vcpu = new FakeVcpu()) {
    this.ram = new Uint8Array(ramSize);
    this.perms = new Uint8Array(ramSize / PAGE_SIZE).fill(Access.ALL);
    this.vcpus = [vcpu];
  }
  setNestedPerm(gpa: number, count: number, access: number): void { this.perms.fill(access, gpa / PAGE_SIZE, gpa / PAGE_SIZE + count); }
  getNestedPerm(gpa: number): number { return this.perms[Math.floor(gpa / PAGE_SIZE)] ?? Access.ALL; }
  notifyRamWritten(): void {}
  addExecBreakpoint(gpa: number): void { this.breakpoints.add(gpa); }
  removeExecBreakpoint(gpa: number): void { this.breakpoints.delete(gpa); }
}
