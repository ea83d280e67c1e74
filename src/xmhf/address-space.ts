// Sized access to guest memory: guest-physical, or guest-virtual through one
// address space (the current CR3 of a vCPU, or any CR3 a hypapp names), so a
// hypapp can read another process's memory without waiting for it to run.
import { GuestPageFault, type AddressSpace, type MemoryView, type Translation, type Mapping } from '../hypapp/api.js';
import { PAGE_SIZE } from '../backend/abi.js';
import { translate, mappings, type PagingRegisters } from './pagewalk.js';
import type { GuestMemory } from './guest-memory.js';

/** readU8..writeU64 and readString over a view's byte access (little-endian, as x86). */
abstract class SizedAccess implements MemoryView {
  abstract read(addr: bigint | number, length: number): Uint8Array;
  abstract write(addr: bigint | number, bytes: Uint8Array): void;

  private view(addr: bigint | number, n: number): DataView {
    const b = this.read(addr, n);
    return new DataView(b.buffer, b.byteOffset, n);
  }
  readU8(addr: bigint | number): number { return this.read(addr, 1)[0]; }
  readU16(addr: bigint | number): number { return this.view(addr, 2).getUint16(0, true); }
  readU32(addr: bigint | number): number { return this.view(addr, 4).getUint32(0, true); }
  readU64(addr: bigint | number): bigint { return this.view(addr, 8).getBigUint64(0, true); }
  writeU8(addr: bigint | number, value: number): void { this.write(addr, Uint8Array.of(value & 0xff)); }
  writeU16(addr: bigint | number, value: number): void { this.put(addr, 2, (d) => d.setUint16(0, value, true)); }
  writeU32(addr: bigint | number, value: number): void { this.put(addr, 4, (d) => d.setUint32(0, value >>> 0, true)); }
  writeU64(addr: bigint | number, value: bigint): void { this.put(addr, 8, (d) => d.setBigUint64(0, BigInt.asUintN(64, value), true)); }
  private put(addr: bigint | number, n: number, fill: (d: DataView) => void): void {
    const b = new Uint8Array(n);
    fill(new DataView(b.buffer));
    this.write(addr, b);
  }

  readString(addr: bigint | number, max = 4096): string {
    const parts: Uint8Array[] = [];
    let a = BigInt(addr), left = max;
    while (left > 0) {
      // Page by page, so a string that ends just before an unmapped page reads.
      const chunk = Math.min(left, PAGE_SIZE - Number(a % BigInt(PAGE_SIZE)));
      const part = this.read(a, chunk);
      const nul = part.indexOf(0);
      if (nul >= 0) { parts.push(part.subarray(0, nul)); break; }
      parts.push(part);
      a += BigInt(chunk); left -= chunk;
    }
    return Buffer.concat(parts).toString('utf8');
  }
}

/** Guest-physical memory, bounds-checked against guest RAM. */
export class PhysicalView extends SizedAccess {
  constructor(private readonly mem: GuestMemory) { super(); }
  read(gpa: bigint | number, length: number): Uint8Array { return this.mem.read(gpa, length); }
  write(gpa: bigint | number, bytes: Uint8Array): void { this.mem.write(gpa, bytes); }
}

/** Guest-virtual memory through the page tables the paging registers name. */
export class VirtualView extends SizedAccess implements AddressSpace {
  constructor(private readonly mem: GuestMemory, private readonly registers: () => PagingRegisters) { super(); }

  get cr3(): bigint { return this.registers().cr3; }

  translate(gva: bigint): Translation {
    return translate(this.mem, this.registers(), BigInt.asUintN(64, gva));
  }
  mappings(start?: bigint, end?: bigint): Iterable<Mapping> {
    return mappings(this.mem, this.registers(), start, end);
  }
  read(gva: bigint | number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.eachPage(BigInt(gva), length, (gpa, off, n) => out.set(this.mem.read(gpa, n), off));
    return out;
  }
  write(gva: bigint | number, bytes: Uint8Array): void {
    this.eachPage(BigInt(gva), bytes.length, (gpa, off, n) => this.mem.write(gpa, bytes.subarray(off, off + n)));
  }

  /** Visit [gva, gva + length) page by page with the guest-physical address of each piece. */
  private eachPage(gva: bigint, length: number, visit: (gpa: bigint, offset: number, n: number) => void): void {
    const regs = this.registers();
    let a = BigInt.asUintN(64, gva), off = 0;
    while (off < length) {
      const n = Math.min(length - off, PAGE_SIZE - Number(a % BigInt(PAGE_SIZE)));
      const t = translate(this.mem, regs, a);
      if (t.gpa + BigInt(n) > BigInt(this.mem.size)) throw new GuestPageFault(a, 0, `0x${a.toString(16)} maps to 0x${t.gpa.toString(16)}, outside guest RAM`);
      visit(t.gpa, off, n);
      off += n; a = BigInt.asUintN(64, a + BigInt(n));
    }
  }
}
