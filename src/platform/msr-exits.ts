// RDMSR/WRMSR exits while the platform uses the MSR bitmap: MSRs that belong
// to devices (TSC deadline, the APIC's global enable) go to them; every other
// MSR that exits (those outside the bitmap's ranges always do) is performed on
// the CPU's own MSR storage, with #Vector.GP for MSRs it does not have, as if no
// bitmap were in use.
import { Exit, ExitField, EventType, Reg, Vector } from '../backend/abi.js';
import type { Vcpu } from '../backend/interface.js';


export interface MsrDevices {
  /** The value of a device MSR, or undefined if `index` is not one. */
  readMsr(index: number): bigint | undefined;
  /** True if a device took the write (the CPU still stores it if it has the MSR). */
  writeMsr(index: number, value: bigint): boolean;
}

/** Complete an MSR_READ or MSR_WRITE exit; false for any other exit. */
export function serveMsrExit(vcpu: Vcpu, exit: Exit, devices: MsrDevices): boolean {
  if (exit !== Exit.MSR_READ && exit !== Exit.MSR_WRITE) return false;
  const index = Number(vcpu.exitField(ExitField.NUMBER));
  if (exit === Exit.MSR_READ) {
    const value = devices.readMsr(index) ?? vcpu.getMsr(index);
    if (value === undefined) { vcpu.inject(EventType.HARDWARE_EXCEPTION, Vector.GP, 0); return true; }
    vcpu.setReg(Reg.RAX, value & 0xffffffffn);
    vcpu.setReg(Reg.RDX, (value >> 32n) & 0xffffffffn);
  } else {
    const value = BigInt.asUintN(64, vcpu.exitField(ExitField.VALUE));
    const taken = devices.writeMsr(index, value);
    const stored = vcpu.setMsr(index, value);
    if (!taken && !stored) { vcpu.inject(EventType.HARDWARE_EXCEPTION, Vector.GP, 0); return true; }
  }
  vcpu.skipInstruction();
  return true;
}
