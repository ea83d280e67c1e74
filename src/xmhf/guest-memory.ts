// Guest-physical memory for the core and hypapps: bounds-checked copies in
// and out of guest RAM; writes tell the CPU so decoded code stays coherent.
import type { Machine } from '../backend/interface.js';
import type { PhysicalReader } from './pagewalk.js';

export class GuestMemoryError extends RangeError {}

export class GuestMemory implements PhysicalReader {
  constructor(private readonly machine: Machine) {}

  get size(): number { return this.machine.ramSize; }

  private check(gpa: bigint | number, length: number, what: string): number {
    const a = Number(gpa);
    if (!Number.isSafeInteger(a) || a < 0 || !Number.isSafeInteger(length) || length < 0 || a + length > this.size) {
      throw new GuestMemoryError(`${what} [0x${a.toString(16)}, +${length}) is outside guest RAM (0x${this.size.toString(16)} bytes)`);
    }
    return a;
  }

  /** A copy of [gpa, gpa + length). */
  read(gpa: bigint | number, length: number): Uint8Array {
    const a = this.check(gpa, length, 'read of guest-physical');
    return this.machine.ram.slice(a, a + length);
  }

  write(gpa: bigint | number, bytes: Uint8Array): void {
    const a = this.check(gpa, bytes.length, 'write of guest-physical');
    this.machine.ram.set(bytes, a);
    this.machine.notifyRamWritten(a, bytes.length);
  }

  read32(gpa: bigint): number | undefined {
    if (gpa < 0n || gpa + 4n > BigInt(this.size)) return undefined;
    const r = this.machine.ram;
    return new DataView(r.buffer, r.byteOffset).getUint32(Number(gpa), true);
  }

  read64(gpa: bigint): bigint | undefined {
    if (gpa < 0n || gpa + 8n > BigInt(this.size)) return undefined;
    const r = this.machine.ram;
    return new DataView(r.buffer, r.byteOffset).getBigUint64(Number(gpa), true);
  }
}
