// Differential-test campaign CLI:
//   npm run difftest -- --seed N --count N [--category X[,Y...]] [--case I] [--show N] [--native-only]
// Generates cases from the seed, runs them natively and on our CPU, and
// prints a table per category and the first mismatches in full.
// --case I regenerates case I alone (same --seed and --category as the run that reported it).
// --native-only runs the cases natively twice instead (checks the generator's determinism).
import { parseArgs } from 'node:util';
import { CATEGORIES, generateBatch } from './generate.js';
import { emptyReport, formatTable, runBatch } from './run-batch.js';

const CHUNK = 5000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      count: { type: 'string', default: '10000' },
      category: { type: 'string' },
      case: { type: 'string' },
      show: { type: 'string', default: '5' },
      'native-only': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
    },
  });
  if (values.list) {
    console.log(Object.keys(CATEGORIES).join('\n'));
    return 0;
  }
  const seed = Number(values.seed);
  const categories = values.category?.split(',');
  const first = values.case === undefined ? 0 : Number(values.case);
  const count = values.case === undefined ? Number(values.count) : 1;
  const show = Number(values.show);

  const ours = values['native-only'] ? undefined : await (await import('./emulated.js')).EmulatedRunner.create();

  const report = emptyReport();
  const started = Date.now();
  for (let done = 0; done < count; done += CHUNK) {
    const batch = generateBatch({ seed, count: Math.min(CHUNK, count - done), first: first + done, categories });
    runBatch(batch, ours, report, show);
    if (count > CHUNK) process.stderr.write(`\r${Math.min(done + CHUNK, count)}/${count} cases`);
  }
  if (count > CHUNK) process.stderr.write('\n');

  console.log(`seed ${seed}, ${count} cases, ${((Date.now() - started) / 1000).toFixed(1)} s${ours ? '' : ' (native vs native)'}\n`);
  console.log(formatTable(report));
  for (const r of report.rejected.slice(0, show)) console.log(`\nrejected by as: ${r}`);
  for (const m of report.mismatches) console.log(`\n${m}`);
  const failed = [...report.stats.values()].some((s) => s.mismatched > 0 || s.rejected > 0);
  return failed ? 1 : 0;
}

process.exitCode = await main();
