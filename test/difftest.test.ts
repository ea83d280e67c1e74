// Differential test: generated instruction sequences run on the host CPU and
// on ours from the same state must end in the same registers, flags, memory
// and exception. Also checks the native oracle itself on known results.
// A longer campaign: npm run difftest -- --seed N --count N [--category X]
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { assembleCases, type AsmItem } from '../tools/difftest/assemble.js';
import { compareOutcomes } from '../tools/difftest/compare.js';
import { EmulatedRunner } from '../tools/difftest/emulated.js';
import { CATEGORIES, generateBatch } from '../tools/difftest/generate.js';
import { CODE_BASE, DATA_BASE, DATA_SIZE, Flag, STACK_TOP, UNMAPPED_ADDR, Vector, type Outcome, type TestCase } from '../tools/difftest/layout.js';
import { runNative } from '../tools/difftest/native.js';
import { emptyReport, formatTable, runBatch } from '../tools/difftest/run-batch.js';

const SEED = 20241123;
const SAMPLE_SIZE = 8000;
/**
 * Categories whose results may differ from the host's in the last bit: the
 * x87 transcendentals are correctly rounded here, the host's (an AMD EPYC)
 * are within one ulp and correctly rounded 97-99% of the time.
 */
const NEAR_CATEGORIES = new Map([['x87-transcendental', { count: 400, minMatched: 0.95 }]]);


// ---- the native oracle on cases with known results ----

const PATTERN = new Uint8Array(DATA_SIZE).map((_, i) => (i * 37 + 11) & 0xff);

function handMadeCase(insns: string[], gpr: Record<number, bigint> = {}, rflags = 0x202n): TestCase {
  const items: AsmItem[] = insns.map((insn) => ({ insn }));
  const assembled = assembleCases([{ items }]).cases[0];
  assert.ok(assembled, `as rejected ${insns.join('; ')}`);
  const regs = Array.from({ length: 16 }, (_, r) => gpr[r] ?? 0n);
  regs[4] = gpr[4] ?? BigInt(DATA_BASE + STACK_TOP);
  const xmm = new Uint8Array(256).map((_, i) => i);
  return {
    id: 0, category: 'hand-made', insns, code: assembled.code, insnEnds: assembled.insnEnds,
    init: { gpr: regs, rip: BigInt(CODE_BASE), rflags, xmm, mxcsr: 0x1f80 },
    patches: [], undefinedFlags: 0, undefinedRegs: 0,
  };
}

describe('native runner', () => {
  const cases = [
    handMadeCase(['add rax, rbx'], { 0: 5n, 3: (1n << 64n) - 5n }),
    handMadeCase([`mov eax, dword ptr [rip + {D:${0x10}}]`], { 0: -1n }),
    handMadeCase(['push rax', 'pushfq'], { 0: 0x1122334455667788n }, 0x202n | BigInt(Flag.CF | Flag.DF)),
    handMadeCase(['div rbx'], { 0: 1n }),
    handMadeCase(['mov rax, qword ptr [rbx]'], { 3: UNMAPPED_ADDR + 8n }),
    handMadeCase(['movdqa xmm1, xmm2']),
  ];
  let out: Outcome[];
  before(() => { out = runNative(PATTERN, cases); });

  test('ends at the final ud2 with the results of the instructions', () => {
    assert.equal(out[0].vector, Vector.UD);
    assert.equal(out[0].state.rip, BigInt(CODE_BASE + cases[0].insnEnds[0]));
    assert.equal(out[0].state.gpr[0], 0n);
    assert.equal(out[0].state.rflags & BigInt(Flag.CF | Flag.ZF), BigInt(Flag.CF | Flag.ZF));
    assert.equal(out[1].state.gpr[0], BigInt(PATTERN[16] | (PATTERN[17] << 8) | (PATTERN[18] << 16)) | (BigInt(PATTERN[19]) << 24n));
  });

  test('reports stores as data changes, including PUSHF with the flags set on entry', () => {
    const stack = STACK_TOP - 16;
    const bytes = new Map(out[2].memChanges.flatMap((r) => [...r.bytes].map((b, i) => [r.offset + i, b] as const)));
    const qword = (o: number) => Array.from({ length: 8 }, (_, i) => BigInt(bytes.get(o + i) ?? PATTERN[o + i]) << BigInt(8 * i)).reduce((a, b) => a | b);
    assert.equal(qword(stack + 8), 0x1122334455667788n);
    assert.equal(qword(stack), 0x202n | BigInt(Flag.CF | Flag.DF));
  });

  test('reports faults with vector, error code and address', () => {
    assert.equal(out[3].vector, Vector.DE);
    assert.equal(out[3].state.rip, BigInt(CODE_BASE));
    assert.equal(out[4].vector, Vector.PF);
    assert.equal(out[4].errorCode & 0x7n, 0x4n); // not present, read, user
    assert.equal(out[4].faultAddr, UNMAPPED_ADDR + 8n);
  });

  test('loads and reports XMM registers', () => {
    assert.deepEqual([...out[5].state.xmm.subarray(16, 32)], [...cases[5].init.xmm.subarray(32, 48)]);
  });

  test('generated cases of non-fault categories run to their final ud2 (generator sanity)', () => {
    // Deliberate faults: #DE in div, #GP for misaligned CMPXCHG16B, #MF after an unmasked x87 exception, and the fault-* categories.
    const mayFault: Record<string, number[]> = {
      div: [Vector.DE], 'cmpxchg8b-16b': [Vector.GP], x87: [Vector.MF], 'x87-transcendental': [Vector.MF],
    };
    const batch = generateBatch({ seed: SEED + 1, count: 1500 });
    const outcomes = runNative(batch.pattern, batch.cases);
    const wrong = batch.cases.filter((tc, i) => {
      if (tc.category.startsWith('fault-') || mayFault[tc.category]?.includes(outcomes[i].vector)) return false;
      return outcomes[i].vector !== Vector.UD || outcomes[i].state.rip !== BigInt(CODE_BASE + tc.code.length - 2);
    });
    assert.deepEqual(wrong.map((tc) => `${tc.category}: ${tc.insns.join(' ; ')}`), []);
  });

  test('the comparison notices a difference', () => {
    const changed: Outcome = { ...out[0], state: { ...out[0].state, gpr: out[0].state.gpr.map((v, r) => (r === 0 ? v + 1n : v)) } };
    assert.deepEqual(compareOutcomes(cases[0], PATTERN, out[0], out[0]), []);
    assert.equal(compareOutcomes(cases[0], PATTERN, out[0], changed)[0]?.what, 'rax');
  });
});

// ---- the sample ----

describe('difftest sample against our CPU', () => {
  let ours: EmulatedRunner;
  before(async () => { ours = await EmulatedRunner.create(); });

  test('every category matches the host', () => {
    const categories = Object.keys(CATEGORIES).filter((c) => !NEAR_CATEGORIES.has(c));
    const batch = generateBatch({ seed: SEED, count: SAMPLE_SIZE, categories });
    assert.deepEqual(batch.rejected, [], 'the generator produced cases as refused');
    const report = emptyReport();
    runBatch(batch, ours, report, 5);
    const cases = [...report.stats.values()].reduce((n, s) => n + s.cases, 0);
    const mismatched = [...report.stats.values()].reduce((n, s) => n + s.mismatched, 0);
    assert.equal(cases, SAMPLE_SIZE);
    assert.equal(mismatched, 0, `${formatTable(report)}\n\n${report.mismatches.join('\n\n')}`);
  });

  for (const [category, { count, minMatched }] of NEAR_CATEGORIES) {
    test(`${category} matches the host in at least ${minMatched * 100}% of the cases`, () => {
      const batch = generateBatch({ seed: SEED, count, categories: [category] });
      const report = emptyReport();
      runBatch(batch, ours, report, 0);
      const s = report.stats.get(category);
      assert.ok(s && s.cases === count);
      assert.ok(s.mismatched <= count * (1 - minMatched), formatTable(report));
    });
  }
});
