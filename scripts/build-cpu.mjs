// Compiles the AssemblyScript CPU (src/cpu) to build/cpu.wasm. Skips the
// build when the wasm is newer than every source it depends on.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, mkdirSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --profile builds a CPU that counts events (src/cpu/profile.ts) into build/cpu-profile.wasm.
const profile = process.argv.includes('--profile');
const out = join(root, 'build', profile ? 'cpu-profile.wasm' : 'cpu.wasm');
// The exports' types, as asc generates them (src/backend/software.ts imports them).
const typings = out.replace(/\.wasm$/, '-exports.d.ts');
const sources = [join(root, 'src', 'backend', 'abi.ts')];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.ts')) sources.push(p);
  }
})(join(root, 'src', 'cpu'));

const newest = Math.max(...sources.map((p) => statSync(p).mtimeMs), statSync(fileURLToPath(import.meta.url)).mtimeMs);
if (process.argv.includes('--force') || !existsSync(out) || !existsSync(typings) || statSync(out).mtimeMs < newest) {
  mkdirSync(join(root, 'build'), { recursive: true });
  const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  const debug = process.argv.includes('--debug');
  // --names keeps function names in the optimized wasm, for profiles (node --cpu-prof).
  const names = process.argv.includes('--names') || process.env.XMHF_CPU_NAMES === '1';
  const raw = join(root, 'build', profile ? 'cpu-profile.unoptimized.wasm' : 'cpu.unoptimized.wasm');
  execFileSync(process.execPath, [asc, join(root, 'src', 'cpu', 'index.ts'),
    '--outFile', debug ? out : raw,
    '--runtime', 'stub',
    // Our fixed-address structures and guest RAM live above AS's own data.
    '--memoryBase', String(0x3f00000),
    '--initialMemory', '1024',
    '--maximumMemory', '65536',
    '--noAssert',
    '--enable', 'bulk-memory',
    // asc's own -O2/-O3 pipeline miscompiles i64.extend_i32_u(i32.load) into
    // i64.load32_s (AssemblyScript 0.28.20); Binaryen's wasm-opt does not, so
    // asc emits unoptimized code and wasm-opt optimizes it.
    '-O0',
    // Typings of the exports (and a JS adapter we do not use: the backend calls the raw exports).
    '--bindings', 'raw',
    ...(debug || names ? ['--debug'] : []),
    ...(profile ? ['--use', 'XMHF_PROFILE=1'] : []),
  ], { stdio: 'inherit', cwd: root });
  const asOut = debug ? out : raw;
  renameSync(asOut.replace(/\.wasm$/, '.d.ts'), typings);
  rmSync(asOut.replace(/\.wasm$/, '.js'));
  if (!debug) {
    const wasmOpt = join(root, 'node_modules', 'binaryen', 'bin', 'wasm-opt');
    // Constants reach wasm-opt as immutable globals (asc -O0): propagate them
    // first, so the instruction switches become one dense br_table each
    // rather than a chain of range checks over several.
    execFileSync(process.execPath, [wasmOpt, raw, '--simplify-globals-optimizing', '-O3', '--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals', '--enable-nontrapping-float-to-int', ...(names ? ['-g'] : []), '-o', out], { stdio: 'inherit', cwd: root });
  }
  console.log('built', out);
}
