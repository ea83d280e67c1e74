// xmhf-ts/linux: see the guest as Linux, with nothing from the user or the
// guest. The kernel's own symbols (kallsyms) and types (BTF) are found in
// guest memory on first use; tasks, modules and per-CPU state are then read
// live through them. Built only on xmhf-ts/hypapp (docs/linux.md).
import { Msr, type AddressSpace, type BreakpointEvent, type GuestCpu, type HypappContext, type MemoryView, type WatchKind } from 'xmhf-ts/hypapp';
import { findKernel, type KernelInfo } from './kernel.js';
import { Kind, type Btf, type BtfType } from './btf.js';
import { readValue, record, snapshot, type KernelRecord, type KernelValue } from './typed.js';
import type { KernelSymbol } from './kallsyms.js';
import { openFiles, type OpenFile } from './files.js';
import { BreakpointRouter } from './breakpoints.js';
import { SyscallHooks, type SyscallListener, type SyscallReturnListener, type SyscallTask } from './syscalls.js';
import { FunctionHooks, type Hook, type HookHandlers } from './hooks.js';

export type { KernelSymbol } from './kallsyms.js';
export type { KernelRecord, KernelValue } from './typed.js';
export type { OpenFile } from './files.js';
export { deny } from './syscalls.js';
export type {
  SyscallEvent, SyscallReturnEvent, SyscallArg, SyscallVerdict, SyscallReturnVerdict, SyscallTask, SyscallListener, SyscallReturnListener,
} from './syscalls.js';
export type { Hook, HookHandlers, HookEnterEvent, HookExitEvent, HookArg } from './hooks.js';

/** A task (process or thread) as the kernel holds it. */
export interface Task {
  /** Address of its task_struct. */
  address: bigint;
  pid: number;
  tgid: number;
  /** The tgid of its real parent (what ps prints as PPID). */
  ppid: number;
  comm: string;
  uid: number;
  euid: number;
  /** The letter /proc/PID/stat and ps print: R S D T t X Z P I. */
  state: string;
  /** Address of its mm_struct (0n for kernel threads). */
  mm: bigint;
  /** Guest-physical address of its page tables (mm->pgd), the CR3 of its address space; undefined for kernel threads. */
  cr3?: bigint;
  kernelThread: boolean;
}

export interface KernelModule {
  name: string;
  /** Start of its core (text and data) allocation. */
  base: bigint;
  /** As /proc/modules and lsmod print it: core plus init allocation sizes, in bytes. */
  size: number;
  /** live, coming, going or unformed. */
  state: string;
  /** Address of its struct module. */
  address: bigint;
}

export interface SymbolLocation {
  name: string;
  address: bigint;
  type: string;
  /** How far past the symbol's start the address lies. */
  offset: number;
}

export interface FunctionSignature {
  name: string;
  address: bigint;
  returns: string;
  params: Array<{ name: string; type: string; typeId: number }>;
}

/** The x86-64 C calling convention's argument registers, in order. */
export const ARGUMENT_REGISTERS = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'] as const;

/** Linux's task state letters by bit (fs/proc/array.c task_state_array), and the bits /proc reports. */
const STATE_LETTERS = 'RSDTtXZPI';
const TASK_REPORT = 0x7f;
const TASK_IDLE = 0x402;
const MODULE_STATES = ['live', 'coming', 'going', 'unformed'];
/** A list longer than this is taken as corrupt (Linux's PID_MAX_LIMIT is 4M; the guests here run hundreds). */
const MAX_LIST = 1 << 22;

export class LinuxError extends Error {}

export class Linux {
  private info?: KernelInfo;
  private byName?: Map<string, KernelSymbol>;
  private sorted?: KernelSymbol[];

  constructor(private readonly x: HypappContext) {}

  /**
   * Find the kernel, its symbols and its types (done on first use otherwise).
   * Needs a booted 64-bit Linux: call it from onGuestReady or any later event.
   */
  attach(): this { this.kernel(); return this; }

  /** Whether attach has run. */
  get attached(): boolean { return this.info !== undefined; }

  private kernel(): KernelInfo {
    return (this.info ??= findKernel(this.x));
  }

  /** Virtual address of _text, and KASLR's shift of it. */
  get base(): bigint { return this.kernel().base; }
  get kaslrOffset(): bigint { return this.kernel().kaslrOffset; }
  /** How long attach took, in milliseconds (reading the image, decoding kallsyms, indexing BTF). */
  get attachTimings(): Readonly<KernelInfo['timings']> { return this.kernel().timings; }
  /** The kernel's types. */
  get btf(): Btf { return this.kernel().btf; }
  /** Kernel memory: the kernel's own page tables, valid whatever process a vCPU runs. */
  get memory(): AddressSpace { return this.kernel().space; }

  // ---- symbols ----

  /** Every symbol of the core kernel, as /proc/kallsyms lists them to root (modules' symbols are not included). */
  symbols(): readonly KernelSymbol[] { return this.kernel().symbols; }

  /** The address of a kernel symbol; throws if the kernel has none of that name. */
  symbol(name: string): bigint {
    const s = this.lookup(name);
    if (!s) throw new LinuxError(`the kernel has no symbol "${name}"`);
    return s.address;
  }

  /** A symbol by name, or undefined (the first one, for the few names kallsyms lists twice). */
  lookup(name: string): KernelSymbol | undefined {
    if (!this.byName) {
      this.byName = new Map();
      for (const s of this.symbols()) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
    }
    return this.byName.get(name);
  }

  /** The symbol an address falls in (the nearest at or below it, within the kernel image), or undefined. */
  symbolAt(address: bigint): SymbolLocation | undefined {
    if (!this.sorted) this.sorted = this.symbols().filter((s) => s.type !== 'A' && s.type !== 'a').sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    const list = this.sorted;
    let lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].address <= address) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found < 0 || address >= this.symbol('_end')) return undefined;
    const s = list[found];
    return { name: s.name, address: s.address, type: s.type, offset: Number(address - s.address) };
  }

  // ---- types ----

  /** Byte offset of a member ('comm', or a path through nested structs: 'se.vruntime'). */
  offsetOf(struct: string, member: string): number {
    const key = `${struct}.${member}`;
    let off = this.offsets.get(key);
    if (off === undefined) this.offsets.set(key, (off = this.memberPath(struct, member).bitOffset >> 3));
    return off;
  }
  private readonly offsets = new Map<string, number>();

  /** Size in bytes of a struct or union. */
  sizeOf(struct: string): number { return this.btf.struct(struct).size; }

  /** The value of an enumerator (e.g. enumValue('pid_type', 'PIDTYPE_TGID')). */
  enumValue(enumName: string, name: string): bigint {
    for (const t of this.btf.named(enumName, [Kind.ENUM, Kind.ENUM64])) {
      const v = this.btf.enumValues(t).get(name);
      if (v !== undefined) return v;
    }
    throw new LinuxError(`the kernel's BTF has no enum ${enumName} with a value ${name}`);
  }

  /** A kernel function's signature from BTF (parameter names and C types). */
  functionSignature(name: string): FunctionSignature {
    const fn = this.btf.named(name, [Kind.FUNC])[0];
    if (!fn) throw new LinuxError(`the kernel's BTF has no function "${name}"`);
    const proto = this.btf.types[fn.ref];
    return {
      name, address: this.symbol(name), returns: this.btf.typeName(proto.ref),
      params: this.btf.params(proto).map((p) => ({ name: p.name, type: this.btf.typeName(p.type), typeId: p.type })),
    };
  }

  /** At a function's first instruction: its arguments by name, from the argument registers (the first six). */
  functionArgs(cpu: GuestCpu, name: string): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    this.functionSignature(name).params.slice(0, ARGUMENT_REGISTERS.length).forEach((p, i) => { out[p.name] = cpu.get(ARGUMENT_REGISTERS[i]); });
    return out;
  }

  /**
   * A struct in guest memory, read member by member as its properties are
   * (`linux.read('task_struct', addr).pid`). Kernel memory by default;
   * pass an address space (a process's, `linux.addressSpace(pid)`) for user memory.
   */
  read(type: string, address: bigint, mem: MemoryView = this.memory): KernelRecord {
    return record(this.btf, mem, this.btf.struct(type), address);
  }

  /** One member's value (a path: 'signal.nr_threads' follows nested structs, not pointers). */
  readMember(type: string, address: bigint, member: string, mem: MemoryView = this.memory): KernelValue {
    const m = this.memberPath(type, member);
    return readValue(this.btf, mem, m.type, address, m.bitOffset, m.bitSize);
  }

  private memberPath(struct: string, path: string): { type: number; bitOffset: number; bitSize: number } {
    let t: BtfType = this.btf.struct(struct), bitOffset = 0;
    const parts = path.split('.');
    for (let i = 0; i < parts.length; i++) {
      const m = this.btf.member(t, parts[i]);
      if (!m) throw new LinuxError(`struct ${t.name || struct} has no member "${parts[i]}"`);
      bitOffset += m.bitOffset;
      if (i === parts.length - 1) return { type: m.type, bitOffset, bitSize: m.bitSize };
      t = this.btf.resolve(m.type);
      if (t.kind !== Kind.STRUCT && t.kind !== Kind.UNION) throw new LinuxError(`${parts.slice(0, i + 1).join('.')} of struct ${struct} is not a struct`);
    }
    throw new LinuxError('empty member path');
  }

  private ptr(type: string, address: bigint, member: string): bigint {
    return this.memory.readU64(address + BigInt(this.offsetOf(type, member)));
  }

  // ---- tasks ----

  /** The task a vCPU runs now (its per-CPU `current`); the idle task when the vCPU idles. */
  currentTask(cpu: GuestCpu): Task {
    return this.task(this.currentTaskAddress(cpu));
  }

  /** Address of the task_struct a vCPU runs (cheaper than currentTask: one per-CPU read). */
  currentTaskAddress(cpu: GuestCpu): bigint {
    return this.memory.readU64(this.perCpuBase(cpu) + this.currentSlot());
  }

  private slot?: bigint;
  private currentSlot(): bigint {
    if (this.slot === undefined) {
      // Linux 6.2+ keeps current in pcpu_hot; 6.1 in its own per-CPU variable.
      const hot = this.lookup('pcpu_hot');
      this.slot = hot ? hot.address + BigInt(this.offsetOf('pcpu_hot', 'current_task')) : this.symbol('current_task');
    }
    return this.slot;
  }

  /** This vCPU's per-CPU area: whichever GS base holds a kernel address (the other is user space's, swapped on kernel entry). */
  perCpuBase(cpu: GuestCpu): bigint {
    for (const msr of [Msr.GS_BASE, Msr.KERNEL_GS_BASE]) {
      const v = cpu.msr(msr) ?? 0n;
      if (v >= 0xffff_8000_0000_0000n) return v;
    }
    // Before the kernel loads GS (early boot), or with a kernel-address user GS: the per-CPU offset table.
    return this.memory.readU64(this.symbol('__per_cpu_offset') + BigInt(8 * cpu.index));
  }

  /** The task at `address` (a task_struct). */
  task(address: bigint): Task {
    const t = this.read('task_struct', address, snapshot(this.memory, address, this.sizeOf('task_struct')));
    const mm = t.mm as bigint;
    const cred = t.cred as bigint;
    const state = (('__state' in t ? t.__state : t.state) as number) >>> 0, exit = (t.exit_state as number) >>> 0;
    const report = (state | exit) & TASK_REPORT;
    const letter = state === TASK_IDLE ? 'I' : STATE_LETTERS[report === 0 ? 0 : 32 - Math.clz32(report)];
    return {
      address, pid: t.pid as number, tgid: t.tgid as number,
      ppid: this.memory.readU32((t.real_parent as bigint) + BigInt(this.offsetOf('task_struct', 'tgid'))),
      comm: t.comm as string,
      uid: this.readMember('cred', cred, 'uid.val') as number, euid: this.readMember('cred', cred, 'euid.val') as number,
      state: letter, mm, cr3: mm === 0n ? undefined : this.memory.translate(this.ptr('mm_struct', mm, 'pgd')).gpa,
      kernelThread: mm === 0n,
    };
  }

  /** The tasks on a kernel list_head of task_structs (the member `link` of each). */
  private *listEntries(head: bigint, type: string, link: string): Generator<bigint> {
    const off = BigInt(this.offsetOf(type, link));
    let n = 0;
    for (let p = this.memory.readU64(head); p !== head; p = this.memory.readU64(p)) {
      if (++n > MAX_LIST) throw new LinuxError(`the kernel's list at 0x${head.toString(16)} does not come back to its head`);
      yield p - off;
    }
  }

  /** Every process (thread-group leader) as /proc lists them: init_task's tasks list, without the idle task (pid 0). */
  processes(): Task[] {
    const init = this.symbol('init_task');
    const out: Task[] = [];
    for (const a of this.listEntries(init + BigInt(this.offsetOf('task_struct', 'tasks')), 'task_struct', 'tasks')) out.push(this.task(a));
    return out;
  }

  /** The threads of a process (its thread group, leader first). */
  threads(pid: number): Task[] {
    const leader = this.process(pid);
    const signal = this.ptr('task_struct', leader.address, 'signal');
    const head = signal + BigInt(this.offsetOf('signal_struct', 'thread_head'));
    return [...this.listEntries(head, 'task_struct', 'thread_node')].map((a) => this.task(a));
  }

  /** A process by pid; throws if there is none. */
  process(pid: number): Task {
    const p = this.processes().find((t) => t.pid === pid);
    if (!p) throw new LinuxError(`no process with pid ${pid}`);
    return p;
  }

  /** The address space of a process (by pid or task): its page tables, whatever the vCPUs run now. */
  addressSpace(process: number | Task): AddressSpace {
    const task = typeof process === 'number' ? this.process(process) : process;
    if (task.cr3 === undefined) throw new LinuxError(`pid ${task.pid} (${task.comm}) is a kernel thread: it has no address space of its own`);
    return this.x.cpus[0].addressSpace(task.cr3);
  }

  /** A process's open files by descriptor, as /proc/PID/fd shows them (paths rebuilt through the mounts). */
  files(process: number | Task): OpenFile[] {
    return openFiles(this, typeof process === 'number' ? this.process(process) : process);
  }

  // ---- watchpoints ----

  /**
   * Watch a kernel variable (by symbol name or address) or, with `process`,
   * an address in that process's address space (the core's virtual-address
   * watchpoint in its CR3), reported to the hypapp's onWatchpoint with the id returned
   * (`x.removeWatchpoint(id)` ends it). `length` defaults to 8 bytes; with a
   * process, only accesses made while it runs are reported.
   */
  watch(target: string | bigint, opts: { length?: number; kind?: WatchKind; process?: number | Task } = {}): number {
    const gva = typeof target === 'string' ? this.symbol(target) : target;
    const task = opts.process === undefined ? undefined : typeof opts.process === 'number' ? this.process(opts.process) : opts.process;
    if (task && task.cr3 === undefined) throw new LinuxError(`pid ${task.pid} (${task.comm}) is a kernel thread: it has no address space of its own`);
    const length = opts.length ?? 8, kind = opts.kind ?? 'write';
    if (task) return this.x.addVirtualWatchpoint(gva, length, kind, task.cr3);
    // Kernel memory is the same in every address space: its guest-physical pages, translated through the kernel's own tables.
    return this.x.addWatchpoint(this.memory.translate(gva).gpa, length, kind);
  }

  // ---- modules ----

  /** Loaded modules as /proc/modules lists them (newest first). */
  modules(): KernelModule[] {
    const out: KernelModule[] = [];
    const mod = this.btf.struct('module');
    const hasLayout = this.btf.member(mod, 'core_layout') !== undefined;
    for (const a of this.listEntries(this.symbol('modules'), 'module', 'list')) {
      const m = this.read('module', a);
      let base: bigint, size: number;
      if (hasLayout) {
        base = this.readMember('module', a, 'core_layout.base') as bigint;
        size = (this.readMember('module', a, 'core_layout.size') as number) + (this.readMember('module', a, 'init_layout.size') as number);
      } else {
        // Linux 6.4+: one allocation per kind of memory (mod->mem[]); text first.
        const mems = m.mem as KernelRecord[];
        base = mems[0].base as bigint;
        size = mems.reduce((sum, r) => sum + (r.size as number), 0);
      }
      out.push({ name: m.name as string, base, size, state: MODULE_STATES[m.state as number] ?? String(m.state), address: a });
    }
    return out;
  }

  // ---- system calls and function hooks (syscalls.ts, hooks.ts) ----
  // They use hypervisor breakpoints, which the core reports to the hypapp:
  // its onBreakpoint passes each to linux.onBreakpoint(e).

  private traps?: { breakpoints: BreakpointRouter; syscalls: SyscallHooks; hooks: FunctionHooks };
  private trapsOf(): NonNullable<Linux['traps']> {
    if (this.traps) return this.traps;
    const breakpoints = new BreakpointRouter(this.x);
    const offset = (struct: string, member: string) => { try { return this.offsetOf(struct, member); } catch { return undefined; } };
    const syscalls = new SyscallHooks(this.x, {
      symbol: (name) => this.lookup(name)?.address,
      symbolAt: (address) => { const s = this.symbolAt(address); return s?.offset === 0 ? s.name : undefined; },
      currentTask: (cpu) => this.runningTask(cpu),
      offsetOf: offset,
    }, breakpoints);
    const hooks = new FunctionHooks({
      signature: (name) => this.functionSignature(name),
      readStruct: (struct, address) => this.read(struct, address),
      currentTask: (cpu) => this.runningTask(cpu),
    }, breakpoints);
    return (this.traps = { breakpoints, syscalls, hooks });
  }

  /** Call `fn` at every system call's entry (x86-64 ABI); its verdict continues, denies (`deny(errno)`) or rewrites arguments. */
  onSyscall(fn: SyscallListener): void { this.trapsOf().syscalls.onSyscall(fn); }
  /** Call `fn` at every system call's return; `{ ret }` changes what the caller sees. */
  onSyscallReturn(fn: SyscallReturnListener): void { this.trapsOf().syscalls.onSyscallReturn(fn); }
  /** The kernel's name of system call `nr` (from sys_call_table). */
  syscallName(nr: number): string { return this.trapsOf().syscalls.nameOf(nr); }
  /** Hook a kernel function by name: `enter` with its arguments (BTF), `exit` with its return value. */
  hook(name: string, handlers: HookHandlers): Hook { return this.trapsOf().hooks.hook(name, handlers); }
  /** For the hypapp's onBreakpoint: handles the library's own breakpoints; false for the hypapp's. */
  onBreakpoint(e: BreakpointEvent): boolean { return this.traps?.breakpoints.dispatch(e) ?? false; }

  /**
   * pid, tgid and comm of the task a vCPU runs, for per-event use: per-CPU
   * areas and task_structs live in the kernel's direct map of RAM, whose
   * guest-physical address is the virtual one less page_offset_base (no
   * page walk); anything else goes through the kernel's page tables.
   */
  private runningTask(cpu: GuestCpu): SyscallTask {
    const mem = this.x.physical;
    const at = (a: bigint) => this.directMapped(a);
    const slot = this.perCpuBase(cpu) + this.currentSlot();
    const s = at(slot);
    const a = s === undefined ? this.memory.readU64(slot) : mem.readU64(s);
    const o = (this.taskOffsets ??= { pid: BigInt(this.offsetOf('task_struct', 'pid')), tgid: BigInt(this.offsetOf('task_struct', 'tgid')), comm: BigInt(this.offsetOf('task_struct', 'comm')) });
    const t = at(a);
    if (t === undefined) return { pid: this.memory.readU32(a + o.pid), tgid: this.memory.readU32(a + o.tgid), comm: this.memory.readString(a + o.comm, 16) };
    return { pid: mem.readU32(t + Number(o.pid)), tgid: mem.readU32(t + Number(o.tgid)), comm: mem.readString(t + Number(o.comm), 16) };
  }
  private taskOffsets?: { pid: bigint; tgid: bigint; comm: bigint };
  private directMap?: bigint;
  /** The guest-physical address of a direct-map address, or undefined. */
  private directMapped(a: bigint): number | undefined {
    this.directMap ??= this.memory.readU64(this.symbol('page_offset_base'));
    const off = a - this.directMap;
    return off >= 0n && off + 64n <= BigInt(this.x.ramSize) ? Number(off) : undefined;
  }
}

/** The Linux view of a hypapp's guest (one per context: the kernel is found once). */
export function linuxOf(x: HypappContext): Linux {
  let l = instances.get(x);
  if (!l) instances.set(x, (l = new Linux(x)));
  return l;
}
const instances = new WeakMap<HypappContext, Linux>();
