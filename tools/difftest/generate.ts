// Generates a batch of test cases from a seed: a data pattern shared by all
// cases, and per case the instructions (assembled with GNU as), the initial
// state and which results are architecturally undefined.
import { assembleCases } from './assemble.js';
import { CaseBuilder, Retry, type CaseDraft } from './case-builder.js';
import { controlCategories } from './gen-control.js';
import { dataCategories } from './gen-data.js';
import { faultCategories } from './gen-fault.js';
import { integerCategories } from './gen-integer.js';
import { sseCategories } from './gen-sse.js';
import { x87Categories } from './gen-x87.js';
import { CODE_BASE, type TestCase } from './layout.js';
import { Rng } from './prng.js';
import { makePattern } from './random-values.js';

export const CATEGORIES: Record<string, (b: CaseBuilder) => void> = {
  ...integerCategories, ...dataCategories, ...controlCategories, ...sseCategories, ...faultCategories, ...x87Categories,
};

export interface Batch {
  seed: number;
  /** Initial contents of the data region before each case's patches. */
  pattern: Uint8Array;
  cases: TestCase[];
  /** Drafts `as` refused: generator bugs, reported rather than silently dropped. */
  rejected: { category: string; insns: string[]; error: string }[];
}

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Index of the first case (to generate a long campaign in chunks, or one case again). */
  first?: number;
  /** Restrict to these categories (default: all), assigned round-robin. */
  categories?: string[];
}

const MAX_ATTEMPTS = 100;

/** Draw one case of a category; the RNG depends only on (seed, index) so a case can be regenerated alone. */
function draftCase(seed: number, index: number, category: string, pattern: Uint8Array): CaseDraft {
  const rng = new Rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const b = new CaseBuilder(rng, pattern, category);
    try {
      CATEGORIES[category](b);
      return b.draft();
    } catch (e) {
      if (!(e instanceof Retry)) throw e;
    }
  }
  throw new Error(`category ${category}: no valid case after ${MAX_ATTEMPTS} attempts (seed ${seed}, case ${index})`);
}

export function generateBatch(opts: GenerateOptions): Batch {
  const categories = opts.categories ?? Object.keys(CATEGORIES);
  for (const c of categories) if (!(c in CATEGORIES)) throw new Error(`unknown category ${c}; known: ${Object.keys(CATEGORIES).join(', ')}`);
  const pattern = makePattern(new Rng(opts.seed ^ 0x5eed5eed));
  const first = opts.first ?? 0;
  const drafts = Array.from({ length: opts.count }, (_, k) => {
    const i = first + k;
    return draftCase(opts.seed, i, categories[i % categories.length], pattern);
  });
  const assembled = assembleCases(drafts);
  const batch: Batch = { seed: opts.seed, pattern, cases: [], rejected: [] };
  drafts.forEach((d, k) => {
    const a = assembled.cases[k];
    if (!a) {
      batch.rejected.push({ category: d.category, insns: d.insnTexts, error: assembled.errors.get(k) ?? 'unknown' });
      return;
    }
    batch.cases.push({
      id: first + k,
      category: d.category,
      insns: d.insnTexts,
      code: a.code,
      insnEnds: a.insnEnds,
      init: { ...d.init, rip: BigInt(CODE_BASE) },
      patches: d.patches,
      undefinedFlags: d.undefinedFlags,
      undefinedRegs: d.undefinedRegs,
      hostRules: d.hostRules,
    });
  });
  return batch;
}
