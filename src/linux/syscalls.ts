// System-call hooks with verdicts, on x86-64 Linux (6.1 and later, whose
// do_syscall_64 dispatches through x64_sys_call(regs, nr)).
//
// Entry: a hypervisor breakpoint on x64_sys_call. There the kernel's entry
// work (seccomp, ptrace, audit) is done and the final number is in ESI, the
// caller's registers (struct pt_regs) at RDI, the return address on the stack.
// - deny(errno): the call is skipped: RAX = -errno and the vCPU returns from
//   x64_sys_call at once, so do_syscall_64 stores -errno in regs->ax as if the
//   system call had answered it. Nothing the guest can see is changed.
// - rewriting an argument writes its pt_regs slot, which __x64_sys_* reads;
//   the caller's value is put back at the return, as the ABI keeps it.
// Return: a breakpoint at x64_sys_call's return address in do_syscall_64 (the
// one call site, found on the stack at the first entry), RAX the value about
// to be stored in regs->ax. A return is matched to its entry by the stack
// pointer, which identifies the task's kernel stack on any vCPU.
// Entries without a return: exit and exit_group; a fork's child starts in
// ret_from_fork (its parent's call returns); a -ERESTART* return is followed
// by a new entry when the kernel restarts the call.
import type { GuestCpu, HypappContext, BreakpointEvent } from 'xmhf-ts/hypapp';
import { GuestPageFault } from 'xmhf-ts/hypapp';
import type { BreakpointRouter } from './breakpoints.js';

/** What the system-call hooks need of the kernel (the Linux library provides it). */
export interface SyscallKernel {
  /** Address of a kernel symbol (as /proc/kallsyms lists it), or undefined. */
  symbol(name: string): bigint | undefined;
  /** The name of the symbol starting exactly at `address`, or undefined. */
  symbolAt(address: bigint): string | undefined;
  /** The task running on `cpu`. */
  currentTask?(cpu: GuestCpu): SyscallTask | undefined;
  /** Offset of a struct member, from the kernel's BTF. */
  offsetOf?(struct: string, member: string): number | undefined;
}

export interface SyscallTask { pid: number; tgid: number; comm: string }

export interface SyscallArg {
  /** As SYSCALL_DEFINE names it (the kernel's syscall metadata), or arg0..arg5. */
  name: string;
  /** Its C type as SYSCALL_DEFINE spells it ("const char __user *"), or "unsigned long". */
  type: string;
  value: bigint;
}

export interface SyscallEvent {
  cpu: GuestCpu;
  nr: number;
  /** The kernel's own name for the call (sys_call_table[nr]'s symbol without __x64_sys_), else syscall_NR. */
  name: string;
  /** Its arguments, typed per the kernel's metadata where it has them (else six raw registers). */
  readonly args: readonly SyscallArg[];
  /** The six argument registers as the caller passed them (RDI, RSI, RDX, R10, R8, R9). */
  readonly rawArgs: readonly bigint[];
  /** The calling task (pid, tgid, comm), when the kernel view can tell. */
  readonly task: SyscallTask | undefined;
  /** Argument `i` read as a NUL-terminated string in the caller's memory; null if unreadable. */
  string(i: number, max?: number): string | null;
}

export interface SyscallReturnEvent {
  cpu: GuestCpu;
  nr: number;
  name: string;
  /** The value the call returns (negative: -errno), before any rewrite. */
  ret: bigint;
  readonly task: SyscallTask | undefined;
  /** The entry this return belongs to. */
  call: SyscallEvent;
}

/** continue (undefined or 'continue'), deny with an errno, or new values for arguments (by index or name). */
export type SyscallVerdict = undefined | 'continue' | { deny: number } | { args: Readonly<Record<string | number, bigint | number>> };
/** undefined: the caller sees `ret`; `{ ret }`: the caller sees this instead. */
export type SyscallReturnVerdict = undefined | { ret: bigint | number };

/** The verdict that makes a call return -errno without running. */
export function deny(errno: number): { deny: number } {
  if (!Number.isInteger(errno) || errno <= 0 || errno > 4095) throw new RangeError(`deny: ${errno} is not an errno (1..4095)`);
  return { deny: errno };
}

export type SyscallListener = (e: SyscallEvent) => SyscallVerdict;
export type SyscallReturnListener = (e: SyscallReturnEvent) => SyscallReturnVerdict;

/** x86-64 struct pt_regs members holding the six arguments, in argument order, and the result. */
const ARG_MEMBERS = ['di', 'si', 'dx', 'r10', 'r8', 'r9'] as const;
/**
 * Offsets in struct pt_regs when the kernel view has no BTF: the layout of
 * arch/x86/include/asm/ptrace.h, which is also the uapi user_regs_struct's.
 */
const PT_REGS_LAYOUT: Record<(typeof ARG_MEMBERS)[number], number> = { r10: 0x38, r9: 0x40, r8: 0x48, dx: 0x60, si: 0x68, di: 0x70 };
/** struct syscall_metadata (include/trace/syscall.h) when the view has no BTF. */
const METADATA_LAYOUT = { nb_args: 12, types: 16, args: 24 } as const;
/** Pending entries kept for their returns (the oldest is dropped beyond it: a task that died in a call). */
const MAX_PENDING = 4096;
const X64_PREFIX = '__x64_sys_';
/** Calls that end the task: they never return. */
const NO_RETURN = new Set(['exit', 'exit_group']);

interface Signature { argNames: string[]; types: string[] }

interface Pending {
  call: SyscallEvent;
  /** pt_regs address and the argument values the caller passed, when a listener rewrote them. */
  regs: bigint;
  restore?: Array<[number, bigint]>;
}

export class SyscallHooks {
  private readonly enter: SyscallListener[] = [];
  private readonly exit: SyscallReturnListener[] = [];
  private names: string[] = [];
  private readonly signatures = new Map<string, Signature | null>();
  private argOffsets: number[] = [];
  /** The bytes of pt_regs holding them: one read. */
  private argSpan: [number, number] = [0, 0];
  private entryBp: number | undefined;
  private returnBp: number | undefined;
  /** Entries awaiting their return, by the stack pointer the return will have (stackKey). */
  private readonly pending = new Map<number, Pending>();
  private needReturns = false;
  /** Returns seen without an entry (calls already running when the hooks were armed). */
  unmatchedReturns = 0;
  /** Entries dropped unreturned (beyond MAX_PENDING). */
  droppedEntries = 0;

  constructor(
    private readonly x: HypappContext,
    private readonly kernel: SyscallKernel,
    private readonly breakpoints: BreakpointRouter,
  ) {}

  /** Call `fn` at every system call's entry; its verdict continues, denies or rewrites the call. */
  onSyscall(fn: SyscallListener): void {
    this.enter.push(fn);
    this.arm();
  }

  /** Call `fn` at every system call's return; it may rewrite the value the caller sees. */
  onSyscallReturn(fn: SyscallReturnListener): void {
    this.exit.push(fn);
    this.needReturns = true;
    this.arm();
  }

  /** The kernel's name for system call `nr`. */
  nameOf(nr: number): string { return this.names[nr] ?? `syscall_${nr}`; }

  /** Entries still waiting for their return. */
  get pendingCount(): number { return this.pending.size; }

  private arm(): void {
    if (this.entryBp !== undefined) return;
    const dispatch = this.kernel.symbol('x64_sys_call');
    if (dispatch === undefined) {
      throw new Error('this kernel has no x64_sys_call (system-call hooks need Linux 6.1.85+/6.9+, which dispatch through it)');
    }
    this.learnNames();
    const off = (m: (typeof ARG_MEMBERS)[number]) => this.kernel.offsetOf?.('pt_regs', m) ?? PT_REGS_LAYOUT[m];
    this.argOffsets = ARG_MEMBERS.map(off);
    this.argSpan = [Math.min(...this.argOffsets), Math.max(...this.argOffsets) + 8];
    this.entryBp = this.breakpoints.add(dispatch, (e) => this.onEntry(e));
  }

  /** sys_call_table[nr] → the kallsyms name of its handler. */
  private learnNames(): void {
    const table = this.kernel.symbol('sys_call_table');
    if (table === undefined) return;
    const cpu = this.x.cpus[0];
    const names: string[] = [];
    for (let nr = 0; nr < 1024; nr++) {
      let sym: string | undefined;
      try { sym = this.kernel.symbolAt(cpu.readU64(table + BigInt(nr * 8))); } catch { break; }
      if (!sym?.startsWith(X64_PREFIX)) break;
      names.push(sym.slice(X64_PREFIX.length));
    }
    this.names = names;
  }

  /**
   * Argument names and types of a call from the kernel's syscall metadata
   * (CONFIG_FTRACE_SYSCALLS: __syscall_meta__NAME, what SYSCALL_DEFINE wrote),
   * read the first time that call is decoded. Null: the kernel has none.
   */
  private signature(cpu: GuestCpu, name: string): Signature | null {
    let sig = this.signatures.get(name);
    if (sig !== undefined) return sig;
    sig = null;
    const meta = this.kernel.symbol(`__syscall_meta__${name}`);
    const at = (m: keyof typeof METADATA_LAYOUT) => BigInt(this.kernel.offsetOf?.('syscall_metadata', m) ?? METADATA_LAYOUT[m]);
    const strings = (array: bigint, n: number) => Array.from({ length: n }, (_, i) => cpu.readString(cpu.readU64(array + BigInt(i * 8)), 128));
    if (meta !== undefined) {
      try {
        const n = new DataView(cpu.readVirtual(meta + at('nb_args'), 4).buffer).getInt32(0, true);
        if (n >= 0 && n <= 6) {
          sig = { types: n ? strings(cpu.readU64(meta + at('types')), n) : [], argNames: n ? strings(cpu.readU64(meta + at('args')), n) : [] };
        }
      } catch (e) {
        if (!(e instanceof GuestPageFault)) throw e;
      }
    }
    this.signatures.set(name, sig);
    return sig;
  }

  private armReturn(site: bigint): void {
    this.returnBp = this.breakpoints.add(site, (e) => this.onReturn(e));
  }

  private onEntry({ cpu }: BreakpointEvent): void {
    const rsp = cpu.get('rsp');
    const nr = Number(cpu.get('rsi') & 0xffff_ffffn);
    const regs = cpu.get('rdi');
    const call = this.event(cpu, nr, regs);
    if (this.returnBp === undefined && this.needReturns) this.armReturn(cpu.readU64(rsp));

    let restore: Array<[number, bigint]> | undefined;
    for (const fn of this.enter) {
      const v = fn(call);
      if (v === undefined || v === 'continue') continue;
      if ('deny' in v) {
        // The call will not run: arguments an earlier listener rewrote go back now.
        for (const [i, value] of (restore ?? []).reverse()) cpu.writeVirtual(regs + BigInt(this.argOffsets[i]), u64(value));
        this.track(rsp, call, regs);
        this.skipCall(cpu, rsp, -BigInt(v.deny));
        return;
      }
      restore ??= [];
      for (const [key, value] of Object.entries(v.args)) {
        const i = this.argIndex(call, key);
        restore.push([i, call.rawArgs[i]]);
        cpu.writeVirtual(regs + BigInt(this.argOffsets[i]), u64(BigInt(value)));
      }
    }
    // The caller's registers come back from pt_regs at the return: put the originals back there.
    if (restore && this.returnBp === undefined) this.armReturn(cpu.readU64(rsp));
    if (this.returnBp !== undefined && !NO_RETURN.has(call.name)) this.track(rsp, call, regs, restore);
  }

  private track(rsp: bigint, call: SyscallEvent, regs: bigint, restore?: Array<[number, bigint]>): void {
    if (this.returnBp === undefined) return;
    const key = stackKey(rsp + 8n);
    this.pending.delete(key);
    this.pending.set(key, { call, regs, restore });
    if (this.pending.size > MAX_PENDING) {
      this.pending.delete(this.pending.keys().next().value!);
      this.droppedEntries++;
    }
  }

  /** Return from x64_sys_call before its first instruction, with `ret` in RAX. */
  private skipCall(cpu: GuestCpu, rsp: bigint, ret: bigint): void {
    const back = cpu.readU64(rsp);
    cpu.set('rax', ret);
    cpu.set('rsp', rsp + 8n);
    cpu.set('rip', back);
  }

  private onReturn({ cpu }: BreakpointEvent): void {
    const key = stackKey(cpu.get('rsp'));
    const p = this.pending.get(key);
    if (!p) { this.unmatchedReturns++; return; }
    this.pending.delete(key);
    if (p.restore) {
      for (const [i, value] of p.restore.reverse()) cpu.writeVirtual(p.regs + BigInt(this.argOffsets[i]), u64(value));
    }
    if (this.exit.length === 0) return;
    const call = p.call;
    const ret = BigInt.asIntN(64, cpu.get('rax'));
    const e: SyscallReturnEvent = { cpu, nr: call.nr, name: call.name, ret, call, get task() { return call.task; } };
    for (const fn of this.exit) {
      const v = fn(e);
      if (v !== undefined) cpu.set('rax', BigInt(v.ret));
    }
  }

  private argIndex(call: SyscallEvent, key: string): number {
    const n = Number(key);
    const i = Number.isInteger(n) && key.trim() !== '' ? n : call.args.findIndex((a) => a.name === key);
    if (!(i >= 0 && i < 6)) throw new RangeError(`${call.name} has no argument ${key}`);
    return i;
  }

  /** The entry event; arguments and task are read when first asked for. */
  private event(cpu: GuestCpu, nr: number, regs: bigint): SyscallEvent {
    return new Call(this, cpu, nr, this.nameOf(nr), regs);
  }

  /** @internal */ task(cpu: GuestCpu): SyscallTask | undefined { return this.kernel.currentTask?.(cpu); }

  /** @internal */ readArgs(cpu: GuestCpu, regs: bigint): bigint[] {
    const [lo, hi] = this.argSpan;
    const view = new DataView(cpu.readVirtual(regs + BigInt(lo), hi - lo).buffer);
    return this.argOffsets.map((o) => view.getBigUint64(o - lo, true));
  }

  /** @internal */ typedArgs(cpu: GuestCpu, name: string, values: readonly bigint[]): SyscallArg[] {
    const sig = this.signature(cpu, name);
    if (!sig) return values.map((value, i) => ({ name: `arg${i}`, type: 'unsigned long', value }));
    return sig.argNames.map((n, i) => ({ name: n, type: sig.types[i], value: values[i] }));
  }
}

/** A kernel stack pointer as a Map key: its low 48 bits (canonical addresses differ there), a number, which hashes fast. */
function stackKey(rsp: bigint): number { return Number(rsp & 0xffff_ffff_ffffn); }

/** One system call's entry: what the listeners see. */
class Call implements SyscallEvent {
  private raw?: bigint[];
  private typed?: SyscallArg[];
  private who: SyscallTask | undefined | null = null;

  constructor(private readonly hooks: SyscallHooks, readonly cpu: GuestCpu, readonly nr: number, readonly name: string, private readonly regs: bigint) {}

  get rawArgs(): readonly bigint[] { return (this.raw ??= this.hooks.readArgs(this.cpu, this.regs)); }
  get args(): readonly SyscallArg[] { return (this.typed ??= this.hooks.typedArgs(this.cpu, this.name, this.rawArgs)); }
  get task(): SyscallTask | undefined {
    if (this.who === null) this.who = this.hooks.task(this.cpu);
    return this.who;
  }
  string(i: number, max = 4096): string | null {
    const a = this.rawArgs[i];
    if (a === undefined) return null;
    try { return this.cpu.readString(a, max); } catch { return null; }
  }
}

function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}
