// Function hooks: a hypervisor breakpoint on a kernel function's first
// instruction (enter: its arguments by name from the argument registers, typed
// from BTF) and, for each call, one at the return address on its stack (exit:
// RAX). A return is matched to its call by the stack pointer it will have
// (the entry's plus 8), so recursion and other tasks running the same
// function or passing the same return address do not confuse it. A return
// breakpoint is removed when no call waits at that address; calls that never
// return (the task died, the function does not return) are dropped beyond
// MAX_PENDING per hook, oldest first.
import type { GuestCpu } from 'xmhf-ts/hypapp';
import type { BreakpointRouter } from './breakpoints.js';

/** What function hooks need of the kernel (the Linux library provides it). */
export interface HookKernel {
  /** Address, parameters (name and C type, in order) and return type of a kernel function, from kallsyms and BTF. */
  signature(name: string): { address: bigint; returns: string; params: ReadonlyArray<{ name: string; type: string }> };
  /** A struct in kernel memory, read lazily member by member. */
  readStruct(struct: string, address: bigint): Record<string, unknown>;
  currentTask?(cpu: GuestCpu): { pid: number; tgid: number; comm: string } | undefined;
}

/** The x86-64 C calling convention's argument registers. */
const ARG_REGS = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'] as const;
const MAX_PENDING = 1024;

export interface HookArg { name: string; type: string; value: bigint }

export interface HookEnterEvent {
  cpu: GuestCpu;
  /** The hooked function. */
  name: string;
  /** Arguments by name (the first six, from the registers). */
  args: Readonly<Record<string, bigint>>;
  /** The same in order, with their C types from BTF. */
  params: readonly HookArg[];
  readonly task: { pid: number; tgid: number; comm: string } | undefined;
  /** A pointer-to-struct argument read as that struct (lazily, member by member). */
  read(arg: string): Record<string, unknown>;
}

export interface HookExitEvent {
  cpu: GuestCpu;
  name: string;
  /** RAX at the return (signed). */
  ret: bigint;
  /** The call this return ends. */
  call: HookEnterEvent;
}

export interface HookHandlers {
  enter?(e: HookEnterEvent): void;
  exit?(e: HookExitEvent): void;
}

export interface Hook {
  /** Calls entered whose return has not come yet. */
  readonly pending: number;
  /** Calls dropped without their return (beyond the pending limit, or no breakpoint left for the return). */
  readonly lost: number;
  remove(): void;
}

interface ReturnSite { bp: number; calls: Map<bigint, HookEnterEvent> }

export class FunctionHooks {
  constructor(private readonly kernel: HookKernel, private readonly breakpoints: BreakpointRouter) {}

  hook(name: string, handlers: HookHandlers): Hook {
    const sig = this.kernel.signature(name);
    const kernel = this.kernel, breakpoints = this.breakpoints;
    const sites = new Map<bigint, ReturnSite>();
    /** Pending calls in entry order: [return address, stack key]. */
    const order = new Map<string, [bigint, bigint]>();
    let lost = 0, live = true;

    const forget = (site: bigint, key: bigint) => {
      const s = sites.get(site);
      if (!s) return;
      s.calls.delete(key);
      order.delete(`${site}:${key}`);
      if (s.calls.size === 0) { sites.delete(site); breakpoints.remove(s.bp); }
    };

    const onReturn = (site: bigint, cpu: GuestCpu) => {
      const key = cpu.get('rsp');
      const call = sites.get(site)?.calls.get(key);
      if (!call) return; // another task, or another path through this address
      forget(site, key);
      handlers.exit?.({ cpu, name, ret: BigInt.asIntN(64, cpu.get('rax')), call });
    };

    const onEnter = (cpu: GuestCpu) => {
      const params = sig.params.slice(0, ARG_REGS.length).map((p, i) => ({ name: p.name, type: p.type, value: cpu.get(ARG_REGS[i]) }));
      const args = Object.fromEntries(params.map((p) => [p.name, p.value]));
      let task: HookEnterEvent['task'] | null = null;
      const call: HookEnterEvent = {
        cpu, name, args, params,
        get task() { if (task === null) task = kernel.currentTask?.(cpu); return task; },
        read(arg) {
          const p = params.find((q) => q.name === arg);
          const struct = p && /^(?:const )?struct (\w+) \*$/.exec(p.type)?.[1];
          if (!p || !struct) throw new TypeError(`${name} has no pointer-to-struct argument "${arg}"`);
          return kernel.readStruct(struct, p.value);
        },
      };
      handlers.enter?.(call);
      if (!handlers.exit) return;
      const rsp = cpu.get('rsp');
      const site = cpu.readU64(rsp);
      let s = sites.get(site);
      if (!s) {
        let bp: number;
        try { bp = breakpoints.add(site, (e) => onReturn(site, e.cpu)); } catch { lost++; return; } // no breakpoint left
        sites.set(site, (s = { bp, calls: new Map() }));
      }
      const key = rsp + 8n;
      s.calls.set(key, call);
      order.set(`${site}:${key}`, [site, key]);
      if (order.size > MAX_PENDING) {
        const [oldSite, oldKey] = order.values().next().value!;
        forget(oldSite, oldKey);
        lost++;
      }
    };

    const entry = breakpoints.add(sig.address, (e) => onEnter(e.cpu));
    return {
      get pending() { return order.size; },
      get lost() { return lost; },
      remove() {
        if (!live) return;
        live = false;
        breakpoints.remove(entry);
        for (const s of sites.values()) breakpoints.remove(s.bp);
        sites.clear();
        order.clear();
      },
    };
  }
}
