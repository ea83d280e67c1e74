// dmaprot: what devices may touch in guest RAM. XMHF keeps devices out of
// protected memory with the IOMMU; here every device reaches RAM only through
// this port, and the rule is the guest's own: a device may read a page the
// hypapps' policy lets the guest read and write a page it lets the guest
// write (memprot's policy, not the core's temporary overlays, so a watchpoint
// does not fail a disk read). Besides, protect() keeps devices out of pages
// the guest may still use (XMHF's DMA protection of its own memory). A
// refused access touches nothing and is reported (hypapps' onDmaViolation);
// the device decides how the guest hears of it.
import type { Machine } from '../backend/interface.js';
import { inRam, type DmaPort } from '../platform/platform.js';
import { Prot } from '../hypapp/api.js';
import type { Memprot } from './memprot.js';
import { PAGE_SIZE as PAGE } from '../backend/abi.js';


/** A refused device access, for the core's reports. */
export interface DmaViolation {
  device: string;
  gpa: number;
  length: number;
  direction: 'read' | 'write';
}

export class Dmaprot implements DmaPort {
  /** Pages protect() forbids to devices, with how many protections hold each. */
  private readonly forbidden = new Map<number, number>();

  constructor(
    private readonly machine: Machine,
    private readonly memprot: Memprot,
    private readonly onViolation: (v: DmaViolation) => void = () => {},
  ) {}

  write(device: string, gpa: number, bytes: Uint8Array): boolean {
    if (!this.allowed(device, gpa, bytes.length, 'write')) return false;
    this.machine.ram.set(bytes, gpa);
    this.machine.notifyRamWritten(gpa, bytes.length);
    return true;
  }

  read(device: string, gpa: number, length: number): Uint8Array | undefined {
    if (!this.allowed(device, gpa, length, 'read')) return undefined;
    return this.machine.ram.slice(gpa, gpa + length);
  }

  /** Forbid devices every page overlapping [gpa, gpa + length) (counted: each protect needs its unprotect). */
  protect(gpa: number, length: number): void {
    for (const page of pagesOf(gpa, length)) this.forbidden.set(page, (this.forbidden.get(page) ?? 0) + 1);
  }

  unprotect(gpa: number, length: number): void {
    for (const page of pagesOf(gpa, length)) {
      const n = this.forbidden.get(page) ?? 0;
      if (n <= 1) this.forbidden.delete(page); else this.forbidden.set(page, n - 1);
    }
  }

  /** Whether every page of [gpa, gpa + length) lies in RAM with the right the access needs. */
  private allowed(device: string, gpa: number, length: number, direction: 'read' | 'write'): boolean {
    const right = direction === 'write' ? Prot.WRITE : Prot.READ;
    let ok = inRam(this.machine, gpa, length);
    for (let page = Math.floor(gpa / PAGE); ok && page * PAGE < gpa + length; page++) {
      ok = (this.memprot.getprot(page * PAGE) & right) !== 0 && !this.forbidden.has(page);
    }
    if (!ok) this.onViolation({ device, gpa, length, direction });
    return ok;
  }
}

/** Page numbers overlapping [gpa, gpa + length), checked against nonsense (the caller is a hypapp). */
function pagesOf(gpa: number, length: number): number[] {
  if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length <= 0) {
    throw new RangeError(`protectFromDma: [${gpa}, +${length}) is not a range of guest-physical memory`);
  }
  const pages: number[] = [];
  for (let page = Math.floor(gpa / PAGE); page * PAGE < gpa + length; page++) pages.push(page);
  return pages;
}
