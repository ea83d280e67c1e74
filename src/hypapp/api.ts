// The hypapp API: everything a hypervisor application sees of xmhf-ts. A
// hypapp is a plain object (usually a module's default export) with a name and
// the callbacks it cares about; the core calls them with a context through
// which it reads and steers the guest. Nothing else of the core is the
// hypapp's: this file is the contract (docs/hypapps.md explains it).
//
// Callbacks are synchronous and run one at a time to completion while the
// guest is stopped (as XMHF's handlers do); returning `undefined` (CHAIN)
// passes the event on to the next hypapp and finally to the core's default.

import { Access } from '../backend/abi.js';

/** Exception vectors (Vector.PF, Vector.GP, ...), MSR indexes (Msr.LSTAR, ...), #PF error-code bits and the page size. */
export { Vector, Msr, PageFaultError, PAGE_SIZE } from '../backend/abi.js';

/** Return value meaning "not mine, pass it on" (uXMHF's CHAIN). */
export const CHAIN = undefined;

// ---- memory protection (memprot) ----

/** Page protection bits, as the nested page table enforces them (the backend's Access bits). */
export const Prot = {
  /** Not present: every access faults. */
  NONE: 0,
  READ: Access.READ,
  /** Writable (needs READ). */
  WRITE: Access.WRITE,
  /** Instruction fetch at CPL 0-2. */
  EXEC_SUPER: Access.EXEC_SUPER,
  /** Instruction fetch at CPL 3. */
  EXEC_USER: Access.EXEC_USER,
  RO: Access.READ,
  RW: Access.READ | Access.WRITE,
  /** Executable at every privilege level. */
  EXEC: Access.EXEC_SUPER | Access.EXEC_USER,
  /** Everything (the default for all guest RAM). */
  ALL: Access.ALL,
} as const;

/** Formats a protection as XMHF-style text, e.g. "RW X(user)". */
export function protText(prot: number): string {
  if ((prot & Prot.READ) === 0 && (prot & (Prot.WRITE | Prot.EXEC)) === 0) return 'NOTPRESENT';
  const rw = prot & Prot.WRITE ? 'RW' : prot & Prot.READ ? 'RO' : '--';
  const x = (prot & Prot.EXEC) === Prot.EXEC ? 'X' : prot & Prot.EXEC_SUPER ? 'X(super)' : prot & Prot.EXEC_USER ? 'X(user)' : 'NX';
  return `${rw} ${x}`;
}

// ---- registers ----

export type GeneralRegister =
  | 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'rbp' | 'rsp'
  | 'r8' | 'r9' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15' | 'rip' | 'rflags';
export type ControlRegister = 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8' | 'efer';
export type DebugRegister = 'dr0' | 'dr1' | 'dr2' | 'dr3' | 'dr6' | 'dr7';
export type Register = GeneralRegister | ControlRegister | DebugRegister | 'mxcsr';

/** The x87 unit's registers, as a debugger sees them (FXSAVE's fields, with the full tag word). */
export interface X87State {
  /** ST(0)..ST(7), stack order: each the register's 10 bytes, little-endian (64-bit significand, then sign and exponent). */
  st: Uint8Array[];
  /** Control word. */
  fcw: number;
  /** Status word (TOP included). */
  fsw: number;
  /** The full tag word: 2 bits per physical register (0 valid, 1 zero, 2 special, 3 empty). */
  ftw: number;
  /** Last instruction's opcode (11 bits), its address and CS; last operand's address and segment. */
  fop: number;
  fip: bigint;
  fcs: number;
  fdp: bigint;
  fds: number;
}
export type SegmentRegister = 'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'ldtr' | 'tr';

export interface Segment {
  selector: number;
  base: bigint;
  limit: number;
  /** Descriptor attribute bits 40..55 shifted down: type, S, DPL, P, AVL, L, D/B, G. */
  attr: number;
}

/** A translation failed: the guest's page tables do not map `gva` for the access. */
export class GuestPageFault extends Error {
  constructor(
    readonly gva: bigint,
    /** The #PF error code the guest would see (bit 0 present, 1 write, 2 user, 4 fetch). */
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'GuestPageFault';
  }
}

/** A translation: where a guest-virtual address lives in guest-physical memory. */
export interface Translation {
  gpa: bigint;
  /** Size of the page that maps it: 4 KiB, 2 MiB, 4 MiB or 1 GiB. */
  pageSize: number;
  writable: boolean;
  user: boolean;
  executable: boolean;
}

/** A leaf mapping of the guest's page tables. */
export interface Mapping extends Translation {
  gva: bigint;
}

// ---- memory views (sized access; guest-physical, or virtual through any address space) ----

/** Guest memory with sized little-endian access; every method throws GuestPageFault (virtual) or RangeError (outside RAM). */
export interface MemoryView {
  read(addr: bigint | number, length: number): Uint8Array;
  write(addr: bigint | number, bytes: Uint8Array): void;
  readU8(addr: bigint | number): number;
  readU16(addr: bigint | number): number;
  readU32(addr: bigint | number): number;
  readU64(addr: bigint | number): bigint;
  writeU8(addr: bigint | number, value: number): void;
  writeU16(addr: bigint | number, value: number): void;
  writeU32(addr: bigint | number, value: number): void;
  writeU64(addr: bigint | number, value: bigint): void;
  /** A NUL-terminated string (at most `max` bytes, decoded as UTF-8). */
  readString(addr: bigint | number, max?: number): string;
}

/** Guest-virtual memory through one set of page tables (a CR3), whichever process the vCPUs run. */
export interface AddressSpace extends MemoryView {
  /** The page-table root this view walks. */
  readonly cr3: bigint;
  translate(gva: bigint): Translation;
  /** Every present leaf mapping in [start, end) (4-level paging). */
  mappings(start?: bigint, end?: bigint): Iterable<Mapping>;
}

/** One virtual processor of the guest, as a hypapp sees it while the guest is stopped. */
export interface GuestCpu {
  readonly index: number;
  get(reg: Register): bigint;
  set(reg: Register, value: bigint): void;
  segment(seg: SegmentRegister): Segment;
  /** MSR as the guest sees it; undefined if this CPU has no such MSR. */
  msr(index: number): bigint | undefined;
  setMsr(index: number, value: bigint): void;
  /** The x87 registers. */
  x87(): X87State;
  /** Write x87 registers: the fields given (ST(i) entries that are undefined stay; ftw empty (3) frees a register, any other value marks it in use). */
  setX87(state: Partial<Omit<X87State, 'st'>> & { st?: Array<Uint8Array | undefined> }): void;
  /** SSE register XMM`index` (0..15) as an unsigned 128-bit value. */
  xmm(index: number): bigint;
  setXmm(index: number, value: bigint): void;
  /** Current privilege level (0 kernel, 3 user). */
  readonly cpl: number;
  /** The vCPU is halted (HLT, or waiting for a SIPI): only an interrupt (or INIT/SIPI) makes it run again. */
  readonly halted: boolean;
  /** Paging mode in force: none, 32-bit, PAE or 4-level. */
  readonly paging: 'none' | '32-bit' | 'pae' | '4-level';
  /** Walk the guest's page tables (all modes and page sizes); throws GuestPageFault if unmapped. */
  translate(gva: bigint, access?: 'read' | 'write' | 'execute'): Translation;
  /** Every present leaf mapping in [start, end) of the current address space (4-level paging). */
  mappings(start?: bigint, end?: bigint): Iterable<Mapping>;
  /** Read guest-virtual memory (may cross pages); throws GuestPageFault. */
  readVirtual(gva: bigint, length: number): Uint8Array;
  writeVirtual(gva: bigint, bytes: Uint8Array): void;
  readU64(gva: bigint): bigint;
  /** A NUL-terminated string at `gva` (at most `max` bytes, decoded as UTF-8). */
  readString(gva: bigint, max?: number): string;
  /** Sized guest-virtual access through the current address space (throws GuestPageFault). */
  readU8(gva: bigint): number;
  readU16(gva: bigint): number;
  readU32(gva: bigint): number;
  writeU8(gva: bigint, value: number): void;
  writeU16(gva: bigint, value: number): void;
  writeU32(gva: bigint, value: number): void;
  writeU64(gva: bigint, value: bigint): void;
  /**
   * Guest-virtual memory through the page tables at `cr3` (a process's, say), in this vCPU's
   * paging mode; without `cr3`, the current address space, following later CR3 changes.
   */
  addressSpace(cr3?: bigint): AddressSpace;
  /** Deliver an exception (with error code if it has one) before the next guest instruction. */
  injectException(vector: number, errorCode?: number): void;
  /** Deliver an external interrupt vector before the next guest instruction. */
  injectInterrupt(vector: number): void;
  /** Advance RIP past the instruction that caused the current event. */
  skipInstruction(): void;
}

// ---- events ----

/** The guest executed VMCALL. ABI: RAX function, RBX/RCX/RDX/RSI arguments, result in RAX. */
export interface HypercallEvent {
  cpu: GuestCpu;
  fn: number;
  args: [bigint, bigint, bigint, bigint];
}
/** Handled: the value for RAX (RIP advances past VMCALL). */
export type HypercallResult = bigint | number | undefined;

export interface PortIoEvent {
  cpu: GuestCpu;
  port: number;
  size: 1 | 2 | 4;
  direction: 'in' | 'out';
  /** For OUT: the value written. */
  value: number;
  /** INS/OUTS (one iteration is reported at a time). */
  string: boolean;
}
/** For IN: `{ value }`. For OUT: 'skip' (emulated: the device never sees it). Or CHAIN. */
export type PortIoResult = { value: number } | 'skip' | undefined;

export interface MmioEvent {
  /** vCPU index (registers are not available inside MMIO callbacks: the access is mid-instruction). */
  vcpu: number;
  gpa: number;
  size: number;
  direction: 'read' | 'write';
  value: number;
}
export type MmioResult = { value: number } | 'skip' | undefined;

export interface CpuidEvent {
  cpu: GuestCpu;
  leaf: number;
  subleaf: number;
  /** What the CPU would answer; the hypapp may return a changed copy. */
  result: { eax: number; ebx: number; ecx: number; edx: number };
}
export type CpuidResult = { eax: number; ebx: number; ecx: number; edx: number } | undefined;

export interface MsrEvent {
  cpu: GuestCpu;
  index: number;
  direction: 'read' | 'write';
  /** For writes: the value the guest writes. */
  value: bigint;
}
/** 'allow' (the CPU does it), 'deny' (#GP), `{ value }` (emulate a read), 'skip' (emulate a write: drop it). */
export type MsrResult = 'allow' | 'deny' | { value: bigint } | 'skip' | undefined;

export interface CrWriteEvent {
  cpu: GuestCpu;
  cr: 0 | 3 | 4;
  old: bigint;
  value: bigint;
}
/** 'allow', `{ value }` (write this instead), 'deny' (#GP), 'skip' (drop the write). */
export type CrWriteResult = 'allow' | { value: bigint } | 'deny' | 'skip' | undefined;

export interface ExceptionEvent {
  cpu: GuestCpu;
  vector: number;
  errorCode?: number;
  /** For #PF: the faulting address (CR2 is written when the fault is delivered). */
  address?: bigint;
}
/** 'deliver' (to the guest, the default), 'suppress' (the hypapp dealt with it; the instruction restarts). */
export type ExceptionResult = 'deliver' | 'suppress' | undefined;

export type AccessKind = 'read' | 'write' | 'execute';

/** A guest access the memory protections forbid (XMHF's hwpgtblviolation). */
export interface ViolationEvent {
  cpu: GuestCpu;
  gpa: bigint;
  gva: bigint;
  access: AccessKind;
  /** The access was made at CPL 3. */
  user: boolean;
  /** The access was the CPU walking the guest's page tables. */
  pageWalk: boolean;
  size: number;
  /** For writes: the value being written (low bytes first), when the CPU reports it. */
  value?: bigint;
  /** The protection of the page. */
  prot: number;
}
/**
 * - 'allow-once': let this access happen, keep the protection;
 * - `{ setprot }`: change the page's protection to this and retry;
 * - 'skip': deny by skipping the instruction;
 * - `{ inject }`: deny by delivering an exception to the guest;
 * - `{ stop }`: stop the VM with this message.
 */
export type ViolationResult =
  | 'allow-once'
  | { setprot: number }
  | 'skip'
  | { inject: { vector: number; errorCode?: number } }
  | { stop: string }
  | undefined;

export interface BreakpointEvent {
  cpu: GuestCpu;
  id: number;
  /** The guest-virtual address of the instruction about to execute. */
  rip: bigint;
}

export interface WatchpointEvent {
  cpu: GuestCpu;
  id: number;
  gpa: bigint;
  gva: bigint;
  access: 'read' | 'write';
  size: number;
}

/**
 * A device's access to guest RAM that dmaprot refused (XMHF's DMA
 * protection): nothing was touched and the device reported an I/O error to
 * the guest. `direction` is the device's: 'read' took bytes from RAM, 'write'
 * put bytes there.
 */
export interface DmaViolationEvent {
  /** The device, e.g. "virtio-rng0". */
  device: string;
  gpa: bigint;
  length: number;
  direction: 'read' | 'write';
}

export interface StepEvent {
  cpu: GuestCpu;
  rip: bigint;
}

/** `signal`: the host process got SIGINT, SIGTERM or SIGHUP (detail names it); shutdown then has a few seconds. */
export type ShutdownReason = 'poweroff' | 'reboot' | 'triple-fault' | 'stopped' | 'timeout' | 'error' | 'signal';
export interface ShutdownEvent {
  reason: ShutdownReason;
  /** Human-readable detail (the error or the hypapp's stop message). */
  detail?: string;
}

// ---- the context: the core API ----

export interface TimerHandle { cancel(): void }

/** A hold on the guest (HypappContext.hold): the guest runs again once every hold is released. */
export interface GuestHold { release(): void }

/** What a watchpoint reports. */
export type WatchKind = 'write' | 'read' | 'access';

export interface StepOptions {
  /** Deliver interrupts and let guest time run between steps (default false: masked). */
  interrupts?: boolean;
}

export interface Measurement {
  /** Who measured it ("core" or the hypapp's name). */
  by: string;
  label: string;
  sha256: string;
}

// ---- the host channel (virtio-vsock) ----

/**
 * A stream connection with a program in the guest over virtio-vsock, the
 * hypapp being the host (CID 2). Its callbacks run between guest
 * instructions, one at a time, like every hypapp callback.
 */
export interface VsockConnection {
  /** The guest program's port, and the host's. */
  readonly guestPort: number;
  readonly hostPort: number;
  /**
   * Send bytes (a string goes as UTF-8) after those already queued. False
   * when the queue is full (the guest is not reading): wait for onDrain, as
   * a write while it is full throws; false too when the guest has gone
   * (onClose follows; the bytes are dropped). A write after close() or
   * onClose throws.
   */
  write(data: Uint8Array | string): boolean;
  /**
   * Each piece of what the guest sends, in order. Until a callback is set
   * the pieces wait (and the guest's sender with them: it may send only so
   * much unread data).
   */
  onData(cb: (bytes: Uint8Array) => void): void;
  /** The guest will send nothing more (it shut its sending side): after its last onData. */
  onEnd(cb: () => void): void;
  /** A full queue has room again. */
  onDrain(cb: () => void): void;
  /** The connection is gone: the guest closed or reset it, or its driver reset the device. */
  onClose(cb: () => void): void;
  /** Send nothing more: the guest reads what was written, then end of file; onClose follows once it closes its end. */
  close(): void;
}

/** A port a hypapp listens on (HypappContext.vsock.listen). */
export interface VsockListener {
  /** Stop taking connections on the port (those already open stay). */
  close(): void;
}

/** Streams between a hypapp and programs in the guest (HypappContext.vsock). */
export interface HypappVsock {
  /** The guest's address (context ID): guest programs connect to the host at CID 2. */
  readonly guestCid: number;
  /**
   * Take the guest's connections to the host (CID 2) port `port`: `onConnect`
   * gets each one. One listener per port in the VM; the Unix socket of
   * --vsock keeps serving the other ports.
   */
  listen(port: number, onConnect: (conn: VsockConnection) => void): VsockListener;
  /** Connect to a guest program listening on `port`: `onResult` gets the connection, or undefined if the guest refused. */
  connect(port: number, onResult: (conn: VsockConnection | undefined) => void): void;
}

/** What a hypapp calls on the core. One per hypapp; valid from init to shutdown. */
export interface HypappContext {
  readonly name: string;
  /** Options from --hypapp-opt NAME.key=value or the JSON config. */
  readonly options: Readonly<Record<string, string>>;
  log(...parts: unknown[]): void;
  /** A line of machine-readable output (JSON) on the hypapp event stream. */
  emit(record: Record<string, unknown>): void;

  readonly cpus: readonly GuestCpu[];
  readonly ramSize: number;
  /** Guest time in milliseconds since the machine started. */
  now(): number;

  // guest-physical memory
  readPhysical(gpa: bigint | number, length: number): Uint8Array;
  writePhysical(gpa: bigint | number, bytes: Uint8Array): void;
  /** Guest-physical memory with sized access (readU8..writeU64, readString). */
  readonly physical: MemoryView;

  // memprot (XMHF's xmhf_memprot_setprot/getprot)
  /** Set the protection of every page overlapping [gpa, gpa + length). */
  setprot(gpa: bigint | number, length: number, prot: number): void;
  getprot(gpa: bigint | number): number;

  // dmaprot (XMHF's xmhf_dmaprot_protect): devices also obey setprot's policy
  /** Forbid devices every page overlapping [gpa, gpa + length), whatever its setprot rights (the guest keeps them). */
  protectFromDma(gpa: bigint | number, length: number): void;
  /** Undo one protectFromDma of these pages (protections from several calls or hypapps are counted). */
  unprotectFromDma(gpa: bigint | number, length: number): void;

  // what to intercept (each enables the matching callback's events)
  claimPorts(first: number, last?: number): void;
  claimMmio(gpa: number, length: number): void;
  interceptCpuid(): void;
  interceptMsr(index: number, on: { read?: boolean; write?: boolean }): void;
  interceptCrWrites(cr: 0 | 3 | 4): void;
  interceptExceptions(vectors: number[]): void;

  // debugging
  /** Break before the instruction at guest-virtual `gva` executes (any address space). Returns an id. */
  addBreakpoint(gva: bigint): number;
  removeBreakpoint(id: number): void;
  /** Watch guest-physical [gpa, gpa + length) for writes, reads, or both ('access'). Returns an id. */
  addWatchpoint(gpa: bigint | number, length: number, kind: WatchKind): number;
  removeWatchpoint(id: number): void;
  /**
   * Call onStep after every guest instruction of `cpu` while on. By default
   * the steps are masked, as QEMU's default sstep mask: no external interrupt
   * is delivered before a stepped instruction and guest time (clock, TSC,
   * timers) stands still while any masked step is on; `{ interrupts: true }`
   * steps with interrupts and time running.
   */
  singleStep(cpu: GuestCpu, on: boolean, options?: StepOptions): void;
  /**
   * Watch guest-virtual [gva, gva + length) for reads, writes or both
   * ('access'). The range is translated when the watchpoint is set, through
   * `space` (a CR3 value) or the current address space of vCPU 0, and its
   * guest-physical pages are watched. With a CR3, only accesses made while
   * that CR3 (PCID bits aside) is loaded are reported; 'any' (the default)
   * reports every access to those pages (kernel addresses are the same in
   * every process). Remaps after it is set are not followed.
   */
  addVirtualWatchpoint(gva: bigint, length: number, kind: WatchKind, space?: bigint | 'any'): number;

  // holding the guest
  /**
   * Keep the guest stopped after this callback returns, with guest time
   * (clock, TSC, timers) standing still, until `release()` (and every other
   * hold) is called; callable from any callback or from outside one (an I/O
   * handler of the hypapp's own). The VM thread's event loop keeps running
   * while held, so `--timeout`, Ctrl-], signals and stopVm end a held run.
   */
  hold(): GuestHold;

  /** Run `fn` with every other vCPU stopped at an instruction boundary (XMHF's quiesce). */
  quiesce<T>(fn: () => T): T;
  /** Call `fn` every `ms` milliseconds of guest time (between guest instructions, like any handler; up to 1 ms late, so many timers cost the guest little). */
  every(ms: number, fn: () => void): TimerHandle;
  /** Stop the VM; shutdown callbacks see reason 'stopped' with this detail. */
  stopVm(detail: string): void;
  /** Extend the measurement log with the SHA-256 of `data`. */
  measure(label: string, data: Uint8Array | string): Measurement;
  measurements(): readonly Measurement[];
  /** VM exits the core has handled so far, by kind (VMCALL, IO, CPUID, NPF, ...). */
  exitCounts(): Readonly<Record<string, number>>;
  /** Streams with guest programs over virtio-vsock; undefined when the VM has no vsock device (see Hypapp.devices). */
  readonly vsock?: HypappVsock;
}

/** Devices a hypapp needs in the VM: 'vsock' attaches a virtio-vsock for x.vsock (with or without --vsock). */
export type HypappDevice = 'vsock';
export const HYPAPP_DEVICES: readonly HypappDevice[] = ['vsock'];

/** A hypervisor application. Only `name` is required. */
export interface Hypapp {
  name: string;
  /** Before the guest's first instruction (XMHF's app_main). Throwing stops the VM with the message. */
  init?(x: HypappContext): void | Promise<void>;
  shutdown?(x: HypappContext, e: ShutdownEvent): void;
  /** Devices this hypapp needs the VM to have (the VM is built with them). */
  devices?: readonly HypappDevice[];
  /** Hypercall function numbers this hypapp answers, by name (the guest tool resolves names). */
  hypercalls?: Readonly<Record<string, number>>;
  onHypercall?(x: HypappContext, e: HypercallEvent): HypercallResult;
  onPortIo?(x: HypappContext, e: PortIoEvent): PortIoResult;
  onMmio?(x: HypappContext, e: MmioEvent): MmioResult;
  onCpuid?(x: HypappContext, e: CpuidEvent): CpuidResult;
  onMsr?(x: HypappContext, e: MsrEvent): MsrResult;
  onCrWrite?(x: HypappContext, e: CrWriteEvent): CrWriteResult;
  onException?(x: HypappContext, e: ExceptionEvent): ExceptionResult;
  onViolation?(x: HypappContext, e: ViolationEvent): ViolationResult;
  onBreakpoint?(x: HypappContext, e: BreakpointEvent): void;
  onWatchpoint?(x: HypappContext, e: WatchpointEvent): void;
  onStep?(x: HypappContext, e: StepEvent): void;
  /** A device's DMA was refused (every hypapp is told; there is no verdict). */
  onDmaViolation?(x: HypappContext, e: DmaViolationEvent): void;
  /** The guest's init said it has booted (hypercall `ready`, made by the default guest before its command). */
  onGuestReady?(x: HypappContext): void;
}

/** A hypapp module may export a hypapp or a factory taking its options. */
export type HypappFactory = (options: Readonly<Record<string, string>>) => Hypapp;

/** Identity helper that gives a hypapp object literal its type. */
export function defineHypapp(app: Hypapp): Hypapp { return app; }

/** Hypercall numbers the core itself answers. */
export const CoreHypercall = {
  /** RBX = guest-virtual address of a NUL-terminated name → RAX = its number, or ENOSYS. */
  RESOLVE: 0,
  /** The guest has booted (the default guest's init calls it before running its command). */
  READY: 1,
} as const;

/** RAX after a hypercall nobody answered: -ENOSYS, as KVM returns. */
export const HYPERCALL_ENOSYS = -38n;
