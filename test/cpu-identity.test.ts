// The CPU's identity (CPUID vendor, family, model) must not make Linux apply a
// vendor quirk this CPU does not implement: those show up in the kernel log as
// unchecked MSR accesses (AMD erratum 400's C1E check read MSR 0xc0010055).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

test('Debian\'s kernel boots with no unchecked MSR access and no vendor erratum workaround', () => {
  // dmesg holds every level of the kernel log, whatever the console shows.
  const r = spawnSync(process.execPath, [XMHF, 'run', '--timeout', '150', '--exec', 'dmesg'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /smpboot: CPU0: AMD xmhf-ts x86-64 CPU \(WebAssembly\) \(family: 0xf/, 'the kernel identified the CPU, brand string kept');
  assert.doesNotMatch(r.stdout, /unchecked MSR access|RDMSR|WRMSR/);
  assert.doesNotMatch(r.stdout, /E400/, 'no AMD erratum 400 idle routine');
});
