// What an Exit.EMULATION_FAILURE was, in words: the CPU's mode and what it
// could not do, from the reason and details the CPU left in the exit fields.
import { Reg, Seg, ExitField, EmulationFailure, CpuFeature } from './abi.js';
import type { Vcpu } from './interface.js';

const CR0_PE = 1n, EFER_LMA = 0x400n, RFLAGS_VM = 0x20000n;
const ATTR_L = 0x2000, ATTR_DB = 0x4000;

/** "64-bit mode, CPL 0", "compatibility mode (32-bit code), CPL 3", "real mode", ... */
export function cpuModeText(vcpu: Pick<Vcpu, 'getReg' | 'getSeg'>): string {
  if ((vcpu.getReg(Reg.CR0) & CR0_PE) === 0n) return 'real mode';
  if ((vcpu.getReg(Reg.RFLAGS) & RFLAGS_VM) !== 0n) return 'virtual-8086 mode';
  const cs = vcpu.getSeg(Seg.CS).attr;
  const cpl = `CPL ${vcpu.getReg(Reg.CPL)}`;
  const bits = (cs & ATTR_DB) !== 0 ? 32 : 16;
  if ((vcpu.getReg(Reg.EFER) & EFER_LMA) !== 0n) {
    return (cs & ATTR_L) !== 0 ? `64-bit mode, ${cpl}` : `compatibility mode (${bits}-bit code), ${cpl}`;
  }
  return `${bits}-bit protected mode, ${cpl}`;
}

const FEATURE_NAMES: Record<CpuFeature, string> = {
  [CpuFeature.SSE3]: 'SSE3',
  [CpuFeature.SSSE3_SSE4]: 'SSSE3/SSE4',
  [CpuFeature.MOVBE]: 'MOVBE',
  [CpuFeature.AVX]: 'AVX',
  [CpuFeature.RDRAND]: 'RDRAND',
  [CpuFeature.RDSEED]: 'RDSEED',
  [CpuFeature.XSAVE]: 'XSAVE',
};

const CR4_BIT_NAMES: Record<number, string> = {
  12: 'LA57', 13: 'VMXE', 14: 'SMXE', 18: 'OSXSAVE', 19: 'KL', 22: 'PKE', 23: 'CET', 24: 'PKS', 25: 'UINTR',
};

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/** "0f 38 f0", "VEX (c4)": an opcode as EmulationFailure.OPCODE encodes it. */
function opcodeText(opcode: number): string {
  const map = opcode >> 8, byte = hex2(opcode & 0xff);
  return ['', '0f ', '0f 38 ', '0f 3a ', 'VEX '][map] + byte;
}

/**
 * What the CPU could not do, from the exit fields of an Exit.EMULATION_FAILURE; `trap` is the
 * message of a WebAssembly trap no instruction asked for (EmulationFailure.INTERNAL).
 */
export function emulationFailureText(vcpu: Pick<Vcpu, 'exitField'>, trap?: string): string {
  const reason = Number(vcpu.exitField(ExitField.NUMBER)) as EmulationFailure;
  const value = vcpu.exitField(ExitField.VALUE);
  switch (reason) {
    case EmulationFailure.OPCODE: {
      const feature = FEATURE_NAMES[Number(vcpu.exitField(ExitField.EXTRA)) as CpuFeature] ?? 'an unknown instruction set';
      return `opcode ${opcodeText(Number(value))} (${feature}) is not implemented, though CPUID advertises ${feature}`;
    }
    case EmulationFailure.CR4_BITS: {
      const bits = [...Array(64).keys()].filter((b) => (value >> BigInt(b)) & 1n);
      const names = bits.map((b) => `bit ${b}${CR4_BIT_NAMES[b] ? ` (${CR4_BIT_NAMES[b]})` : ''}`).join(', ');
      return `MOV to CR4 setting ${names}, which this CPU does not implement`;
    }
    case EmulationFailure.INTERNAL:
      return `internal error in the CPU (WebAssembly trap: ${trap ?? 'unknown'})`;
    default:
      return `emulation failure reason ${reason}`;
  }
}
