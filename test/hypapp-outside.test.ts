// A hypapp author type-checks a hypapp in a project of their own, set up as
// docs/hypapps.md says: `npm install /path/to/xmhf-ts` (npm links the folder),
// or a tsconfig `paths` entry for xmhf-ts/hypapp. The repository's tsc runs
// on a scratch project each way; a deliberate type error must be reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const ROOT = join(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const HYPAPP = `import { defineHypapp, Prot, Vector, PAGE_SIZE } from 'xmhf-ts/hypapp';

export default defineHypapp({
  name: 'outside',
  init(x) {
    x.setprot(0, PAGE_SIZE, Prot.RW);
    x.interceptExceptions([Vector.PF]);
  },
  onCpuid(_x, e) { return { ...e.result, eax: 1 }; },
});
`;
/** The same hypapp with an answer onCpuid may not give. */
const WRONG = HYPAPP.replace('return { ...e.result, eax: 1 };', "return 'yes';");

/** The docs' tsconfig.json, with `extra` compiler options. */
function tsconfig(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, ...extra },
    include: ['*.ts'],
  }, null, 2);
}

/** The documented tsconfig block, as docs/hypapps.md shows it. */
function documentedTsconfig(): Record<string, unknown> {
  const docs = readFileSync(join(ROOT, 'docs', 'hypapps.md'), 'utf8');
  const block = /<!-- outside-tsconfig -->\n```json\n([\s\S]*?)```/.exec(docs)?.[1];
  assert.ok(block, 'docs/hypapps.md shows the tsconfig.json for a hypapp outside the repository');
  return JSON.parse(block) as Record<string, unknown>;
}

function typecheck(dir: string, source: string): { status: number | null; output: string } {
  writeFileSync(join(dir, 'my-hypapp.ts'), source);
  const r = spawnSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('npm install of the repository: a hypapp project type-checks against xmhf-ts/hypapp, and a wrong answer is caught', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-hypapp-npm-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-hypapp', private: true, type: 'module' }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(documentedTsconfig()));
  const npm = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', ROOT], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(npm.status, 0, npm.stderr);
  const ok = typecheck(dir, HYPAPP);
  assert.equal(ok.status, 0, ok.output);
  const bad = typecheck(dir, WRONG);
  assert.equal(bad.status, 2, bad.output);
  assert.match(bad.output, /my-hypapp\.ts\(9,3\): error TS2322: .*'string' is not assignable to type 'CpuidResult'/s);
});

test('a tsconfig paths entry for xmhf-ts/hypapp: the same hypapp type-checks, and the wrong answer is caught', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-hypapp-paths-'));
  writeFileSync(join(dir, 'tsconfig.json'), tsconfig({ paths: { 'xmhf-ts/hypapp': [join(ROOT, 'src', 'hypapp', 'api.ts')] } }));
  const ok = typecheck(dir, HYPAPP);
  assert.equal(ok.status, 0, ok.output);
  const bad = typecheck(dir, WRONG);
  assert.equal(bad.status, 2, bad.output);
  assert.match(bad.output, /my-hypapp\.ts\(9,3\): error TS2322/);
});
