// npm test's toolchain step (scripts/toolchain.ts) and the lookup every
// spawner of as/ld/gcc/objcopy/objdump goes through (tools/toolchain.ts).
// Fetching the packages themselves is shown with scripts/fresh-machine.sh
// (it downloads about 40 packages, too slow for the suite).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { TOOLCHAIN_COMPLETE, TOOLCHAIN_TOOLS, ToolchainMissingError, hostHasToolchain, toolCommand } from '../tools/toolchain.js';

const ROOT = join(import.meta.dirname, '..');
const step = (env: NodeJS.ProcessEnv) =>
  spawnSync(process.execPath, ['--import', 'tsx', join('scripts', 'toolchain.ts')], { cwd: ROOT, env, encoding: 'utf8' });

function withScratch(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-toolchain-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** Run `fn` with PATH and XMHF_CACHE replaced (tools/toolchain.ts reads both when asked). */
function withEnv(env: { PATH: string; XMHF_CACHE: string }, fn: () => void): void {
  const saved = { PATH: process.env.PATH, XMHF_CACHE: process.env.XMHF_CACHE };
  Object.assign(process.env, env);
  try { fn(); } finally {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  }
}

test('without the tools and without apt, the step names the packages to install and fails, leaving the cache alone', () => {
  withScratch((dir) => {
    const emptyPath = join(dir, 'bin');
    mkdirSync(emptyPath);
    const cache = join(dir, 'cache');
    const r = step({ PATH: emptyPath, XMHF_CACHE: cache, HOME: dir });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /as, ld, gcc, objcopy, objdump not on PATH/);
    assert.match(r.stderr, /apt-cache is not on PATH either/);
    assert.match(r.stderr, /apt-get install binutils gcc libc6-dev/);
    assert.equal(existsSync(cache), false);
  });
});

test('with every tool on PATH the step does nothing and the host\'s tools are used as they are',
  { skip: hostHasToolchain() ? false : 'the host lacks some of as, ld, gcc, objcopy, objdump' }, () => {
    withScratch((cache) => {
      const r = step({ ...process.env, XMHF_CACHE: cache });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.deepEqual(readdirSync(cache), []);
      for (const tool of TOOLCHAIN_TOOLS) assert.deepEqual(toolCommand(tool), { file: tool, args: [], env: process.env });
    });
  });

test('without the tools on PATH, each runs from the unpacked tree (gcc with it as sysroot), and only once the tree is complete', () => {
  withScratch((dir) => {
    const root = join(dir, 'toolchain', 'root');
    mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
    withEnv({ PATH: join(dir, 'nothing-here'), XMHF_CACHE: dir }, () => {
      assert.throws(() => toolCommand('as'), (e: Error) => e instanceof ToolchainMissingError
        && /as, ld, gcc, objcopy, objdump not on PATH and no toolchain unpacked in .*: run `node --import tsx scripts\/toolchain.ts`/.test(e.message));
      writeFileSync(join(root, TOOLCHAIN_COMPLETE), '');
      const gcc = toolCommand('gcc');
      assert.equal(gcc.file, join(root, 'usr', 'bin', 'gcc'));
      assert.deepEqual(gcc.args, [`--sysroot=${root}`]);
      assert.equal(gcc.env.PATH, [join(root, 'usr', 'bin'), join(dir, 'nothing-here')].join(delimiter));
      assert.ok(gcc.env.LD_LIBRARY_PATH!.split(delimiter).includes(join(root, 'usr', 'lib', 'x86_64-linux-gnu')));
      assert.deepEqual(toolCommand('ld').args, []);
    });
  });
});
