// memprot: the guest-physical page protections hypapps set, enforced by the
// CPU's nested page table. Three inputs decide a page's effective rights:
//   policy   - what hypapps asked for with setprot (default: everything);
//   withheld - rights the core removes to see accesses (watchpoints),
//              counted so overlapping users compose;
//   granted  - rights the core adds for one instruction (allow-once, an
//              access to a watched page), dropped with revokeGrants().
// effective = (policy & ~withheld) | granted. sync() is the only code that
// writes the CPU's nested table, and it always writes exactly `effective`;
// setprot() is the only code that changes the policy. Nested paging is on
// while some page has fewer than all rights before grants. That is the
// invariant the property tests check against a reference model.
import { Prot } from '../hypapp/api.js';
import { PAGE_SIZE as PAGE } from '../backend/abi.js';

/** The backend's nested page table (Machine implements it). */
export interface NestedPageTable {
  readonly ramSize: number;
  setNestedPerm(gpa: number, count: number, access: number): void;
  getNestedPerm(gpa: number): number;
}

const RIGHTS = [Prot.READ, Prot.WRITE, Prot.EXEC_SUPER, Prot.EXEC_USER];

export class MemprotError extends Error {}

export class Memprot {
  readonly pages: number;
  private readonly policy: Uint8Array;
  /** Per page: how many core overlays withhold each right (index as RIGHTS). */
  private readonly withheldCounts = new Map<number, [number, number, number, number]>();
  private readonly granted = new Map<number, number>();
  /**
   * Pages whose rights before grants, (policy & ~withheld), are not ALL; nested paging is only
   * needed while this is non-zero. Grants do not count: an allow-once must not switch nested
   * paging off and on again (each switch flushes every vCPU's TLB).
   */
  private restricted = 0;
  private readonly isRestricted: Uint8Array;

  constructor(
    private readonly npt: NestedPageTable,
    /** Told when enforcement becomes needed (some page restricted) or unneeded. */
    private readonly onEnforcementChange: (on: boolean) => void = () => {},
  ) {
    this.pages = Math.floor(npt.ramSize / PAGE);
    this.policy = new Uint8Array(this.pages).fill(Prot.ALL);
    this.isRestricted = new Uint8Array(this.pages);
  }

  /** XMHF's setprot: the protection of every page overlapping [gpa, gpa + length). */
  setprot(gpa: bigint | number, length: number, prot: number): void {
    if (!Number.isInteger(prot) || prot < 0 || prot > Prot.ALL) throw new MemprotError(`setprot: ${prot} is not a protection (Prot bits 0..15)`);
    if ((prot & Prot.WRITE) !== 0 && (prot & Prot.READ) === 0) throw new MemprotError('setprot: a writable page must also be readable (Prot.WRITE needs Prot.READ)');
    const [first, count] = this.pageRange(gpa, length, 'setprot');
    this.policy.fill(prot, first, first + count);
    this.sync(first, count);
  }

  /** XMHF's getprot: the protection hypapps set on the page holding `gpa`. */
  getprot(gpa: bigint | number): number {
    const [first] = this.pageRange(gpa, 1, 'getprot');
    return this.policy[first];
  }

  /** Remove `rights` from a page for the core's own overlays (watchpoints); undo with release(). */
  withhold(page: number, rights: number): void { this.adjust(page, rights, +1); }
  release(page: number, rights: number): void { this.adjust(page, rights, -1); }

  /** Add `rights` to a page until revokeGrants() (one instruction's allowance). */
  grant(page: number, rights: number): void {
    this.checkPage(page);
    this.granted.set(page, (this.granted.get(page) ?? 0) | rights);
    this.sync(page, 1);
  }
  revokeGrants(): void {
    const pages = [...this.granted.keys()];
    this.granted.clear();
    for (const p of pages) this.sync(p, 1);
  }
  get hasGrants(): boolean { return this.granted.size > 0; }

  /** Rights withheld from `page` by overlays. */
  withheld(page: number): number {
    const c = this.withheldCounts.get(page);
    let bits = 0;
    if (c) for (let i = 0; i < 4; i++) if (c[i] > 0) bits |= RIGHTS[i];
    return bits;
  }

  /** What the CPU enforces on `page`. */
  effective(page: number): number {
    return (this.policy[page] & ~this.withheld(page)) | (this.granted.get(page) ?? 0);
  }

  /** Is nested paging needed (some page has fewer than all rights)? */
  get enforcing(): boolean { return this.restricted > 0; }

  private adjust(page: number, rights: number, delta: 1 | -1): void {
    this.checkPage(page);
    const c: [number, number, number, number] = [...(this.withheldCounts.get(page) ?? [0, 0, 0, 0])];
    for (let i = 0; i < 4; i++) {
      if ((rights & RIGHTS[i]) === 0) continue;
      if (c[i] + delta < 0) throw new MemprotError(`release of rights never withheld on page 0x${page.toString(16)}`);
      c[i] += delta;
    }
    if (c.every((n) => n === 0)) this.withheldCounts.delete(page);
    else this.withheldCounts.set(page, c);
    this.sync(page, 1);
  }

  /** The one writer of the nested page table: make pages [first, first+count) enforce `effective`. */
  private sync(first: number, count: number): void {
    const wasEnforcing = this.enforcing;
    let runStart = first, runValue = -1;
    for (let p = first; p <= first + count; p++) {
      const v = p < first + count ? this.effective(p) : -1;
      if (p < first + count) {
        const r = (this.policy[p] & ~this.withheld(p)) !== Prot.ALL ? 1 : 0;
        if (r !== this.isRestricted[p]) { this.restricted += r ? 1 : -1; this.isRestricted[p] = r; }
      }
      if (v !== runValue) {
        if (runValue >= 0) this.npt.setNestedPerm(runStart * PAGE, p - runStart, runValue);
        runStart = p; runValue = v;
      }
    }
    if (wasEnforcing !== this.enforcing) this.onEnforcementChange(this.enforcing);
  }

  private checkPage(page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.pages) throw new MemprotError(`page 0x${page.toString(16)} is outside guest RAM`);
  }

  private pageRange(gpa: bigint | number, length: number, what: string): [number, number] {
    const start = Number(gpa);
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length <= 0 || start + length > this.pages * PAGE) {
      throw new MemprotError(`${what}: [0x${start.toString(16)}, +0x${length.toString(16)}) is not inside guest RAM (0x${(this.pages * PAGE).toString(16)} bytes)`);
    }
    const first = Math.floor(start / PAGE);
    return [first, Math.floor((start + length - 1) / PAGE) - first + 1];
  }
}
