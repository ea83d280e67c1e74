// Lazy arithmetic flags: an ALU instruction records its operation, operands
// and result; CF/PF/AF/ZF/SF/OF are derived only when something reads them.
import { STATE } from './layout';
import { O_FLAGS, F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF, F_ARITH, F_IF, F_TF, F_AC, needAttention } from './state';
import { selectTlbSet } from './paging';

export const LF_NONE = 0;   // flags in O_FLAGS are current
export const LF_ADD = 1;
export const LF_ADC = 2;    // aux = carry in
export const LF_SUB = 3;
export const LF_SBB = 4;    // aux = borrow in
export const LF_LOGIC = 5;
export const LF_INC = 6;    // aux = preserved CF
export const LF_DEC = 7;    // aux = preserved CF
export const LF_SHL = 8;    // aux = CF (last bit out)
export const LF_SHR = 9;    // aux = CF; a = original operand
export const LF_SAR = 10;   // aux = CF
export const LF_MUL = 11;   // aux = CF and OF (overflow)
/** CF and OF explicit in aux (bit 0 CF, bit 11 OF), AF 0, ZF/SF/PF from the result. */
export const LF_CFOF = 12;

export let lfOp: i32 = LF_NONE;
export let lfSize: i32 = 4;
export let lfRes: i64 = 0;
export let lfA: i64 = 0;
export let lfB: i64 = 0;
export let lfAux: i32 = 0;

// @ts-ignore: decorator
@inline export function sizeMask(size: i32): i64 { return size == 8 ? -1 : (<i64>1 << (<i64>size << 3)) - 1; }
// @ts-ignore: decorator
@inline export function signShift(size: i32): i64 { return (<i64>size << 3) - 1; }

// @ts-ignore: decorator
@inline export function setLazy(op: i32, size: i32, res: i64, a: i64, b: i64): void {
  lfOp = op; lfSize = size; lfRes = res; lfA = a; lfB = b;
}
// @ts-ignore: decorator
@inline export function setLazyAux(op: i32, size: i32, res: i64, a: i64, b: i64, aux: i32): void {
  lfOp = op; lfSize = size; lfRes = res; lfA = a; lfB = b; lfAux = aux;
}

function storedFlags(): i32 { return load<i32>(STATE + O_FLAGS); }

export function getCF(): bool {
  const m = sizeMask(lfSize);
  switch (lfOp) {
    case LF_NONE: return (storedFlags() & F_CF) != 0;
    case LF_ADD: return <u64>(lfRes & m) < <u64>(lfA & m);
    case LF_ADC: return lfAux != 0 ? <u64>(lfRes & m) <= <u64>(lfA & m) : <u64>(lfRes & m) < <u64>(lfA & m);
    case LF_SUB: return <u64>(lfA & m) < <u64>(lfB & m);
    case LF_SBB: return lfAux != 0 ? <u64>(lfA & m) <= <u64>(lfB & m) : <u64>(lfA & m) < <u64>(lfB & m);
    case LF_LOGIC: return false;
    case LF_CFOF: return (lfAux & F_CF) != 0;
    default: return (lfAux & 1) != 0; // INC/DEC/SHL/SHR/SAR/MUL keep CF in aux
  }
}

export function getZF(): bool {
  if (lfOp == LF_NONE) return (storedFlags() & F_ZF) != 0;
  return (lfRes & sizeMask(lfSize)) == 0;
}

export function getSF(): bool {
  if (lfOp == LF_NONE) return (storedFlags() & F_SF) != 0;
  return ((lfRes >>> signShift(lfSize)) & 1) != 0;
}

export function getPF(): bool {
  if (lfOp == LF_NONE) return (storedFlags() & F_PF) != 0;
  return (popcnt<i32>(<i32>lfRes & 0xff) & 1) == 0;
}

export function getAF(): bool {
  switch (lfOp) {
    case LF_NONE: return (storedFlags() & F_AF) != 0;
    case LF_ADD: case LF_ADC: case LF_SUB: case LF_SBB:
      return ((lfA ^ lfB ^ lfRes) & 0x10) != 0;
    case LF_INC: return (lfRes & 0xf) == 0;
    case LF_DEC: return (lfRes & 0xf) == 0xf;
    default: return false;
  }
}

export function getOF(): bool {
  const s = signShift(lfSize);
  switch (lfOp) {
    case LF_NONE: return (storedFlags() & F_OF) != 0;
    case LF_ADD: case LF_ADC: return (((lfA ^ lfRes) & (lfB ^ lfRes)) >>> s & 1) != 0;
    case LF_SUB: case LF_SBB: return (((lfA ^ lfB) & (lfA ^ lfRes)) >>> s & 1) != 0;
    case LF_LOGIC: return false;
    case LF_INC: return (lfRes & sizeMask(lfSize)) == (<i64>1 << s);
    case LF_DEC: return (lfRes & sizeMask(lfSize)) == (<i64>1 << s) - 1;
    case LF_SHL: return (((lfRes >>> s) & 1) ^ <i64>(lfAux & 1)) != 0;
    case LF_SHR: return ((lfA >>> s) & 1) != 0;
    case LF_SAR: return false;
    case LF_MUL: return (lfAux & 1) != 0;
    case LF_CFOF: return (lfAux & F_OF) != 0;
    default: return false;
  }
}

/** The full RFLAGS value, with the arithmetic flags derived. */
export function getFlags(): i32 {
  const f = storedFlags();
  if (lfOp == LF_NONE) return f;
  let a = f & ~F_ARITH;
  if (getCF()) a |= F_CF;
  if (getPF()) a |= F_PF;
  if (getAF()) a |= F_AF;
  if (getZF()) a |= F_ZF;
  if (getSF()) a |= F_SF;
  if (getOF()) a |= F_OF;
  return a;
}

/** Make O_FLAGS current (before changing single flags or saving state). */
export function materializeFlags(): void {
  if (lfOp != LF_NONE) {
    store<i32>(STATE + O_FLAGS, getFlags());
    lfOp = LF_NONE;
  }
}

/** Forget the lazy state (RESET/INIT set RFLAGS outright). */
export function discardLazyFlags(): void { lfOp = LF_NONE; }

/** Replace the flags in `mask` with those in `value`. */
export function setFlagBits(mask: i32, value: i32): void {
  materializeFlags();
  if ((mask & (F_IF | F_TF)) != 0) needAttention();
  if ((mask & F_AC) != 0) { store<i32>(STATE + O_FLAGS, (storedFlags() & ~mask) | (value & mask)); selectTlbSet(); return; }
  store<i32>(STATE + O_FLAGS, (storedFlags() & ~mask) | (value & mask));
}

/** Evaluate condition code cc (the low nibble of Jcc/SETcc/CMOVcc). */
// @ts-ignore: decorator
@inline export function condition(cc: i32): bool {
  // ZF and SF come from the result for every lazy operation (JNZ after DEC, JS after ADD).
  if (lfOp != LF_NONE && ((cc >> 1) == 2 || (cc >> 1) == 4)) {
    const r = lfRes & sizeMask(lfSize);
    const t = (cc >> 1) == 2 ? r == 0 : ((r >>> signShift(lfSize)) & 1) != 0;
    return (cc & 1) != 0 ? !t : t;
  }
  // The common case, a branch on CMP/SUB or a logic result, straight from the operands.
  if (lfOp == LF_SUB || lfOp == LF_LOGIC) {
    const m = sizeMask(lfSize);
    const a = lfA & m, b = lfB & m, r = lfRes & m;
    const sh = signShift(lfSize);
    const logic = lfOp == LF_LOGIC;
    let t: bool;
    switch (cc >> 1) {
      case 1: t = !logic && <u64>a < <u64>b; break;                     // B / AE
      case 2: t = r == 0; break;                                          // E / NE
      case 3: t = (!logic && <u64>a < <u64>b) || r == 0; break;          // BE / A
      case 4: t = ((r >>> sh) & 1) != 0; break;                           // S / NS
      case 6: { // L / GE: SF != OF
        const sf = ((r >>> sh) & 1) != 0;
        const ovf = !logic && (((a ^ b) & (a ^ r)) >>> sh & 1) != 0;
        t = sf != ovf; break;
      }
      case 7: { // LE / G
        const sf = ((r >>> sh) & 1) != 0;
        const ovf = !logic && (((a ^ b) & (a ^ r)) >>> sh & 1) != 0;
        t = r == 0 || sf != ovf; break;
      }
      default: return conditionSlow(cc);
    }
    return (cc & 1) != 0 ? !t : t;
  }
  return conditionSlow(cc);
}

function conditionSlow(cc: i32): bool {
  let r: bool;
  switch (cc >> 1) {
    case 0: r = getOF(); break;
    case 1: r = getCF(); break;
    case 2: r = getZF(); break;
    case 3: r = getCF() || getZF(); break;
    case 4: r = getSF(); break;
    case 5: r = getPF(); break;
    case 6: r = getSF() != getOF(); break;
    default: r = getZF() || (getSF() != getOF()); break;
  }
  return (cc & 1) != 0 ? !r : r;
}
