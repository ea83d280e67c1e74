// Real gdb (Debian's) in batch mode against `xmhf run --gdb` with the default
// guest: attach to a running guest, load a symbol file made from the
// kernel's own symbols, break on a kernel function by name, read its
// arguments, step 10 instructions without entering an interrupt handler,
// see guest time stand still while held, watch a kernel variable, detach,
// and the guest's command runs to its end. Skips, saying why, without gdb.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');
const gdbMissing = spawnSync('gdb', ['--version']).error ? 'gdb is not installed (Debian: apt-get install gdb)' : false;
if (gdbMissing) console.log(`# skipping the gdb end-to-end test: ${gdbMissing}`);

/** The guest prints its own kallsyms lines the test checks the symbol file against, says it is ready, then opens a file every second for a while. */
const COMMAND = [
  'echo 0 > /proc/sys/kernel/kptr_restrict',
  'grep -E " (do_sys_openat2|jiffies)$" /proc/kallsyms',
  'echo gdb-now',
  'for i in $(seq 30); do cat /proc/version > /dev/null; sleep 1; done',
  'echo loop-done',
].join('; ');

test('gdb attaches, breaks on do_sys_openat2 by name, reads its arguments, steps 10 without interrupts, watches jiffies, detaches; the guest finishes', { skip: gdbMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-e2e-gdb-'));
  const sock = join(dir, 'gdb.sock');
  const xmhf = spawn(process.execPath, [XMHF, 'run', '--gdb', `unix:${sock}`, '--timeout', '600', '--exec', COMMAND], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  xmhf.stderr.on('data', (b) => { stderr += b; });
  const ended = new Promise<number | null>((resolve) => xmhf.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    xmhf.stdout.on('data', (b) => { stdout += b; if (stdout.includes('gdb-now')) resolve(); });
    void ended.then(() => reject(new Error(`xmhf ended before the guest was ready: ${stderr}`)));
  });
  const kallsyms = new Map([...stdout.matchAll(/^([0-9a-f]{16}) (\w) (\w+)$/gm)].map((m) => [m[3], BigInt(`0x${m[1]}`)]));
  assert.equal(kallsyms.size, 2, stdout);
  const openat2 = kallsyms.get('do_sys_openat2')!;
  const syms = join(dir, 'vmlinux.syms');

  const script = join(dir, 'script.gdb');
  writeFileSync(script, `set pagination off
set confirm off
target remote ${sock}
monitor symbols ${syms}
symbol-file ${syms}
info address do_sys_openat2
info address jiffies
break do_sys_openat2
continue
printf "ARGS dfd=%d filename=%s\\n", $rdi, (char *)$rsi
delete
printf "JIFFIES-BEFORE %lu\\n", *(unsigned long *)&jiffies
shell sleep 3
printf "JIFFIES-AFTER %lu\\n", *(unsigned long *)&jiffies
set $i = 0
while $i < 10
  stepi
  printf "STEP %d 0x%lx ", $i, $pc
  info symbol $pc
  set $i = $i + 1
end
watch *(unsigned long *)&jiffies
continue
delete
detach
`);
  const gdb = spawnSync('gdb', ['-batch', '-nx', '-x', script], { encoding: 'utf8', timeout: 300_000 });
  const out = gdb.stdout + gdb.stderr;
  const status = await ended;
  assert.equal(gdb.status, 0, out);
  // The stub wrote the kernel's symbols, found in guest memory; they agree with the guest's /proc/kallsyms.
  assert.match(out, /\d{5,} kernel symbols written to/, out);
  for (const [name, address] of kallsyms) assert.match(out, new RegExp(`Symbol "${name}" is at 0x${address.toString(16)} `), name);
  assert.match(out, /Breakpoint 1 at 0x[0-9a-f]+/);
  assert.match(out, /Breakpoint 1, 0x[0-9a-f]+ in do_sys_openat2 \(\)/, out);
  // open("/proc/version") from cat (or the shell's own opens): AT_FDCWD and a path.
  const args = /ARGS dfd=(-?\d+) filename=(.*)/.exec(out);
  assert.ok(args, out);
  assert.equal(Number(args[1]), -100, 'dfd is AT_FDCWD');
  assert.match(args[2], /^\/[\x21-\x7e]*$/, 'the filename is a path read from the caller\'s memory');
  // Held for 3 s of host time: jiffies did not move.
  const before = /JIFFIES-BEFORE (\d+)/.exec(out)?.[1], after = /JIFFIES-AFTER (\d+)/.exec(out)?.[1];
  assert.ok(before && after, out);
  assert.equal(after, before, 'guest time stands still while gdb holds the guest');
  // Ten single steps, all in do_sys_openat2 or what it calls, none in an interrupt or exception entry.
  const steps = [...out.matchAll(/^STEP (\d) 0x([0-9a-f]+) (.*)$/gm)];
  assert.equal(steps.length, 10, out);
  for (const s of steps) {
    assert.doesNotMatch(s[3].split(' ')[0], /^(asm_|common_interrupt|sysvec_|__sysvec_|irq_|error_entry|entry_)/, `step ${s[1]} at ${s[2]}: ${s[3]}`);
  }
  assert.match(steps[0][3], /do_sys_openat2 \+ \d+/, 'the first step stays in the function');
  assert.ok(BigInt(`0x${steps[0][2]}`) > openat2 && BigInt(`0x${steps[0][2]}`) < openat2 + 64n);
  // The watchpoint on jiffies fires with the value before and after the write.
  const w = /Hardware watchpoint 2: \*\(unsigned long \*\)&jiffies\s+Old value = (\d+)\s+New value = (\d+)/.exec(out);
  assert.ok(w, out);
  assert.equal(BigInt(w[2]), BigInt(w[1]) + 1n);
  assert.match(out, /Detaching from program|\[Inferior 1 \(Remote target\) detached\]/);
  // The guest ran on to its command's end.
  assert.equal(status, 0, stderr);
  assert.match(stdout, /loop-done/);
  assert.match(stderr, /\[gdb\] gdb attached/);
});
