// Runs a generated batch on both sides and tallies the comparison per
// category; shared by the campaign CLI and the CI test.
import { compareOutcomes, formatMismatch } from './compare.js';
import type { EmulatedRunner } from './emulated.js';
import type { Batch } from './generate.js';
import type { Outcome } from './layout.js';
import { runNative } from './native.js';

export interface CategoryStats {
  cases: number;
  matched: number;
  mismatched: number;
  /** Cases `as` refused (generator bugs). */
  rejected: number;
}

export interface BatchReport {
  stats: Map<string, CategoryStats>;
  /** Full reports of the first mismatches. */
  mismatches: string[];
  /** Messages for cases `as` refused. */
  rejected: string[];
}

export function emptyReport(): BatchReport {
  return { stats: new Map(), mismatches: [], rejected: [] };
}

function statsFor(report: BatchReport, category: string): CategoryStats {
  let s = report.stats.get(category);
  if (!s) report.stats.set(category, (s = { cases: 0, matched: 0, mismatched: 0, rejected: 0 }));
  return s;
}

/**
 * Runs `batch` natively and on `ours` (or natively twice when `ours` is
 * undefined, to check that the cases are deterministic) and adds the results
 * to `report`, keeping at most `maxReports` full mismatch reports.
 */
export function runBatch(batch: Batch, ours: EmulatedRunner | undefined, report: BatchReport, maxReports: number): void {
  const native = runNative(batch.pattern, batch.cases);
  const other: Outcome[] = ours ? batch.cases.map((tc) => ours.run(batch.pattern, tc)) : runNative(batch.pattern, batch.cases);
  batch.cases.forEach((tc, i) => {
    const s = statsFor(report, tc.category);
    s.cases++;
    const diffs = compareOutcomes(tc, batch.pattern, native[i], other[i]);
    if (diffs.length === 0) {
      s.matched++;
      return;
    }
    s.mismatched++;
    if (report.mismatches.length < maxReports) report.mismatches.push(formatMismatch(batch.seed, tc, native[i], other[i], diffs));
  });
  for (const r of batch.rejected) {
    statsFor(report, r.category).rejected++;
    report.rejected.push(`${r.category}: ${r.insns.join(' ; ')}: ${r.error.trim()}`);
  }
}

export function formatTable(report: BatchReport): string {
  const rows = [...report.stats].sort(([a], [b]) => a.localeCompare(b));
  const total: CategoryStats = { cases: 0, matched: 0, mismatched: 0, rejected: 0 };
  const lines = [`${'category'.padEnd(20)} ${'cases'.padStart(7)} ${'matched'.padStart(8)} ${'mismatched'.padStart(10)} ${'rejected'.padStart(8)}`];
  const line = (name: string, s: CategoryStats) =>
    `${name.padEnd(20)} ${String(s.cases).padStart(7)} ${String(s.matched).padStart(8)} ${String(s.mismatched).padStart(10)} ${String(s.rejected).padStart(8)}`;
  for (const [name, s] of rows) {
    lines.push(line(name, s));
    total.cases += s.cases; total.matched += s.matched; total.mismatched += s.mismatched; total.rejected += s.rejected;
  }
  lines.push(line('TOTAL', total));
  return lines.join('\n');
}
