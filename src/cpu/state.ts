// The active vCPU's architectural state at fixed offsets from STATE, plus a
// few cached mode values recomputed whenever CR0/CR4/EFER/CS/SS change.
import { STATE } from './layout';
export { STATE };

// ---- offsets inside STATE ----
export const O_GPR: usize = 0;          // 16 x i64
export const O_RIP: usize = 128;
export const O_FLAGS: usize = 136;      // RFLAGS with the arithmetic flags possibly stale (see flags.ts)
export const O_ZERO: usize = 144;       // i64 0: register slot 18 (decode.ts R_ZERO), an address's missing base or index
export const O_SEG: usize = 256;        // 8 x { base i64, limit u32, sel u16, attr u16 }
export const O_GDTR_BASE: usize = 384;
export const O_GDTR_LIMIT: usize = 392;
export const O_IDTR_BASE: usize = 400;
export const O_IDTR_LIMIT: usize = 408;
export const O_CR0: usize = 416;
export const O_CR2: usize = 424;
export const O_CR3: usize = 432;
export const O_CR4: usize = 440;
export const O_CR8: usize = 448;
export const O_DR: usize = 456;         // DR0..DR3, then DR6, DR7 (6 x i64)
export const O_EFER: usize = 504;
export const O_STAR: usize = 512;
export const O_LSTAR: usize = 520;
export const O_CSTAR: usize = 528;
export const O_FMASK: usize = 536;
export const O_KGSBASE: usize = 544;
export const O_SYSENTER_CS: usize = 552;
export const O_SYSENTER_ESP: usize = 560;
export const O_SYSENTER_EIP: usize = 568;
export const O_TSC_OFFSET: usize = 576;
export const O_APIC_BASE: usize = 584;
export const O_PAT: usize = 592;
export const O_MISC_ENABLE: usize = 600;
export const O_TSC_AUX: usize = 608;
export const O_MTRR_DEF: usize = 616;
export const O_MTRR_FIXED: usize = 624;  // 11 x i64
export const O_MTRR_VAR: usize = 712;    // 16 x i64 (8 base/mask pairs)
export const O_AMD_MSRS: usize = 840;    // 5 x i64: SYSCFG, HWCR, NB_CFG, DE_CFG, TOP_MEM (plain storage)
export const O_MCG: usize = 936;              // i64 MCG_STATUS/misc storage
export const O_TSC_ADJUST: usize = 944;       // i64 IA32_TSC_ADJUST
// 1024..1087: free (the x87 kept an f64 copy of each register there; they are exact 80-bit values now)
export const O_FPU_MM: usize = 1088;    // 8 x i64: exact 64-bit MMX view of each register
export const O_FPU_CW: usize = 1152;    // u16
export const O_FPU_SW: usize = 1154;    // u16 (TOP kept separately in O_FPU_TOP)
export const O_FPU_TAG: usize = 1156;   // u8 bitmask: 1 = register valid (abridged tag)
export const O_FPU_TOP: usize = 1157;   // u8
export const O_FPU_MMX_EXACT: usize = 1158; // u8 bitmask: register holds an MMX value (O_FPU_MM is exact)
export const O_FPU_FOP: usize = 1160;   // u16
export const O_FPU_FIP: usize = 1168;   // i64
export const O_FPU_FDP: usize = 1176;   // i64
export const O_FPU_SEXP: usize = 1184;  // 8 x u16: sign/exponent word of each register's exact 80-bit form
export const O_FPU_FCS: usize = 1200;   // u16: last x87 instruction's CS selector
export const O_FPU_FDS: usize = 1202;   // u16: last x87 operand's segment selector
export const O_XMM: usize = 1280;       // 16 x 16 bytes
export const O_MXCSR: usize = 1536;     // u32
/** An emulation failure found outside run(), for this vCPU's next run (fault.ts): i32 reason + 1 (0: none), i64 value, i64 extra. */
export const O_DEFERRED_FAILURE: usize = 2048;

// ---- general-purpose registers ----
// @ts-ignore: decorator
@inline export function reg64(r: i32): i64 { return load<i64>(STATE + O_GPR + (<usize>r << 3)); }
// @ts-ignore: decorator
@inline export function setReg64(r: i32, v: i64): void { store<i64>(STATE + O_GPR + (<usize>r << 3), v); }
// @ts-ignore: decorator
@inline export function reg32(r: i32): i32 { return load<i32>(STATE + O_GPR + (<usize>r << 3)); }
/** 32-bit writes zero the upper half, as in 64-bit mode (and harmlessly elsewhere). */
// @ts-ignore: decorator
@inline export function setReg32(r: i32, v: i32): void { store<i64>(STATE + O_GPR + (<usize>r << 3), <i64><u32>v); }
// @ts-ignore: decorator
@inline export function reg16(r: i32): i32 { return load<u16>(STATE + O_GPR + (<usize>r << 3)); }
// @ts-ignore: decorator
@inline export function setReg16(r: i32, v: i32): void { store<u16>(STATE + O_GPR + (<usize>r << 3), <u16>v); }

/** Byte register r: with rexPresent, 4..7 are SPL..DIL; without, AH..BH. */
// @ts-ignore: decorator
@inline export function reg8addr(r: i32, rexPresent: bool): usize {
  if (!rexPresent && r >= 4 && r < 8) return STATE + O_GPR + (<usize>(r - 4) << 3) + 1;
  return STATE + O_GPR + (<usize>r << 3);
}
// @ts-ignore: decorator
@inline export function reg8(r: i32, rex: bool): i32 { return load<u8>(reg8addr(r, rex)); }
// @ts-ignore: decorator
@inline export function setReg8(r: i32, rex: bool, v: i32): void { store<u8>(reg8addr(r, rex), <u8>v); }

/** Read a register of `size` bytes, zero-extended. */
export function regN(r: i32, size: i32, rex: bool): i64 {
  if (size == 8) return reg64(r);
  if (size == 4) return <i64><u32>reg32(r);
  if (size == 2) return <i64>reg16(r);
  return <i64>reg8(r, rex);
}
/** Write a register of `size` bytes with x86-64 rules (32-bit writes clear bits 63:32). */
export function setRegN(r: i32, size: i32, rex: bool, v: i64): void {
  if (size == 8) setReg64(r, v);
  else if (size == 4) setReg32(r, <i32>v);
  else if (size == 2) setReg16(r, <i32>v);
  else setReg8(r, rex, <i32>v);
}

// @ts-ignore: decorator
@inline export function rip(): i64 { return load<i64>(STATE + O_RIP); }
// @ts-ignore: decorator
@inline export function setRip(v: i64): void { store<i64>(STATE + O_RIP, v); }

// ---- segments ----
// @ts-ignore: decorator
@inline export function segBase(s: i32): i64 { return load<i64>(STATE + O_SEG + (<usize>s << 4)); }
// @ts-ignore: decorator
@inline export function setSegBase(s: i32, v: i64): void { store<i64>(STATE + O_SEG + (<usize>s << 4), v); }
// @ts-ignore: decorator
@inline export function segLimit(s: i32): u32 { return load<u32>(STATE + O_SEG + (<usize>s << 4) + 8); }
// @ts-ignore: decorator
@inline export function setSegLimit(s: i32, v: u32): void { store<u32>(STATE + O_SEG + (<usize>s << 4) + 8, v); }
// @ts-ignore: decorator
@inline export function segSel(s: i32): i32 { return load<u16>(STATE + O_SEG + (<usize>s << 4) + 12); }
// @ts-ignore: decorator
@inline export function setSegSel(s: i32, v: i32): void { store<u16>(STATE + O_SEG + (<usize>s << 4) + 12, <u16>v); }
// @ts-ignore: decorator
@inline export function segAttr(s: i32): i32 { return load<u16>(STATE + O_SEG + (<usize>s << 4) + 14); }
// @ts-ignore: decorator
@inline export function setSegAttr(s: i32, v: i32): void { store<u16>(STATE + O_SEG + (<usize>s << 4) + 14, <u16>v); }

export const SEG_ES = 0;
export const SEG_CS = 1;
export const SEG_SS = 2;
export const SEG_DS = 3;
export const SEG_FS = 4;
export const SEG_GS = 5;
export const SEG_LDTR = 6;
export const SEG_TR = 7;

// attribute bits (descriptor bits 40..55 shifted down by 40)
export const ATTR_TYPE_ACCESSED = 1;
export const ATTR_S = 1 << 4;
export const ATTR_P = 1 << 7;
export const ATTR_L = 1 << 13;
export const ATTR_DB = 1 << 14;
export const ATTR_G = 1 << 15;

// ---- control registers and MSRs ----
// @ts-ignore: decorator
@inline export function st64(off: usize): i64 { return load<i64>(STATE + off); }
// @ts-ignore: decorator
@inline export function setSt64(off: usize, v: i64): void { store<i64>(STATE + off, v); }

export const CR0_PE: i64 = 1;
export const CR0_MP: i64 = 2;
export const CR0_EM: i64 = 4;
export const CR0_TS: i64 = 8;
export const CR0_ET: i64 = 16;
export const CR0_NE: i64 = 32;
export const CR0_WP: i64 = 1 << 16;
export const CR0_AM: i64 = 1 << 18;
export const CR0_NW: i64 = 1 << 29;
export const CR0_CD: i64 = 1 << 30;
export const CR0_PG: i64 = 1 << 31;

export const CR4_VME: i64 = 1;
export const CR4_PVI: i64 = 2;
export const CR4_TSD: i64 = 4;
export const CR4_DE: i64 = 8;
export const CR4_PSE: i64 = 16;
export const CR4_PAE: i64 = 32;
export const CR4_MCE: i64 = 64;
export const CR4_PGE: i64 = 128;
export const CR4_PCE: i64 = 256;
export const CR4_OSFXSR: i64 = 512;
export const CR4_OSXMMEXCPT: i64 = 1024;
export const CR4_UMIP: i64 = 2048;
export const CR4_FSGSBASE: i64 = 1 << 16;
export const CR4_PCIDE: i64 = 1 << 17;
export const CR4_SMEP: i64 = 1 << 20;
export const CR4_SMAP: i64 = 1 << 21;

export const EFER_SCE: i64 = 1;
export const EFER_LME: i64 = 1 << 8;
export const EFER_LMA: i64 = 1 << 10;
export const EFER_NXE: i64 = 1 << 11;

// ---- RFLAGS bits ----
export const F_CF: i32 = 1;
export const F_PF: i32 = 4;
export const F_AF: i32 = 16;
export const F_ZF: i32 = 64;
export const F_SF: i32 = 128;
export const F_TF: i32 = 256;
export const F_IF: i32 = 512;
export const F_DF: i32 = 1024;
export const F_OF: i32 = 2048;
export const F_IOPL: i32 = 3 << 12;
export const F_NT: i32 = 1 << 14;
export const F_RF: i32 = 1 << 16;
export const F_VM: i32 = 1 << 17;
export const F_AC: i32 = 1 << 18;
export const F_VIF: i32 = 1 << 19;
export const F_VIP: i32 = 1 << 20;
export const F_ID: i32 = 1 << 21;
export const F_ARITH: i32 = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF;

/**
 * Instruction count at which the run loop's fast path stops. Anything that
 * changes what the fast path assumes stable (mode, TLB, IF/TF, pending
 * events) zeroes it, so the loop returns to its careful path at the next
 * instruction boundary: one compare serves both purposes.
 */
export let burstEnd: i64 = 0;
/**
 * End of the records of the block being run (run.ts): zeroed with burstEnd,
 * and by a taken branch, so the block loop tests one value per instruction.
 */
export let blockEnd: usize = 0;
export function needAttention(): void { burstEnd = 0; blockEnd = 0; }
export function setBurstEnd(v: i64): void { burstEnd = v; }
// @ts-ignore: decorator
@inline export function setBlockEnd(v: usize): void { blockEnd = v; }

// ---- cached mode, recomputed by updateMode() ----
/** Current privilege level. */
export let cpl: i32 = 0;
/** 64-bit mode: EFER.LMA and CS.L. */
export let mode64: bool = false;
/** Default operand/address size 32 (CS.D) outside 64-bit mode. */
export let codeDefault32: bool = false;
/** Stack pointer width in bytes (2, 4 or 8). */
export let stackSize: i32 = 2;
/** CR0.PE */
export let protectedMode: bool = false;
/** Linear addresses wrap at 4 GiB outside 64-bit mode (compatibility mode included, SDM 3.3.7.1). */
export let linearMask: i64 = 0xffffffff;

export function updateMode(): void {
  needAttention();
  const cr0 = st64(O_CR0);
  protectedMode = (cr0 & CR0_PE) != 0;
  const lma = (st64(O_EFER) & EFER_LMA) != 0;
  const csAttr = segAttr(SEG_CS);
  mode64 = lma && (csAttr & ATTR_L) != 0;
  codeDefault32 = !mode64 && (csAttr & ATTR_DB) != 0;
  linearMask = mode64 ? -1 : 0xffffffff;
  if (mode64) stackSize = 8;
  else stackSize = (segAttr(SEG_SS) & ATTR_DB) != 0 ? 4 : 2;
  // CPL is SS.DPL (equal to CS.DPL except during transitions), 0 in real mode.
  if (!protectedMode) cpl = 0;
  else if ((load<i32>(STATE + O_FLAGS) & F_VM) != 0) cpl = 3;
  else cpl = (segAttr(SEG_SS) >> 5) & 3;
}
