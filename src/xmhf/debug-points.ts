// Hypervisor breakpoints and watchpoints, invisible to the guest: they use no
// debug registers and no INT3. A breakpoint is the CPU's own (the backend's
// execution breakpoint on the instruction's guest-physical address: an exit
// there, nothing elsewhere). A watchpoint withholds write (or read and write)
// rights from the pages it covers; the nested page fault that follows tells
// the core where the guest is, and the core lets that access through once.
import { Prot } from '../hypapp/api.js';
import type { Machine } from '../backend/interface.js';
import type { Memprot } from './memprot.js';
import { PAGE_SIZE as PAGE } from '../backend/abi.js';


export interface Breakpoint {
  id: number;
  owner: string;
  gva: bigint;
  gpa: number;
}

export interface Watchpoint {
  id: number;
  owner: string;
  gpa: number;
  length: number;
  kind: 'write' | 'access';
}

export class DebugPoints {
  private nextId = 1;
  private readonly breakpoints = new Map<number, Breakpoint>();
  /** The same by guest-physical address; each list is replaced, never changed, so a handler may add or remove breakpoints while the list of its exit is walked. */
  private readonly byGpa = new Map<number, readonly Breakpoint[]>();
  private readonly watchpoints = new Map<number, Watchpoint>();

  constructor(
    private readonly memprot: Memprot,
    private readonly machine: Pick<Machine, 'addExecBreakpoint' | 'removeExecBreakpoint'>,
  ) {}

  addBreakpoint(owner: string, gva: bigint, gpa: bigint): number {
    const bp = { id: this.nextId++, owner, gva: BigInt.asUintN(64, gva), gpa: Number(gpa) };
    this.machine.addExecBreakpoint(bp.gpa);
    this.breakpoints.set(bp.id, bp);
    this.byGpa.set(bp.gpa, [...(this.byGpa.get(bp.gpa) ?? []), bp]);
    return bp.id;
  }

  removeBreakpoint(owner: string, id: number): void {
    const bp = this.breakpoints.get(id);
    if (!bp || bp.owner !== owner) throw new RangeError(`${owner} has no breakpoint ${id}`);
    this.breakpoints.delete(id);
    const left = this.breakpointsAt(bp.gpa).filter((b) => b !== bp);
    if (left.length > 0) { this.byGpa.set(bp.gpa, left); return; }
    this.byGpa.delete(bp.gpa);
    this.machine.removeExecBreakpoint(bp.gpa);
  }

  /** Breakpoints on the instruction at guest-physical `gpa` (a hit's exit looks them up: no copying). */
  breakpointsAt(gpa: number): readonly Breakpoint[] {
    return this.byGpa.get(gpa) ?? NONE;
  }

  addWatchpoint(owner: string, gpa: number, length: number, kind: 'write' | 'access'): number {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length <= 0 || gpa + length > this.memprot.pages * PAGE) {
      throw new RangeError(`watchpoint [0x${gpa.toString(16)}, +${length}) is not inside guest RAM`);
    }
    const w = { id: this.nextId++, owner, gpa, length, kind };
    for (const p of pagesOf(gpa, length)) this.memprot.withhold(p, rightsOf(kind));
    this.watchpoints.set(w.id, w);
    return w.id;
  }

  removeWatchpoint(owner: string, id: number): void {
    const w = this.watchpoints.get(id);
    if (!w || w.owner !== owner) throw new RangeError(`${owner} has no watchpoint ${id}`);
    this.watchpoints.delete(id);
    for (const p of pagesOf(w.gpa, w.length)) this.memprot.release(p, rightsOf(w.kind));
  }

  /** Watchpoints an access of `size` bytes at `gpa` hits. */
  watchpointsHit(gpa: number, size: number, write: boolean): Watchpoint[] {
    return [...this.watchpoints.values()].filter((w) =>
      (write || w.kind === 'access') && gpa < w.gpa + w.length && w.gpa < gpa + size);
  }
}

const NONE: readonly Breakpoint[] = [];

function rightsOf(kind: 'write' | 'access'): number { return kind === 'write' ? Prot.WRITE : Prot.READ | Prot.WRITE; }

function pagesOf(gpa: number, length: number): number[] {
  const out: number[] = [];
  for (let p = Math.floor(gpa / PAGE); p <= Math.floor((gpa + length - 1) / PAGE); p++) out.push(p);
  return out;
}
