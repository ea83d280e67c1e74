// The dependency rules of the layers (backend <- platform <- core <- hypapp
// API <- hypapps), checked on the import statements of every source file, so
// a shortcut across a seam fails here rather than in review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SOURCE_DIRS = ['src', 'hypapps', 'test', 'bench', 'tools'];
/** Outside test/, the only files that use test/support (benchmarks and the difftest runner reuse its guests). */
const SUPPORT_USERS_OUTSIDE_TESTS = new Set(['bench/hypapps.ts', 'bench/linux.ts', 'bench/gdb.ts', 'tools/difftest/emulated.ts']);

/** Every module specifier a file imports or re-exports (static, side-effect and dynamic imports with a literal). */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const re of [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) {
    for (const m of code.matchAll(re)) found.push(m[1]);
  }
  return found;
}

/** A relative specifier as a repository path (.js imports name .ts sources); bare specifiers as they are. */
function resolve(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** The rules, as messages for each import that breaks one. `files` maps repository paths to sources. */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, source] of files) {
    for (const spec of importsOf(source)) {
      const target = resolve(file, spec);
      const broke = (rule: string) => out.push(`${file} imports ${spec}: ${rule}`);
      if (under(file, 'hypapps')) {
        if (spec.startsWith('xmhf-ts/') && spec !== 'xmhf-ts/hypapp' && spec !== 'xmhf-ts/linux') broke('hypapps use only xmhf-ts/hypapp of the core (and xmhf-ts/linux, built on it)');
        if (spec.startsWith('.') && !under(target, 'hypapps')) broke('hypapps import only xmhf-ts/hypapp and their own files');
      }
      if (under(file, 'src/linux') && spec !== 'xmhf-ts/hypapp' && !(spec.startsWith('.') && under(target, 'src/linux')) && !spec.startsWith('node:')) {
        broke('src/linux is built only on xmhf-ts/hypapp (and its own files)');
      }
      if ((under(file, 'src/platform') || under(file, 'src/hypapp')) && under(target, 'src/xmhf')) {
        broke('the platform and the hypapp API do not depend on the core');
      }
      if (under(file, 'src/xmhf') && under(target, 'src/platform') && target !== 'src/platform/platform.ts' && target !== 'src/platform/device.ts') {
        broke('the core sees a platform only through src/platform/platform.ts and device.ts');
      }
      if (under(file, 'src/xmhf') && (target === 'src/backend/software.ts' || target === 'src/vmm.ts')) {
        broke('the core does not know which backend it runs on');
      }
      if (under(file, 'src/cli') && under(target, 'src/platform')) broke('the CLI does not reach into the platform');
      if (under(file, 'src/gdb') && spec.startsWith('.') && !under(target, 'src/gdb') && target !== 'src/hypapp/api.ts' && !under(target, 'src/linux')) {
        broke('the gdb stub is a client of the hypapp API: it imports only src/hypapp/api.ts, src/linux and its own files');
      }
      if (under(file, 'src/platform') && (under(target, 'src/cpu') || target === 'src/backend/software.ts')) {
        broke('devices never see the CPU\'s implementation, only the backend interface');
      }
      if (under(target, 'test/support') && !under(file, 'test') && !SUPPORT_USERS_OUTSIDE_TESTS.has(file)) {
        broke('test/support is for tests');
      }
    }
  }
  return out;
}

function sources(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) files.set(path, readFileSync(join(ROOT, path), 'utf8'));
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return files;
}

test('every source file keeps to the layers\' import rules', () => {
  const files = sources();
  assert.ok(files.size > 100 && files.has('src/xmhf/hub.ts') && files.has('hypapps/kguard.ts'), `read ${files.size} files`);
  assert.deepEqual(violations(files), []);
});

test('each rule catches an import that breaks it (and lets the allowed ones through)', () => {
  const files = new Map([
    ['hypapps/bad.ts', `import { EventHub } from '../src/xmhf/hub.js';\nimport type { Vm } from 'xmhf-ts/vm';\nimport { defineHypapp } from 'xmhf-ts/hypapp';\nimport { SYSCALL_NAMES } from './lib/syscall-names.js';`],
    ['src/platform/pc.ts', `import { Memprot } from '../xmhf/memprot.js';\nimport { createSoftwareMachine } from '../backend/software.js';\nimport type { Machine } from '../backend/interface.js';`],
    ['src/platform/uart16550.ts', `export { run } from '../cpu/run.js';`],
    ['src/hypapp/api.ts', `import type { LoadedHypapp } from '../xmhf/hub.js';\nimport { Access } from '../backend/abi.js';`],
    ['src/xmhf/vm.ts', `import { PcMachine } from '../platform/pc.js';\nimport type { Platform } from '../platform/platform.js';\nimport { allOnes } from '../platform/device.js';\nimport { createVm } from '../vmm.js';`],
    ['src/cli/run.ts', `const pc = await import('../platform/pc.js');\nimport { createVm } from '../vmm.js';`],
    ['src/xmhf/loader.ts', `import '../../test/support/guest-run.js';`],
    ['bench/hypapps.ts', `import { runGuest } from '../test/support/guest-run.js';`],
    ['src/linux/tasks.ts', `import type { GuestCpu } from 'xmhf-ts/hypapp';\nimport { Memprot } from '../xmhf/memprot.js';\nimport { Btf } from './btf.js';\nimport type { Vm } from 'xmhf-ts/vm';`],
    ['hypapps/ps.ts', `import { linuxOf } from 'xmhf-ts/linux';`],
    ['test/x.test.ts', `import { runGuest } from './support/guest-run.js';\nimport { PcMachine } from '../src/platform/pc.js';`],
    ['src/gdb/stub.ts', `import type { Hypapp } from '../hypapp/api.js';\nimport { GdbSession } from './session.js';\nimport { EventHub } from '../xmhf/hub.js';\nimport { createServer } from 'node:net';`],
  ]);
  assert.deepEqual(violations(files), [
    'hypapps/bad.ts imports ../src/xmhf/hub.js: hypapps import only xmhf-ts/hypapp and their own files',
    'hypapps/bad.ts imports xmhf-ts/vm: hypapps use only xmhf-ts/hypapp of the core (and xmhf-ts/linux, built on it)',
    'src/platform/pc.ts imports ../xmhf/memprot.js: the platform and the hypapp API do not depend on the core',
    'src/platform/pc.ts imports ../backend/software.js: devices never see the CPU\'s implementation, only the backend interface',
    'src/platform/uart16550.ts imports ../cpu/run.js: devices never see the CPU\'s implementation, only the backend interface',
    'src/hypapp/api.ts imports ../xmhf/hub.js: the platform and the hypapp API do not depend on the core',
    'src/xmhf/vm.ts imports ../platform/pc.js: the core sees a platform only through src/platform/platform.ts and device.ts',
    'src/xmhf/vm.ts imports ../vmm.js: the core does not know which backend it runs on',
    'src/cli/run.ts imports ../platform/pc.js: the CLI does not reach into the platform',
    'src/xmhf/loader.ts imports ../../test/support/guest-run.js: test/support is for tests',
    'src/linux/tasks.ts imports ../xmhf/memprot.js: src/linux is built only on xmhf-ts/hypapp (and its own files)',
    'src/linux/tasks.ts imports xmhf-ts/vm: src/linux is built only on xmhf-ts/hypapp (and its own files)',
    'src/gdb/stub.ts imports ../xmhf/hub.js: the gdb stub is a client of the hypapp API: it imports only src/hypapp/api.ts, src/linux and its own files',
  ]);
});

test('imports are read from every form of the statement, not from comments', () => {
  assert.deepEqual(importsOf([
    `import a from './a.js';`, `import type { B } from "./b.js";`, `import {\n  c,\n  d,\n} from './cd.js';`,
    `export { e } from './e.js';`, `export * from './f.js';`, `import './g.js';`, `await import('./h.js');`,
    `// import x from './commented.js';`, `/* import y from './block.js'; */`,
  ].join('\n')), ['./a.js', './b.js', './cd.js', './e.js', './f.js', './g.js', './h.js']);
});
