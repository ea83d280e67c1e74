// SSE, SSE2 and MMX as guest programs see them: string scans, IEEE results
// bit for bit, conversions, MXCSR, FXSAVE/FXRSTOR, exceptions and the x87/MMX
// register aliasing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reg, Exit, ExitField } from '../src/backend/abi.js';
import type { Machine, Vcpu } from '../src/backend/interface.js';
import { assemble } from './support/asm.js';
import { testMachine, view } from './support/machine.js';
import { enterLongMode, guest64Layout } from './support/guest64.js';

const CODE = 0x100000, DATA = 0x200000, OUT = 0x280000, STACK = 0x300000;
const CR0_EM = 0x4n, CR0_TS = 0x8n, CR4_OSFXSR = 0x200n, CR4_OSXMMEXCPT = 0x400n;
const MXCSR_DEFAULT = 0x1f80n;

interface Guest { machine: Machine; vcpu: Vcpu; v: DataView }

/** A CPL 0 long-mode guest running `source` at CODE; `setup` may fill memory and registers first. */
async function guest(source: string, setup?: (g: Guest) => void): Promise<Guest & { exit: Exit }> {
  const { machine, vcpu } = await testMachine();
  machine.ram.set(assemble(source, { origin: CODE }), CODE);
  enterLongMode(machine, vcpu, { cpl: 0, rip: BigInt(CODE), rsp: BigInt(STACK) });
  const g = { machine, vcpu, v: view(machine) };
  setup?.(g);
  const exit = vcpu.run(1_000_000);
  return { ...g, exit };
}

function exceptionOf(g: { vcpu: Vcpu; exit: Exit }): number {
  assert.equal(g.exit, Exit.EXCEPTION, 'the guest stopped on an exception');
  return Number(g.vcpu.exitField(ExitField.NUMBER));
}

/** Deterministic 64-bit values: xorshift. */
function rng(seed: bigint): () => bigint {
  let s = seed;
  return () => {
    s ^= (s << 13n) & 0xffff_ffff_ffff_ffffn;
    s ^= s >> 7n;
    s ^= (s << 17n) & 0xffff_ffff_ffff_ffffn;
    return s;
  };
}

const f64Bits = (x: number) => { const d = new DataView(new ArrayBuffer(8)); d.setFloat64(0, x, true); return d.getBigUint64(0, true); };
const bitsF64 = (b: bigint) => { const d = new DataView(new ArrayBuffer(8)); d.setBigUint64(0, b, true); return d.getFloat64(0, true); };
const f32Bits = (x: number) => { const d = new DataView(new ArrayBuffer(4)); d.setFloat32(0, x, true); return d.getUint32(0, true); };
const bitsF32 = (b: number) => { const d = new DataView(new ArrayBuffer(4)); d.setUint32(0, b, true); return d.getFloat32(0, true); };

test('a PCMPEQB/PMOVMSKB strlen loop finds the terminating zero at every length and alignment', async () => {
  const strings: Array<[number, number]> = []; // [address, length]
  const src = `
    mov r8, ${DATA}        # table of string addresses, 0-terminated
    mov r9, ${OUT}
  next:
    mov rdi, [r8]
    test rdi, rdi
    jz done
    pxor xmm0, xmm0
    mov rax, rdi
    and rax, -16           # aligned loads, as glibc does, masking bytes before the start
    movdqa xmm1, [rax]
    pcmpeqb xmm1, xmm0
    pmovmskb edx, xmm1
    mov ecx, edi
    and ecx, 15
    shr edx, cl
    shl edx, cl
    test edx, edx
    jnz found
  loop:
    add rax, 16
    movdqa xmm1, [rax]
    pcmpeqb xmm1, xmm0
    pmovmskb edx, xmm1
    test edx, edx
    jz loop
  found:
    bsf edx, edx
    add rax, rdx
    sub rax, rdi
    mov [r9], rax
    add r8, 8
    add r9, 8
    jmp next
  done:
    hlt`;
  const g = await guest(src, ({ machine, v }) => {
    let at = DATA + 0x1000, slot = 0;
    for (let len = 0; len < 70; len++) {
      for (const misalign of [0, 1, 7, 15]) {
        const addr = at + misalign;
        for (let i = 0; i < len; i++) machine.ram[addr + i] = 1 + ((i * 37 + len) % 255); // bytes 0x01..0xff
        machine.ram[addr + len] = 0;
        machine.ram.fill(0x80, addr + len + 1, addr + len + 20);
        v.setBigUint64(DATA + 8 * slot++, BigInt(addr), true);
        strings.push([addr, len]);
        at += (len + 64) & ~15;
      }
    }
    v.setBigUint64(DATA + 8 * slot, 0n, true);
  });
  assert.equal(g.exit, Exit.HALTED);
  strings.forEach(([addr, len], i) => assert.equal(g.v.getBigUint64(OUT + 8 * i, true), BigInt(len), `string at ${addr.toString(16)}`));
});

/** Doubles from every binade, signs, zeros, infinities and denormals. */
function doubles(n: number): bigint[] {
  const next = rng(0x9e3779b97f4a7c15n);
  const special = [0n, 1n << 63n, 0x7ff0000000000000n, 0xfff0000000000000n, 1n, 0x000fffffffffffffn,
    0x0010000000000000n, 0x7fefffffffffffffn, 0x3ff0000000000000n, 0xbff8000000000000n, 0x4000000000000000n];
  const out = [...special];
  while (out.length < n) {
    let b = next();
    if (((b >> 52n) & 0x7ffn) === 0x7ffn) continue; // no NaN inputs: JS cannot carry their payloads
    if (next() % 3n === 0n) b = (b & ~(0x7ffn << 52n)) | ((0x3ffn + (next() % 64n) - 32n) & 0x7ffn) << 52n; // near 1
    out.push(b);
  }
  return out;
}

test('ADDSD SUBSD MULSD DIVSD SQRTSD equal JavaScript doubles bit for bit', async () => {
  const n = 400;
  const a = doubles(n), b = doubles(n).reverse(); // b ends with the zeros and infinities
  const src = `
    mov rsi, ${DATA}
    mov rdi, ${OUT}
    mov rcx, ${n}
  1:
    movsd xmm0, [rsi]
    movsd xmm1, [rsi + 8]
    movapd xmm2, xmm0
    addsd xmm2, xmm1
    movsd [rdi], xmm2
    movapd xmm2, xmm0
    subsd xmm2, xmm1
    movsd [rdi + 8], xmm2
    movapd xmm2, xmm0
    mulsd xmm2, xmm1
    movsd [rdi + 16], xmm2
    movapd xmm2, xmm0
    divsd xmm2, xmm1
    movsd [rdi + 24], xmm2
    sqrtsd xmm2, xmm0
    movsd [rdi + 32], xmm2
    add rsi, 16
    add rdi, 40
    dec rcx
    jnz 1b
    hlt`;
  const g = await guest(src, ({ v }) => {
    for (let i = 0; i < n; i++) { v.setBigUint64(DATA + 16 * i, a[i], true); v.setBigUint64(DATA + 16 * i + 8, b[i], true); }
  });
  assert.equal(g.exit, Exit.HALTED);
  for (let i = 0; i < n; i++) {
    const x = bitsF64(a[i]), y = bitsF64(b[i]);
    const want = [x + y, x - y, x * y, x / y, Math.sqrt(x)];
    want.forEach((w, k) => {
      const got = g.v.getBigUint64(OUT + 40 * i + 8 * k, true);
      const what = `${['add', 'sub', 'mul', 'div', 'sqrt'][k]} ${a[i].toString(16)} ${b[i].toString(16)}`;
      if (Number.isNaN(w)) assert.equal(got, 0xfff8000000000000n, `${what}: the default NaN`);
      else assert.equal(got, f64Bits(w), what);
    });
  }
  // Inexact results set the sticky precision flag; nothing was unmasked.
  assert.equal(g.vcpu.getReg(Reg.MXCSR) & 0x3fn, 0x3fn, 'IE DE ZE OE UE PE all raised by these operands');
});

test('ADDSS SUBSS MULSS DIVSS SQRTSS round once to single precision', async () => {
  const n = 400;
  const next = rng(12345n);
  const vals: number[] = [0, 0x80000000, 0x7f800000, 1, 0x007fffff, 0x00800000, 0x7f7fffff, 0x3f800000];
  while (vals.length < 2 * n) {
    let b = Number(next() & 0xffffffffn);
    if (((b >>> 23) & 0xff) === 0xff) continue;
    if (Number(next() % 3n) === 0) b = ((b & 0x807fffff) | ((0x70 + Number(next() % 32n)) << 23)) >>> 0;
    vals.push(b);
  }
  const src = `
    mov rsi, ${DATA}
    mov rdi, ${OUT}
    mov rcx, ${n}
  1:
    movss xmm0, [rsi]
    movss xmm1, [rsi + 4]
    movaps xmm2, xmm0
    addss xmm2, xmm1
    movss [rdi], xmm2
    movaps xmm2, xmm0
    subss xmm2, xmm1
    movss [rdi + 4], xmm2
    movaps xmm2, xmm0
    mulss xmm2, xmm1
    movss [rdi + 8], xmm2
    movaps xmm2, xmm0
    divss xmm2, xmm1
    movss [rdi + 12], xmm2
    sqrtss xmm2, xmm0
    movss [rdi + 16], xmm2
    add rsi, 8
    add rdi, 20
    dec rcx
    jnz 1b
    hlt`;
  const g = await guest(src, ({ v }) => vals.forEach((b, i) => v.setUint32(DATA + 4 * i, b, true)));
  assert.equal(g.exit, Exit.HALTED);
  for (let i = 0; i < n; i++) {
    const x = bitsF32(vals[2 * i]), y = bitsF32(vals[2 * i + 1]);
    const want = [x + y, x - y, x * y, x / y, Math.sqrt(x)].map(Math.fround);
    want.forEach((w, k) => {
      const got = g.v.getUint32(OUT + 20 * i + 4 * k, true);
      const what = `${['add', 'sub', 'mul', 'div', 'sqrt'][k]}ss ${vals[2 * i].toString(16)} ${vals[2 * i + 1].toString(16)}`;
      if (Number.isNaN(w)) assert.equal(got, 0xffc00000, `${what}: the default NaN`);
      else assert.equal(got, f32Bits(w), what);
    });
  }
});

test('CVTTSD2SI/CVTSD2SI: truncation, MXCSR rounding, and the integer indefinite for NaN and out-of-range', async () => {
  const cases: Array<[number, number, bigint, bigint]> = [ // value, RC, 32-bit result, 64-bit result
    [2.5, 0, 2n, 2n], [3.5, 0, 4n, 4n], [-2.5, 1, -3n, -3n], [2.1, 2, 3n, 3n], [-2.9, 3, -2n, -2n],
    [2147483647.4, 0, 2147483647n, 2147483647n], [2147483648, 0, -0x80000000n, 2147483648n],
    [-2147483648.9, 3, -0x80000000n, -2147483648n], [1e19, 0, -0x80000000n, -(1n << 63n)],
    [-9223372036854775808, 0, -0x80000000n, -(1n << 63n)], [NaN, 0, -0x80000000n, -(1n << 63n)],
    [Infinity, 0, -0x80000000n, -(1n << 63n)],
  ];
  const src = `
    mov rsi, ${DATA}
    mov rdi, ${OUT}
    mov rcx, ${cases.length}
  1:
    ldmxcsr [rsi + 8]
    cvtsd2si eax, [rsi]
    cvtsd2si rbx, [rsi]
    mov [rdi], rax
    mov [rdi + 8], rbx
    cvttsd2si eax, [rsi]
    cvttsd2si rbx, [rsi]
    mov [rdi + 16], rax
    mov [rdi + 24], rbx
    stmxcsr [rdi + 32]
    add rsi, 16
    add rdi, 40
    dec rcx
    jnz 1b
    hlt`;
  const g = await guest(src, ({ v }) => cases.forEach(([x, rc], i) => {
    v.setFloat64(DATA + 16 * i, x, true);
    v.setUint32(DATA + 16 * i + 8, 0x1f80 | (rc << 13), true);
  }));
  assert.equal(g.exit, Exit.HALTED);
  cases.forEach(([x, rc, r32, r64], i) => {
    const o = OUT + 40 * i;
    assert.equal(g.v.getBigUint64(o, true), BigInt.asUintN(32, r32), `cvtsd2si eax, ${x} (RC ${rc}), upper half cleared`);
    assert.equal(g.v.getBigInt64(o + 8, true), r64, `cvtsd2si rbx, ${x} (RC ${rc})`);
    const t32 = Number.isFinite(x) && Math.abs(Math.trunc(x)) < 2 ** 31 ? BigInt(Math.trunc(x)) : -0x80000000n;
    assert.equal(g.v.getBigUint64(o + 16, true), BigInt.asUintN(32, t32), `cvttsd2si eax, ${x}`);
    const invalid = !Number.isFinite(x) || Math.trunc(x) >= 2 ** 31 || Math.trunc(x) < -(2 ** 31);
    const flags = g.v.getUint32(o + 32, true) & 0x3f;
    assert.equal((flags & 1) !== 0, invalid, `IE for ${x}`);
    assert.equal((flags & 0x20) !== 0, Number.isFinite(x) && Math.trunc(x) !== x, `PE for ${x}`);
  });
});

test('CVTSI2SD/CVTSI2SS round 64-bit integers per MXCSR.RC; CVTSS2SD and CVTSD2SS convert exactly and round', async () => {
  const big = (1n << 62n) + 1n; // not representable in a double
  const src = `
    mov rax, ${big}
    cvtsi2sd xmm0, rax
    ldmxcsr [${DATA}]
    cvtsi2sd xmm1, rax
    cvtsi2ss xmm2, rax
    mov eax, -7
    cvtsi2sd xmm3, eax
    mov eax, 0x3eaaaaab      # 1/3 in single precision
    movd xmm4, eax
    cvtss2sd xmm5, xmm4
    cvtsd2ss xmm6, xmm5
    hlt`;
  const g = await guest(src, ({ v }) => v.setUint32(DATA, 0x1f80 | (2 << 13), true)); // round up
  assert.equal(g.exit, Exit.HALTED);
  const lo = (r: number) => g.vcpu.getXmm(r) & 0xffff_ffff_ffff_ffffn;
  assert.equal(bitsF64(lo(0)), 2 ** 62, 'nearest');
  assert.equal(lo(1), f64Bits(2 ** 62) + 1n, 'up: the next double');
  assert.equal(lo(2) & 0xffffffffn, BigInt(f32Bits(2 ** 62) + 1), 'single, up');
  assert.equal(bitsF64(lo(3)), -7);
  assert.equal(bitsF64(lo(5)), Math.fround(1 / 3));
  assert.equal(lo(6) & 0xffffffffn, 0x3eaaaaabn);
  assert.equal(g.vcpu.getReg(Reg.MXCSR) & 0x20n, 0x20n, 'PE from the inexact conversion');
});

test('MINSD/MAXSD return the second operand for NaNs and for zeros of either sign; COMISD/UCOMISD set ZF PF CF', async () => {
  const qnan = 0x7ff8000000000123n;
  const src = `
    movsd xmm0, [${DATA}]        # 1.0
    movsd xmm1, [${DATA + 8}]    # qnan
    movsd xmm2, [${DATA + 16}]   # +0
    movsd xmm3, [${DATA + 24}]   # -0
    movapd xmm4, xmm0
    minsd xmm4, xmm1             # NaN source: the source
    movapd xmm5, xmm1
    maxsd xmm5, xmm0             # NaN destination: the source
    movapd xmm6, xmm2
    minsd xmm6, xmm3             # -0
    movapd xmm7, xmm3
    maxsd xmm7, xmm2             # +0
    ucomisd xmm0, xmm1
    pushfq
    comisd xmm2, xmm3
    pushfq
    comisd xmm2, xmm0
    pushfq
    comisd xmm0, xmm2
    pushfq
    stmxcsr [${OUT}]
    ldmxcsr [${DATA + 32}]
    ucomisd xmm1, xmm0
    stmxcsr [${OUT + 4}]
    comisd xmm1, xmm0
    stmxcsr [${OUT + 8}]
    hlt`;
  const g = await guest(src, ({ v }) => {
    v.setFloat64(DATA, 1, true);
    v.setBigUint64(DATA + 8, qnan, true);
    v.setBigUint64(DATA + 16, 0n, true);
    v.setBigUint64(DATA + 24, 1n << 63n, true);
    v.setUint32(DATA + 32, 0x1f80, true);
  });
  assert.equal(g.exit, Exit.HALTED);
  const lo = (r: number) => g.vcpu.getXmm(r) & 0xffff_ffff_ffff_ffffn;
  assert.equal(lo(4), qnan);
  assert.equal(lo(5), f64Bits(1));
  assert.equal(lo(6), 1n << 63n);
  assert.equal(lo(7), 0n);
  const flags = (k: number) => g.v.getBigUint64(STACK - 8 * (k + 1), true) & 0x8d5n; // OF SF ZF AF PF CF
  assert.equal(flags(0), 0x45n, 'unordered: ZF PF CF');
  assert.equal(flags(1), 0x40n, '+0 == -0: ZF');
  assert.equal(flags(2), 0x01n, 'less: CF');
  assert.equal(flags(3), 0x00n, 'greater: none');
  assert.equal(g.v.getUint32(OUT + 4, true) & 1, 0, 'UCOMISD: a QNaN is not invalid');
  assert.equal(g.v.getUint32(OUT + 8, true) & 1, 1, 'COMISD: a QNaN is invalid');
});

test('directed rounding, DAZ and FTZ follow MXCSR', async () => {
  const tiny = 0x0010000000000000n; // smallest normal double
  const src = `
    movsd xmm0, [${DATA}]       # 1.0
    movsd xmm1, [${DATA + 8}]   # 3.0
    ldmxcsr [${DATA + 16}]      # round down
    movapd xmm2, xmm0
    divsd xmm2, xmm1
    ldmxcsr [${DATA + 20}]      # round up
    movapd xmm3, xmm0
    divsd xmm3, xmm1
    ldmxcsr [${DATA + 24}]      # FTZ
    movsd xmm4, [${DATA + 32}]  # smallest normal
    mulsd xmm4, [${DATA + 40}]  # * 0.5: a denormal, flushed
    ldmxcsr [${DATA + 28}]      # DAZ
    movsd xmm5, [${DATA + 48}]  # a denormal read as zero
    addsd xmm5, xmm0
    stmxcsr [${OUT}]
    hlt`;
  const g = await guest(src, ({ v }) => {
    v.setFloat64(DATA, 1, true);
    v.setFloat64(DATA + 8, 3, true);
    v.setUint32(DATA + 16, 0x1f80 | (1 << 13), true);
    v.setUint32(DATA + 20, 0x1f80 | (2 << 13), true);
    v.setUint32(DATA + 24, 0x9f80, true);
    v.setUint32(DATA + 28, 0x1fc0, true);
    v.setBigUint64(DATA + 32, tiny, true);
    v.setFloat64(DATA + 40, 0.5, true);
    v.setBigUint64(DATA + 48, 5n, true);
  });
  assert.equal(g.exit, Exit.HALTED);
  const lo = (r: number) => g.vcpu.getXmm(r) & 0xffff_ffff_ffff_ffffn;
  const third = f64Bits(1 / 3); // 1/3 rounds down to nearest
  assert.equal(lo(2), third);
  assert.equal(lo(3), third + 1n);
  assert.equal(lo(4), 0n, 'flushed to zero');
  assert.equal(lo(5), f64Bits(1), '1 + denormal treated as zero is exactly 1');
  assert.equal(g.v.getUint32(OUT, true), 0x1fc0, 'no DE under DAZ, no PE');
});

test('an unmasked divide-by-zero raises #XM (or #UD without OSXMMEXCPT) and leaves the destination alone', async () => {
  for (const osxmm of [true, false]) {
    const src = `
      movsd xmm0, [${DATA}]
      xorpd xmm1, xmm1
      ldmxcsr [${DATA + 8}]
      divsd xmm0, xmm1
      hlt`;
    const g = await guest(src, ({ v, vcpu }) => {
      v.setFloat64(DATA, 5, true);
      v.setUint32(DATA + 8, 0x1f80 & ~0x200, true); // ZM clear
      vcpu.setExceptionBitmap(0xffffffff);
      if (!osxmm) vcpu.setReg(Reg.CR4, vcpu.getReg(Reg.CR4) & ~CR4_OSXMMEXCPT);
    });
    assert.equal(exceptionOf(g), osxmm ? 19 : 6);
    assert.equal(bitsF64(g.vcpu.getXmm(0) & 0xffff_ffff_ffff_ffffn), 5, 'destination unchanged');
    assert.equal(g.vcpu.getReg(Reg.MXCSR) & 0x3fn, 0x4n, 'ZE set');
  }
});

test('CR0.TS gives #NM, CR0.EM and a clear CR4.OSFXSR give #UD; SSE3 and SSSE3 opcodes are #UD', async () => {
  const run = async (insn: string, cr0Set = 0n, cr4Clear = 0n) => {
    const g = await guest(`${insn}\nhlt`, ({ vcpu }) => {
      vcpu.setExceptionBitmap(0xffffffff);
      vcpu.setReg(Reg.CR0, vcpu.getReg(Reg.CR0) | cr0Set);
      vcpu.setReg(Reg.CR4, vcpu.getReg(Reg.CR4) & ~cr4Clear);
    });
    return g.exit === Exit.HALTED ? -1 : exceptionOf(g);
  };
  assert.equal(await run('addps xmm0, xmm1'), -1);
  assert.equal(await run('addps xmm0, xmm1', CR0_TS), 7);
  assert.equal(await run('addps xmm0, xmm1', CR0_EM), 6);
  assert.equal(await run('addps xmm0, xmm1', 0n, CR4_OSFXSR), 6);
  assert.equal(await run('paddb mm0, mm1', CR0_TS), 7);
  assert.equal(await run('paddb mm0, mm1', CR0_EM), 6);
  assert.equal(await run('paddb mm0, mm1', 0n, CR4_OSFXSR), -1, 'MMX does not need OSFXSR');
  assert.equal(await run('fxsave [0x200000]', CR0_TS), 7);
  for (const insn of ['haddps xmm0, xmm1', 'movddup xmm0, xmm1', 'lddqu xmm0, [0x200000]', 'pshufb xmm0, xmm1',
    'pmulld xmm0, xmm1', 'palignr xmm0, xmm1, 3', 'addsubpd xmm0, xmm1', 'ptest xmm0, xmm1']) {
    assert.equal(await run(insn), 6, insn);
  }
  assert.equal(await run('movaps xmm0, [0x200008]'), 13, 'misaligned MOVAPS: #GP');
  assert.equal(await run('movups xmm0, [0x200008]'), -1, 'MOVUPS takes any alignment');
  assert.equal(await run('ldmxcsr [0x200000]'), -1);
});

test('LDMXCSR and FXRSTOR refuse reserved MXCSR bits with #GP(0); FXSAVE needs 16-byte alignment', async () => {
  for (const insn of ['ldmxcsr [0x200000]', 'fxrstor [0x200000]', 'fxsave [0x200008]']) {
    const g = await guest(`${insn}\nhlt`, ({ v, vcpu }) => {
      v.setUint32(0x200000, 0x10000 | 0x1f80, true);
      v.setUint32(0x200000 + 24, 0x10000 | 0x1f80, true);
      vcpu.setExceptionBitmap(0xffffffff);
    });
    assert.equal(exceptionOf(g), 13, insn);
    assert.equal(g.vcpu.exitField(ExitField.VALUE), 0n, 'error code 0');
    assert.equal(g.vcpu.getReg(Reg.MXCSR), MXCSR_DEFAULT);
  }
});

test('FXSAVE/FXRSTOR round-trip XMM0-15 and MXCSR', async () => {
  const value = (r: number) => (BigInt(r + 1) * 0x0123_4567_89ab_cdefn) << 64n | BigInt(r) * 0x1111_1111_1111_1111n;
  const src = `
    fxsave [${DATA}]
    ${Array.from({ length: 16 }, (_, r) => `pcmpeqb xmm${r}, xmm${r}`).join('\n')}
    ldmxcsr [${DATA + 0x400}]
    fxrstor [${DATA}]
    hlt`;
  const g = await guest(src, ({ v, vcpu }) => {
    for (let r = 0; r < 16; r++) vcpu.setXmm(r, value(r) & ((1n << 128n) - 1n));
    vcpu.setReg(Reg.MXCSR, 0x7fa5n); // RC up, FTZ off, some flags and masks
    v.setUint32(DATA + 0x400, 0x1f80, true);
  });
  assert.equal(g.exit, Exit.HALTED);
  for (let r = 0; r < 16; r++) {
    const want = value(r) & ((1n << 128n) - 1n);
    assert.equal(g.vcpu.getXmm(r), want, `xmm${r} restored`);
    assert.equal(g.v.getBigUint64(DATA + 160 + 16 * r, true), want & 0xffff_ffff_ffff_ffffn, `image of xmm${r}`);
    assert.equal(g.v.getBigUint64(DATA + 168 + 16 * r, true), want >> 64n);
  }
  assert.equal(g.vcpu.getReg(Reg.MXCSR), 0x7fa5n);
  assert.equal(g.v.getUint32(DATA + 24, true), 0x7fa5, 'MXCSR in the image');
  assert.equal(g.v.getUint32(DATA + 28, true), 0xffff, 'MXCSR_MASK');
});

test('a 16-byte access that faults on its second page changes neither memory nor the register', async () => {
  const PDE_P = 1n;
  const src = `
    movups [0x3ffff8], xmm0
    hlt`;
  for (const store of [true, false]) {
    const g = await guest(store ? src : 'movups xmm1, [0x3ffff8]\nhlt', ({ machine, v, vcpu }) => {
      // Make the 2 MiB page at 4 MiB not present.
      const pd = guest64Layout(machine.ramSize).pml4 + 2 * 0x1000;
      v.setBigUint64(pd + 16, v.getBigUint64(pd + 16, true) & ~PDE_P, true);
      machine.notifyRamWritten(pd + 16, 8);
      v.setBigUint64(0x3ffff8, 0x1122334455667788n, true);
      vcpu.setXmm(0, (1n << 128n) - 1n);
      vcpu.setXmm(1, 42n);
      vcpu.setExceptionBitmap(1 << 14);
    });
    assert.equal(exceptionOf(g), 14);
    assert.equal(g.vcpu.exitField(ExitField.GPA), 0x400000n, 'CR2: the first byte of the missing page');
    assert.equal(g.v.getBigUint64(0x3ffff8, true), 0x1122334455667788n, 'no partial store');
    assert.equal(g.vcpu.getXmm(1), 42n, 'no partial load');
    assert.equal(g.vcpu.getReg(Reg.RIP), BigInt(CODE), 'the instruction restarts');
  }
});

test('integer SSE2: saturating arithmetic, packs, shuffles, shifts and PSADBW', async () => {
  const src = `
    movdqa xmm0, [${DATA}]
    movdqa xmm1, [${DATA + 16}]
    movdqa xmm2, xmm0
    paddsw xmm2, xmm1
    movdqa xmm3, xmm0
    psubusb xmm3, xmm1
    movdqa xmm4, xmm0
    packsswb xmm4, xmm1
    pshufd xmm5, xmm0, 0x1b
    movdqa xmm6, xmm0
    psrldq xmm6, 3
    movdqa xmm7, xmm0
    psraw xmm7, 4
    movdqa xmm8, xmm0
    psadbw xmm8, xmm1
    movdqa xmm9, xmm0
    pmaddwd xmm9, xmm1
    movdqa xmm10, xmm0
    punpcklbw xmm10, xmm1
    pextrw eax, xmm0, 5
    pinsrw xmm11, eax, 2
    hlt`;
  const A = [0x7ff0, 0x8000, 0x1234, 0xffff, 0x0001, 0x4000, 0xc000, 0x00ff];
  const B = [0x0020, 0x8000, 0x0001, 0x0001, 0xffff, 0x4000, 0x3000, 0xff00];
  const g = await guest(src, ({ v }) => A.forEach((a, i) => { v.setUint16(DATA + 2 * i, a, true); v.setUint16(DATA + 16 + 2 * i, B[i], true); }));
  assert.equal(g.exit, Exit.HALTED);
  const words = (r: number) => Array.from({ length: 8 }, (_, i) => Number((g.vcpu.getXmm(r) >> BigInt(16 * i)) & 0xffffn));
  const bytes = (r: number) => Array.from({ length: 16 }, (_, i) => Number((g.vcpu.getXmm(r) >> BigInt(8 * i)) & 0xffn));
  const s16 = (x: number) => (x << 16) >> 16;
  const sat16 = (x: number) => Math.max(-32768, Math.min(32767, x)) & 0xffff;
  assert.deepEqual(words(2), A.map((a, i) => sat16(s16(a) + s16(B[i]))), 'PADDSW');
  const ab = bytes(0), bb = Array.from({ length: 16 }, (_, i) => (B[i >> 1] >> (8 * (i & 1))) & 0xff);
  assert.deepEqual(bytes(3), ab.map((a, i) => Math.max(0, a - bb[i])), 'PSUBUSB');
  const sat8 = (x: number) => Math.max(-128, Math.min(127, s16(x))) & 0xff;
  assert.deepEqual(bytes(4), [...A, ...B].map(sat8), 'PACKSSWB');
  assert.equal(g.vcpu.getXmm(5), [3, 2, 1, 0].reduce((acc, k, i) => acc | (((g.vcpu.getXmm(0) >> BigInt(32 * k)) & 0xffffffffn) << BigInt(32 * i)), 0n), 'PSHUFD 0x1b reverses dwords');
  assert.equal(g.vcpu.getXmm(6), g.vcpu.getXmm(0) >> 24n, 'PSRLDQ by 3 bytes');
  assert.deepEqual(words(7), A.map((a) => (s16(a) >> 4) & 0xffff), 'PSRAW');
  const sad = (lo: number) => ab.slice(lo, lo + 8).reduce((s, a, i) => s + Math.abs(a - bb[lo + i]), 0);
  assert.equal(g.vcpu.getXmm(8), BigInt(sad(0)) | (BigInt(sad(8)) << 64n), 'PSADBW');
  const madd = [0, 1, 2, 3].map((k) => BigInt.asUintN(32, BigInt(s16(A[2 * k]) * s16(B[2 * k]) + s16(A[2 * k + 1]) * s16(B[2 * k + 1]))));
  assert.equal(g.vcpu.getXmm(9), madd.reduce((acc, d, k) => acc | (d << BigInt(32 * k)), 0n), 'PMADDWD (0x8000*0x8000*2 wraps)');
  assert.deepEqual(bytes(10), ab.slice(0, 8).flatMap((a, i) => [a, bb[i]]), 'PUNPCKLBW');
  assert.equal(g.vcpu.getReg(Reg.RAX), BigInt(A[5]), 'PEXTRW zero-extends');
  assert.equal(words(11)[2], A[5], 'PINSRW');
});

test('MMX instructions tag every register valid with TOP 0, write the x87 register as exponent 0xFFFF, and EMMS empties the tags', async () => {
  const src = `
    fninit
    fld1                        # TOP 7, one register valid
    mov rax, 0x00010002fffe7fff
    movq mm3, rax
    paddw mm3, mm3              # 0x00020004fffcfffe: words wrap
    movq rbx, mm3
    pshufw mm4, mm3, 0x1b
    movq rcx, mm4
    fnstenv [${OUT}]
    fxsave [${DATA}]
    emms
    fnstenv [${OUT + 64}]
    hlt`;
  const g = await guest(src);
  assert.equal(g.exit, Exit.HALTED);
  assert.equal(g.vcpu.getReg(Reg.RBX), 0x00020004fffcfffen);
  assert.equal(g.vcpu.getReg(Reg.RCX), 0xfffefffc00040002n, 'PSHUFW reverses the words');
  const sw = g.v.getUint16(OUT + 4, true), tw = g.v.getUint16(OUT + 8, true);
  assert.equal((sw >> 11) & 7, 0, 'TOP = 0');
  assert.equal(tw === 0xffff, false, 'tags not all empty');
  assert.equal(g.v.getUint8(DATA + 4), 0xff, 'FXSAVE abridged tags: all valid');
  assert.equal(g.v.getBigUint64(DATA + 32 + 16 * 3, true), 0x00020004fffcfffen, 'ST3 = MM3 mantissa');
  assert.equal(g.v.getUint16(DATA + 32 + 16 * 3 + 8, true), 0xffff, 'ST3 exponent and sign all ones');
  assert.equal(g.v.getUint16(OUT + 64 + 8, true), 0xffff, 'EMMS: all tags empty');
});

test('MOVD/MOVQ between general registers, memory, MMX and XMM zero-extend', async () => {
  const src = `
    mov rax, -1
    movq xmm0, rax
    movd xmm0, eax              # upper 96 bits cleared
    mov ebx, 0x80000001
    movd mm1, ebx
    movq2dq xmm1, mm1
    movq xmm2, [${DATA}]
    movq [${OUT}], xmm2
    movdq2q mm2, xmm2
    movd ecx, mm2
    movq rdx, xmm2
    hlt`;
  const g = await guest(src, ({ v, vcpu }) => {
    v.setBigUint64(DATA, 0xfedcba9876543210n, true);
    vcpu.setXmm(2, (1n << 128n) - 1n);
  });
  assert.equal(g.exit, Exit.HALTED);
  assert.equal(g.vcpu.getXmm(0), 0xffffffffn);
  assert.equal(g.vcpu.getXmm(1), 0x80000001n);
  assert.equal(g.vcpu.getXmm(2), 0xfedcba9876543210n, 'MOVQ xmm, m64 clears the upper half');
  assert.equal(g.v.getBigUint64(OUT, true), 0xfedcba9876543210n);
  assert.equal(g.vcpu.getReg(Reg.RCX), 0x76543210n);
  assert.equal(g.vcpu.getReg(Reg.RDX), 0xfedcba9876543210n);
});
