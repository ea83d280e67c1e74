// Hypervisor breakpoints and watchpoints, invisible to the guest: they use no
// debug registers and no INT3. A breakpoint is the CPU's own (the backend's
// execution breakpoint on the instruction's guest-physical address: an exit
// there, nothing elsewhere). A watchpoint withholds write (or read and write)
// rights from the pages it covers; the nested page fault that follows tells
// the core where the guest is, and the core lets that access through once.
import { Prot, type WatchKind } from '../hypapp/api.js';
import type { Machine } from '../backend/interface.js';
import type { Memprot } from './memprot.js';
import { PAGE_SIZE as PAGE } from '../backend/abi.js';


export interface Breakpoint {
  id: number;
  owner: string;
  gva: bigint;
  gpa: number;
}

/** A guest-physical range. */
export interface PhysicalRange {
  gpa: number;
  length: number;
}

export interface Watchpoint {
  id: number;
  owner: string;
  /** What it watches: one range, or the pieces a virtual range maps to. */
  ranges: PhysicalRange[];
  kind: WatchKind;
  /** Report only accesses made under this CR3 (page-table base bits); undefined: any address space. */
  cr3?: bigint;
}

/** The page-table base of a CR3 value (PCID and flag bits aside). */
export function cr3Base(cr3: bigint): bigint { return cr3 & 0x000f_ffff_ffff_f000n; }

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

  addWatchpoint(owner: string, ranges: PhysicalRange[], kind: WatchKind, cr3?: bigint): number {
    if (kind !== 'write' && kind !== 'read' && kind !== 'access') throw new RangeError(`watchpoint kind "${String(kind)}" is not write, read or access`);
    for (const { gpa, length } of ranges) {
      if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length <= 0 || gpa + length > this.memprot.pages * PAGE) {
        throw new RangeError(`watchpoint [0x${gpa.toString(16)}, +${length}) is not inside guest RAM`);
      }
    }
    const w: Watchpoint = { id: this.nextId++, owner, ranges, kind, ...(cr3 === undefined ? {} : { cr3: cr3Base(cr3) }) };
    for (const r of ranges) for (const p of pagesOf(r.gpa, r.length)) this.memprot.withhold(p, rightsOf(kind));
    this.watchpoints.set(w.id, w);
    return w.id;
  }

  removeWatchpoint(owner: string, id: number): void {
    const w = this.watchpoints.get(id);
    if (!w || w.owner !== owner) throw new RangeError(`${owner} has no watchpoint ${id}`);
    this.watchpoints.delete(id);
    for (const r of w.ranges) for (const p of pagesOf(r.gpa, r.length)) this.memprot.release(p, rightsOf(w.kind));
  }

  /** Watchpoints an access of `size` bytes at `gpa`, made under `cr3`, hits. */
  watchpointsHit(gpa: number, size: number, write: boolean, cr3: bigint): Watchpoint[] {
    return [...this.watchpoints.values()].filter((w) =>
      (w.kind === 'access' || (w.kind === 'write') === write) && w.ranges.some((r) => gpa < r.gpa + r.length && r.gpa < gpa + size) &&
      (w.cr3 === undefined || w.cr3 === cr3Base(cr3)));
  }
}

const NONE: readonly Breakpoint[] = [];

/** Reads can only be seen by withholding read (and so write, which needs it) rights. */
function rightsOf(kind: WatchKind): number { return kind === 'write' ? Prot.WRITE : Prot.READ | Prot.WRITE; }

function pagesOf(gpa: number, length: number): number[] {
  const out: number[] = [];
  for (let p = Math.floor(gpa / PAGE); p <= Math.floor((gpa + length - 1) / PAGE); p++) out.push(p);
  return out;
}
