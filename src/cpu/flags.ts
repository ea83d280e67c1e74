// Lazy arithmetic flags: an ALU instruction records its operation, operands
// and result; CF/PF/AF/ZF/SF/OF are derived only when something reads them.
import { countEvent, P_FLAGS_MATERIALIZED, P_CONDITION_SLOW } from './profile';
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

/*
 * The operation's result and operands are kept sign-extended from the
 * operation size to 64 bits: the flag getters below mask them to the size,
 * and the common conditions need no size at all (ZF: res == 0, SF: res < 0,
 * after SUB/CMP: B is a <u b, L is a <s b; sign extension keeps both orders).
 */
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
/** `v` sign-extended from its low `size` bytes. */
// @ts-ignore: decorator
@inline export function signExtend(v: i64, size: i32): i64 {
  return size == 8 ? v : size == 4 ? <i64><i32>v : size == 2 ? <i64><i16>v : <i64><i8>v;
}

// @ts-ignore: decorator
@inline export function setLazy(op: i32, size: i32, res: i64, a: i64, b: i64): void {
  lfOp = op; lfSize = size; lfRes = signExtend(res, size); lfA = signExtend(a, size); lfB = signExtend(b, size);
}
// @ts-ignore: decorator
@inline export function setLazyAux(op: i32, size: i32, res: i64, a: i64, b: i64, aux: i32): void {
  setLazy(op, size, res, a, b); lfAux = aux;
}
/** setLazy for operands already sign-extended from `size` (the fast forms). */
// @ts-ignore: decorator
@inline export function setLazyExtended(op: i32, size: i32, res: i64, a: i64, b: i64): void {
  lfOp = op; lfSize = size; lfRes = res; lfA = a; lfB = b;
}

function storedFlags(): i32 { return load<i32>(STATE + O_FLAGS); }

/** CF, straight from the operands after the common operations (INC/DEC and ADC/SBB read it). */
// @ts-ignore: decorator
@inline export function getCF(): bool {
  const op = lfOp;
  if (op == LF_SUB) return <u64>lfA < <u64>lfB;   // sign extension keeps the unsigned order
  if (op == LF_LOGIC) return false;
  if (op == LF_ADD) return <u64>lfRes < <u64>lfA;
  if (op == LF_INC || op == LF_DEC) return (lfAux & 1) != 0;
  return getCFSlow();
}

function getCFSlow(): bool {
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
  countEvent(P_FLAGS_MATERIALIZED);
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

/** Evaluate condition code cc (the low nibble of Jcc/SETcc/CMOVcc); folds to one test when cc is a constant. */
// @ts-ignore: decorator
@inline export function condition(cc: i32): bool {
  const op = lfOp;
  const family = cc >> 1;
  let t: bool;
  if (family == 2 || family == 4) {
    // ZF and SF come from the result for every lazy operation (JNZ after DEC, JS after ADD).
    if (op == LF_NONE) return conditionSlow(cc);
    t = family == 2 ? lfRes == 0 : lfRes < 0;
  } else if (op == LF_SUB) {
    // A branch on CMP/SUB, straight from the operands.
    if (family == 1) t = <u64>lfA < <u64>lfB;        // B
    else if (family == 2) t = lfRes == 0;            // E
    else if (family == 3) t = <u64>lfA <= <u64>lfB;  // BE
    else if (family == 4) t = lfRes < 0;             // S
    else if (family == 6) t = lfA < lfB;             // L
    else if (family == 7) t = lfA <= lfB;            // LE
    else return conditionSlow(cc);
  } else if (op == LF_LOGIC) {
    // CF = OF = 0.
    if (family == 1) t = false;
    else if (family == 2 || family == 3) t = lfRes == 0;
    else if (family == 4 || family == 6) t = lfRes < 0;
    else if (family == 7) t = lfRes <= 0;
    else return conditionSlow(cc);
  } else return conditionSlow(cc);
  return (cc & 1) != 0 ? !t : t;
}

function conditionSlow(cc: i32): bool {
  countEvent(P_CONDITION_SLOW);
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
