// SSE/SSE2 categories: the moves, integer and floating-point instructions
// glibc's string, memory and math routines use on an SSE2-only CPU.
import { CaseBuilder, type Size } from './case-builder.js';
import { FX, memOpts } from './gen-util.js';

const xmm = (b: CaseBuilder) => `xmm${b.rng.int(16)}`;

/** An XMM register or an m128 operand (16-byte aligned unless the instruction allows any alignment). */
function xmmOrMem(b: CaseBuilder, bits: number, aligned: boolean): string {
  if (b.rng.chance(0.6)) return xmm(b);
  return b.mem(bits, memOpts(b, { align: aligned && bits === 128 ? 16 : b.rng.pick([1, bits / 8]) })).text;
}

/** Sometimes a non-default MXCSR: rounding mode, FTZ, DAZ, sticky flags (exceptions stay masked). */
function randomMxcsr(b: CaseBuilder): void {
  let v = 0x1f80;
  if (b.rng.chance(0.3)) v |= b.rng.int(4) << 13;
  if (b.rng.chance(0.15)) v |= 0x8000;
  if (b.rng.chance(0.15)) v |= 0x40;
  if (b.rng.chance(0.2)) v |= b.rng.int(64);
  b.mxcsr = v;
}

const INT_BINARY = [
  'pxor', 'pand', 'por', 'pandn', 'pcmpeqb', 'pcmpeqw', 'pcmpeqd', 'pcmpgtb', 'pcmpgtw', 'pcmpgtd',
  'paddb', 'paddw', 'paddd', 'paddq', 'psubb', 'psubw', 'psubd', 'psubq', 'paddusb', 'paddusw', 'paddsb',
  'paddsw', 'psubusb', 'psubusw', 'psubsb', 'psubsw', 'pminub', 'pmaxub', 'pminsw', 'pmaxsw', 'pavgb', 'pavgw',
  'pmullw', 'pmulhw', 'pmulhuw', 'pmuludq', 'pmaddwd', 'psadbw', 'packsswb', 'packssdw', 'packuswb',
  'punpcklbw', 'punpcklwd', 'punpckldq', 'punpcklqdq', 'punpckhbw', 'punpckhwd', 'punpckhdq', 'punpckhqdq',
  'psllw', 'pslld', 'psllq', 'psrlw', 'psrld', 'psrlq', 'psraw', 'psrad',
];
const INT_SHIFT_IMM = ['psllw', 'pslld', 'psllq', 'psrlw', 'psrld', 'psrlq', 'psraw', 'psrad', 'pslldq', 'psrldq'];

/** MOVD/MOVQ, MOVDQA/MOVDQU/MOVAPS/MOVUPS/MOVAPD/MOVUPD, MOVSS/MOVSD, MOVH/L PS/PD, MOVNTDQ/MOVNTI. */
export function sseMove(b: CaseBuilder): void {
  const full = b.rng.pick(['movdqa', 'movdqu', 'movaps', 'movups', 'movapd', 'movupd']);
  const aligned = !full.includes('u');
  switch (b.rng.pick(['movd', 'movq', 'full', 'full', 'scalar', 'half', 'hl', 'nt'])) {
    case 'movd': {
      const gpr = b.rng.chance(0.5) ? b.reg(32).name : b.mem(32, memOpts(b)).text;
      b.insn(b.rng.chance(0.5) ? `movd ${xmm(b)}, ${gpr}` : `movd ${gpr}, ${xmm(b)}`);
      break;
    }
    case 'movq': {
      const other = b.rng.pick([b.reg(64).name, xmm(b), b.mem(64, memOpts(b)).text]);
      b.insn(b.rng.chance(0.5) || other.startsWith('xmm') ? `movq ${xmm(b)}, ${other}` : `movq ${other}, ${xmm(b)}`);
      break;
    }
    case 'full': {
      const src = xmmOrMem(b, 128, aligned);
      if (src.startsWith('xmm') && b.rng.chance(0.5)) {
        b.insn(`${full} ${b.mem(128, memOpts(b, { align: aligned ? 16 : b.rng.pick([1, 16]) })).text}, ${xmm(b)}`);
      } else b.insn(`${full} ${xmm(b)}, ${src}`);
      break;
    }
    case 'scalar': {
      const op = b.rng.pick(['movss', 'movsd']);
      const bits = op === 'movss' ? 32 : 64;
      const form = b.rng.int(3);
      if (form === 0) b.insn(`${op} ${xmm(b)}, ${xmm(b)}`);
      else if (form === 1) b.insn(`${op} ${xmm(b)}, ${b.mem(bits, memOpts(b)).text}`);
      else b.insn(`${op} ${b.mem(bits, memOpts(b)).text}, ${xmm(b)}`);
      break;
    }
    case 'half': {
      const op = b.rng.pick(['movhps', 'movlps', 'movhpd', 'movlpd']);
      const m = b.mem(64, memOpts(b)).text;
      b.insn(b.rng.chance(0.5) ? `${op} ${xmm(b)}, ${m}` : `${op} ${m}, ${xmm(b)}`);
      break;
    }
    case 'hl':
      b.insn(`${b.rng.pick(['movhlps', 'movlhps'])} ${xmm(b)}, ${xmm(b)}`);
      break;
    default:
      if (b.rng.chance(0.5)) b.insn(`movntdq ${b.mem(128, memOpts(b, { align: 16 })).text}, ${xmm(b)}`);
      else {
        const size = b.rng.pick([32, 64] as const);
        b.insn(`movnti ${b.mem(size, memOpts(b)).text}, ${b.reg(size).name}`);
      }
  }
}

/** Packed integer arithmetic, compares, shuffles, unpacks, shifts, PMOVMSKB, PEXTRW/PINSRW. */
export function sseInteger(b: CaseBuilder): void {
  switch (b.rng.pick(['binary', 'binary', 'binary', 'shiftImm', 'shuffle', 'pmovmskb', 'pextrw', 'pinsrw'])) {
    case 'binary':
      b.insn(`${b.rng.pick(INT_BINARY)} ${xmm(b)}, ${xmmOrMem(b, 128, true)}`);
      break;
    case 'shiftImm':
      b.insn(`${b.rng.pick(INT_SHIFT_IMM)} ${xmm(b)}, ${b.rng.chance(0.7) ? b.rng.int(20) : b.rng.int(256)}`);
      break;
    case 'shuffle':
      b.insn(`${b.rng.pick(['pshufd', 'pshuflw', 'pshufhw'])} ${xmm(b)}, ${xmmOrMem(b, 128, true)}, ${b.rng.int(256)}`);
      break;
    case 'pmovmskb':
      b.insn(`pmovmskb ${b.reg(b.rng.pick([32, 64] as const)).name}, ${xmm(b)}`);
      break;
    case 'pextrw':
      b.insn(`pextrw ${b.reg(32).name}, ${xmm(b)}, ${b.rng.int(16)}`);
      break;
    default: {
      const src = b.rng.chance(0.5) ? b.reg(32).name : b.mem(16, memOpts(b)).text;
      b.insn(`pinsrw ${xmm(b)}, ${src}, ${b.rng.int(16)}`);
    }
  }
}

const FP_SCALAR = ['add', 'sub', 'mul', 'div', 'sqrt', 'min', 'max'];
const FP_PACKED_ONLY = ['and', 'andn', 'or', 'xor', 'unpckl', 'unpckh'];

/** Scalar and packed single/double arithmetic, compares (incl. (U)COMIS*), conversions, MXCSR. */
export function sseFloat(b: CaseBuilder): void {
  randomMxcsr(b);
  const double = b.rng.chance(0.6);
  const s = double ? 'd' : 's';
  const scalarBits = double ? 64 : 32;
  switch (b.rng.pick(['scalar', 'scalar', 'packed', 'compare', 'cmpImm', 'convert', 'convert', 'shuffle', 'movmsk', 'mxcsr'])) {
    case 'scalar':
      b.insn(`${b.rng.pick(FP_SCALAR)}s${s} ${xmm(b)}, ${xmmOrMem(b, scalarBits, false)}`);
      break;
    case 'packed':
      b.insn(`${b.rng.pick([...FP_SCALAR, ...FP_PACKED_ONLY])}p${s} ${xmm(b)}, ${xmmOrMem(b, 128, true)}`);
      break;
    case 'compare':
      b.insn(`${b.rng.pick(['ucomis', 'comis'])}${s} ${xmm(b)}, ${xmmOrMem(b, scalarBits, false)}`, FX.arith);
      break;
    case 'cmpImm': {
      const packed = b.rng.chance(0.5);
      b.insn(`cmp${packed ? 'p' : 's'}${s} ${xmm(b)}, ${xmmOrMem(b, packed ? 128 : scalarBits, true)}, ${b.rng.int(8)}`);
      break;
    }
    case 'convert': convert(b); break;
    case 'shuffle':
      b.insn(`shufp${s} ${xmm(b)}, ${xmmOrMem(b, 128, true)}, ${b.rng.int(256)}`);
      break;
    case 'movmsk':
      b.insn(`movmskp${s} ${b.reg(b.rng.pick([32, 64] as const)).name}, ${xmm(b)}`);
      break;
    default: {
      const m = b.mem(32, memOpts(b));
      if (b.rng.chance(0.5)) b.insn(`stmxcsr ${m.text}`);
      else { // only valid values: reserved bits set would #GP
        b.write(m.offset, 4, BigInt(0x1f80 | (b.rng.int(4) << 13) | b.rng.int(64) | (b.rng.chance(0.2) ? 0x8040 : 0)));
        b.insn(`ldmxcsr ${m.text}`);
      }
    }
  }
}

function convert(b: CaseBuilder): void {
  const gprSize: Size = b.rng.pick([32, 64] as const);
  const gprOrMem = () => (b.rng.chance(0.6) ? b.reg(gprSize).name : b.mem(gprSize, memOpts(b)).text);
  switch (b.rng.int(4)) {
    case 0:
      b.insn(`${b.rng.pick(['cvtsi2sd', 'cvtsi2ss'])} ${xmm(b)}, ${gprOrMem()}`);
      break;
    case 1: {
      const op = b.rng.pick(['cvttsd2si', 'cvtsd2si', 'cvttss2si', 'cvtss2si']);
      b.insn(`${op} ${b.reg(gprSize).name}, ${xmmOrMem(b, op.includes('sd') ? 64 : 32, false)}`);
      break;
    }
    case 2: {
      const op = b.rng.pick(['cvtsd2ss', 'cvtss2sd']);
      b.insn(`${op} ${xmm(b)}, ${xmmOrMem(b, op === 'cvtsd2ss' ? 64 : 32, false)}`);
      break;
    }
    default: {
      const op = b.rng.pick(['cvtdq2pd', 'cvtdq2ps', 'cvttps2dq', 'cvtps2dq', 'cvtpd2dq', 'cvttpd2dq', 'cvtps2pd', 'cvtpd2ps']);
      const half = op === 'cvtdq2pd' || op === 'cvtps2pd';
      b.insn(`${op} ${xmm(b)}, ${xmmOrMem(b, half ? 64 : 128, true)}`);
    }
  }
}

export const sseCategories = {
  'sse-move': sseMove, 'sse-int': sseInteger, 'sse-float': sseFloat,
} satisfies Record<string, (b: CaseBuilder) => void>;
