// End to end, several processors: Debian's kernel brings the application
// processors up through INIT-SIPI-SIPI (the MADT lists them), `nproc` counts
// them, a CPU goes offline and comes back, and a command pinned with taskset
// runs on the CPU it was pinned to. Needs the default guest (`xmhf guest`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

function xmhf(...args: string[]) {
  return spawnSync(process.execPath, [XMHF, ...args], { encoding: 'utf8', timeout: 280_000 });
}

/** The CPU a pinned shell runs on (field 39 of /proc/self/stat). */
const ON_CPU = (cpu: number) => `taskset -c ${cpu} sh -c 'cut -d" " -f39 /proc/self/stat'`;

for (const cpus of [2, 4, 8]) {
  test(`with --cpus ${cpus} Linux brings up ${cpus} processors; CPU 1 goes offline and back; taskset pins to the last CPU`, () => {
    const last = cpus - 1;
    const started = performance.now();
    const r = xmhf('run', '--timeout', '250', '--cpus', String(cpus), '--exec',
      'nproc; echo 0 > /sys/devices/system/cpu/cpu1/online; nproc; cat /sys/devices/system/cpu/online; ' +
      `echo 1 > /sys/devices/system/cpu/cpu1/online; nproc; ${ON_CPU(last)}; ${ON_CPU(1)}`);
    assert.equal(r.status, 0, `status ${r.status}; stderr: ${r.stderr}`);
    const [all, offline, onlineList, again, onLast, onOne] = r.stdout.trim().split('\n');
    assert.equal(all, String(cpus), 'nproc counts every processor');
    assert.equal(offline, String(cpus - 1), 'CPU 1 went offline');
    assert.equal(onlineList, cpus === 2 ? '0' : `0,2-${last}`, 'the online list skips CPU 1');
    assert.equal(again, String(cpus), 'CPU 1 came back online');
    assert.equal(onLast, String(last), 'a command pinned to the last CPU runs there');
    assert.equal(onOne, '1', 'and one pinned to the CPU that came back, there');
    assert.doesNotMatch(r.stderr, /did not power off/, 'the guest powered off with every CPU up');
    process.stdout.write(`# --cpus ${cpus}: boot, offline/online and power-off in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  });
}

test('--cpus outside 1..8 is refused with status 2, naming the flag', () => {
  for (const bad of ['0', '9', 'two']) {
    const r = xmhf('run', '--cpus', bad, '--exec', 'true');
    assert.equal(r.status, 2, `--cpus ${bad}: status ${r.status}`);
    assert.match(r.stderr, new RegExp(`--cpus ${bad}: not a number of processors from 1 to 8`));
  }
});
