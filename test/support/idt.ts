// Builds a 64-bit IDT in guest RAM for tests that let exceptions reach the guest.
import { Reg, type Machine, type Vcpu } from '../../src/backend/interface.js';
import { Selector } from './guest64.js';
import { view } from './machine.js';

/** Install 64-bit interrupt gates (DPL 3 so INT n works from user mode) for `handlers` (vector -> address). */
export function installIdt(machine: Machine, vcpu: Vcpu, base: number, handlers: Map<number, number>, ist = 0): void {
  const v = view(machine);
  for (let i = 0; i < 256 * 16; i += 8) v.setBigUint64(base + i, 0n, true);
  for (const [vector, addr] of handlers) {
    const a = BigInt(addr);
    const lo = (a & 0xffffn) | (BigInt(Selector.KERNEL_CS) << 16n) | (BigInt(ist) << 32n) |
      (0xeen << 40n) | (0x3n << 45n) | (((a >> 16n) & 0xffffn) << 48n);
    v.setBigUint64(base + vector * 16, lo, true);
    v.setBigUint64(base + vector * 16 + 8, a >> 32n, true);
  }
  vcpu.setReg(Reg.IDTR_BASE, BigInt(base));
  vcpu.setReg(Reg.IDTR_LIMIT, 256n * 16n - 1n);
}
