// Compares a case's native and emulated outcomes, honouring what the case
// marks as architecturally undefined, and formats readable mismatch reports.
import { displayText } from './assemble.js';
import {
  CODE_BASE, COMPARED_FLAGS, DATA_BASE, Flag, GPR_NAMES, VECTORS_WITH_ERROR_CODE, Vector,
  type Outcome, type TestCase,
} from './layout.js';
import { hostCpu } from './host.js';

/** #PF error code bits both sides report alike: P, W/R, U/S, RSVD, I/D. */
const PF_ERROR_BITS = 0x1fn;
const PF_PRESENT = 0x1n;
/** Canonical addresses from here up are the host kernel's. */
const KERNEL_HALF = 0xffff_8000_0000_0000n;

export interface Difference {
  what: string;
  native: string;
  ours: string;
}

const hex = (v: bigint, digits = 16) => `0x${BigInt.asUintN(64, v).toString(16).padStart(digits, '0')}`;
const hexBytes = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

export function vectorName(v: number): string {
  const names: Record<number, string> = {
    0: '#DE', 1: '#DB', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF', 10: '#TS', 11: '#NP',
    12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC', 19: '#XM',
    [Vector.TIMEOUT]: 'timeout', [Vector.OTHER_EXIT]: 'other exit',
  };
  return names[v] ?? `vector ${v}`;
}

export function flagNames(bits: number): string {
  const names = Object.entries(Flag).filter(([, bit]) => bits & bit).map(([name]) => name);
  return names.length ? names.join(' ') : '-';
}

/** Final byte at data offset `o`: the outcome's change, else the initial data. */
function finalByte(outcome: Map<number, number>, initial: (o: number) => number, o: number): number {
  return outcome.get(o) ?? initial(o);
}

function changeMap(o: Outcome): Map<number, number> {
  const m = new Map<number, number>();
  for (const run of o.memChanges) run.bytes.forEach((b, i) => m.set(run.offset + i, b));
  return m;
}

/** Every way `ours` differs from `native` in what the architecture defines. */
export function compareOutcomes(tc: TestCase, pattern: Uint8Array, native: Outcome, ours: Outcome): Difference[] {
  const diffs: Difference[] = [];
  const add = (what: string, n: string, o: string) => diffs.push({ what, native: n, ours: o });

  if (native.vector === Vector.TIMEOUT) {
    add('outcome', 'timeout (the generated case never reached its end: generator bug)', vectorName(ours.vector));
    return diffs;
  }
  if (native.vector !== ours.vector) {
    add('exception', vectorName(native.vector), ours.note ? `${vectorName(ours.vector)} (${ours.note})` : vectorName(ours.vector));
  } else if (VECTORS_WITH_ERROR_CODE.has(native.vector)) {
    const m = native.vector !== Vector.PF ? 0xffffn
      // A user access to the kernel half: whether the host's kernel maps that page (P) is the host's business.
      : BigInt.asUintN(64, native.faultAddr) >= KERNEL_HALF ? PF_ERROR_BITS & ~PF_PRESENT : PF_ERROR_BITS;
    if ((native.errorCode & m) !== (ours.errorCode & m)) add('error code', hex(native.errorCode, 1), hex(ours.errorCode, 1));
    if (native.vector === Vector.PF && native.faultAddr !== ours.faultAddr) add('fault address', hex(native.faultAddr), hex(ours.faultAddr));
  }
  if (native.state.rip !== ours.state.rip) add('rip', hex(native.state.rip), hex(ours.state.rip));

  // The host's own rules (host.ts): results compared or not depending on what the host CPU is.
  let undefinedRegs = tc.undefinedRegs, undefinedFlags = tc.undefinedFlags;
  const regMasks = Array.from({ length: 16 }, () => -1n);
  const ignoredBytes = new Set<number>();
  const traits = tc.hostRules?.length ? hostCpu().traits : undefined;
  for (const rule of tc.hostRules ?? []) {
    if (!traits!.has(rule.when)) continue;
    for (const [r, m] of rule.ignore?.regBits ?? []) regMasks[r] &= ~m;
    for (const [offset, length] of rule.ignore?.bytes ?? []) for (let o = offset; o < offset + length; o++) ignoredBytes.add(o);
    undefinedRegs &= ~(rule.compare?.regs ?? 0);
    undefinedFlags &= ~(rule.compare?.flags ?? 0);
  }

  for (let r = 0; r < 16; r++) {
    if (undefinedRegs & (1 << r)) continue;
    const n = BigInt.asUintN(64, native.state.gpr[r] & regMasks[r]), o = BigInt.asUintN(64, ours.state.gpr[r] & regMasks[r]);
    if (n !== o) add(regMasks[r] === -1n ? GPR_NAMES[r] : `${GPR_NAMES[r]} (bits ${hex(regMasks[r])})`, hex(n), hex(o));
  }

  const flagMask = BigInt((COMPARED_FLAGS & ~undefinedFlags) >>> 0);
  const nf = native.state.rflags & flagMask;
  const of = ours.state.rflags & flagMask;
  if (nf !== of) add(`rflags (differing: ${flagNames(Number(nf ^ of))})`, `${hex(nf, 1)} [${flagNames(Number(nf))}]`, `${hex(of, 1)} [${flagNames(Number(of))}]`);

  for (let x = 0; x < 16; x++) {
    const n = native.state.xmm.subarray(16 * x, 16 * x + 16);
    const o = ours.state.xmm.subarray(16 * x, 16 * x + 16);
    if (n.some((b, i) => b !== o[i])) add(`xmm${x}`, xmmText(n), xmmText(o));
  }
  if (native.state.mxcsr !== ours.state.mxcsr) add('mxcsr', hex(BigInt(native.state.mxcsr), 8), hex(BigInt(ours.state.mxcsr), 8));

  const initial = initialData(tc, pattern);
  const nm = changeMap(native);
  const om = changeMap(ours);
  const offsets = [...new Set([...nm.keys(), ...om.keys()])].sort((a, b) => a - b)
    .filter((o) => !ignoredBytes.has(o) && finalByte(nm, initial, o) !== finalByte(om, initial, o));
  for (let i = 0; i < offsets.length;) {
    let j = i;
    while (j + 1 < offsets.length && offsets[j + 1] === offsets[j] + 1 && j - i < 31) j++;
    const range = offsets.slice(i, j + 1);
    add(`memory ${hex(BigInt(DATA_BASE + offsets[i]), 8)}..+${range.length}`,
      hexBytes(Uint8Array.from(range, (o) => finalByte(nm, initial, o))),
      hexBytes(Uint8Array.from(range, (o) => finalByte(om, initial, o))));
    i = j + 1;
  }
  return diffs;
}

function xmmText(b: Uint8Array): string {
  const v = new DataView(b.buffer, b.byteOffset, 16);
  return `${hex(v.getBigUint64(8, true))}_${hex(v.getBigUint64(0, true)).slice(2)}`;
}

/** Initial data byte lookup: patches over the pattern. */
function initialData(tc: TestCase, pattern: Uint8Array): (offset: number) => number {
  const patched = new Map<number, number>();
  for (const p of tc.patches) p.bytes.forEach((b, i) => patched.set(p.offset + i, b));
  return (o) => patched.get(o) ?? pattern[o];
}

function usesXmm(tc: TestCase): boolean {
  return tc.insns.some((i) => /xmm|mxcsr/.test(i));
}

/** Full report of one mismatching case. */
export function formatMismatch(seed: number, tc: TestCase, native: Outcome, ours: Outcome, diffs: Difference[]): string {
  const lines: string[] = [];
  lines.push(`=== ${tc.category} case ${tc.id} (seed ${seed}) ===`);
  let start = 0;
  tc.insns.forEach((text, k) => {
    const end = tc.insnEnds[k];
    const addr = CODE_BASE + start;
    lines.push(`  ${addr.toString(16)}: ${hexBytes(tc.code.subarray(start, end)).padEnd(36)} ${displayText(text)}`);
    start = end;
  });
  lines.push(`  ${(CODE_BASE + start).toString(16)}: ${hexBytes(tc.code.subarray(start)).padEnd(36)} ud2 (end of case)`);
  lines.push('  initial:');
  for (let r = 0; r < 16; r += 4) {
    lines.push(`    ${[r, r + 1, r + 2, r + 3].map((i) => `${GPR_NAMES[i].padStart(3)}=${hex(tc.init.gpr[i])}`).join(' ')}`);
  }
  lines.push(`    rflags=${hex(tc.init.rflags, 1)} [${flagNames(Number(tc.init.rflags))}]`);
  if (usesXmm(tc)) {
    for (let x = 0; x < 16; x++) lines.push(`    xmm${x}=${xmmText(tc.init.xmm.subarray(16 * x, 16 * x + 16))}`);
    lines.push(`    mxcsr=${hex(BigInt(tc.init.mxcsr), 8)}`);
  }
  for (const p of tc.patches) lines.push(`    data ${hex(BigInt(DATA_BASE + p.offset), 8)}: ${hexBytes(p.bytes.subarray(0, 32))}${p.bytes.length > 32 ? ' ...' : ''}`);
  if (tc.undefinedFlags || tc.undefinedRegs) {
    const regs = GPR_NAMES.filter((_, r) => tc.undefinedRegs & (1 << r)).join(' ') || '-';
    lines.push(`  undefined (not compared): flags ${flagNames(tc.undefinedFlags)}; registers ${regs}`);
  }
  const end = (o: Outcome) => `${vectorName(o.vector)} at rip ${hex(o.state.rip)}${o.note ? ` (${o.note})` : ''}`;
  lines.push(`  native: ${end(native)}`);
  lines.push(`  ours:   ${end(ours)}`);
  lines.push('  differences (native | ours):');
  for (const d of diffs) lines.push(`    ${d.what}: ${d.native} | ${d.ours}`);
  return lines.join('\n');
}
