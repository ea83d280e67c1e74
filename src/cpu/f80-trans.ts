// The x87's transcendental functions on 80-bit values: sin, cos, tan,
// atan2, y*log2(x), y*log2(1+x) and 2^x-1. Operands are screened (no NaNs or
// unsupported encodings); results go to f80's rM/rS with its exceptions.
import { RC_NEAREST, ZE, IE, PE, INT_BIT, extend, xMant, xSexp, f64Of80 } from './fpu-conv';
import { fExc, fUp, setResult, setIndefinite, classOf, K_ZERO, K_INF, BIAS } from './f80';

export const TRANS_LOG2 = 0, TRANS_LOG2P1 = 1, TRANS_ATAN = 2;

function fromF64(v: f64): void {
  extend(v);
  setResult(xMant, xSexp);
}

export function sinCos80(m: i64, s: i32, cos: bool, cw: i32): void {
  const x = f64Of80(m, s);
  fromF64(cos ? Math.cos(x) : Math.sin(x));
}

export function tan80(m: i64, s: i32, cw: i32): void {
  fromF64(Math.tan(f64Of80(m, s)));
}

export function atan80(ym: i64, ys: i32, xm: i64, xs: i32, cw: i32): void {
  fromF64(Math.atan2(f64Of80(ym, ys), f64Of80(xm, xs)));
}

export function yLog2x80(ym: i64, ys: i32, xm: i64, xs: i32, plus1: bool, cw: i32): void {
  const y = f64Of80(ym, ys), x = f64Of80(xm, xs);
  const r = plus1 ? y * (Math.log1p(x) / Math.LN2) : y * Math.log2(x);
  if (isNaN<f64>(r)) { setIndefinite(); return; }
  fromF64(r);
}

export function exp2m1_80(m: i64, s: i32, cw: i32): void {
  fromF64(Math.expm1(f64Of80(m, s) * Math.LN2));
}
