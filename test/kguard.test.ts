// kguard arms only once the kernel has write-protected its own code, waits
// (never stops or hangs the guest) when asked to arm earlier, and warns when
// it never armed. The default Debian guest, end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest } from './support/guest-run.js';
import { loadHypapp } from '../src/xmhf/loader.js';

test('kguard arm=after:1 waits through early boot (the kernel\'s image still writable), arms later, and then denies a write to kernel code', async () => {
  const r = await runGuest({
    hypapps: [await loadHypapp('kguard', { arm: 'after:1' })],
    // Armed this early, kguard would deny the modules /init loads (new kernel code, by design).
    guest: { modules: [] },
    command: '(echo 1 > /proc/sys/kernel/sched_schedstats); echo poked; ls /bin | wc -l; echo user-ok',
  });
  assert.equal(r.status, 0, `${r.stop.reason} ${r.stop.detail ?? ''}\n${r.logs.join('\n')}`);
  const waiting = r.logs.findIndex((l) => /^\[kguard\] waiting to arm: /.test(l));
  const armed = r.logs.findIndex((l) => /^\[kguard\] armed: \d+ pages of kernel code/.test(l));
  assert.ok(waiting >= 0 && armed > waiting, `waited, then armed:\n${r.logs.join('\n')}`);
  const event = r.events.find((e) => e.event === 'armed');
  // Only code: Debian's kernel text is about 16 MiB; its whole image (code and data) over 50.
  assert.ok(event && Number(event.codePages) > 1000 && Number(event.codePages) < 8192, `code pages: ${event?.codePages}`);
  assert.ok(r.events.some((e) => e.event === 'write-denied'), 'the jump-label patch of kernel code was denied');
  const out = r.output.split('\n');
  assert.ok(out.includes('poked') && out.includes('user-ok'), r.output);
  assert.ok(r.logs.every((l) => !/warning/.test(l)), r.logs.join('\n'));
});

test('kguard arm=ready with an init that never says ready: the guest runs unharmed and kguard warns at shutdown that it never armed', async () => {
  const r = await runGuest({
    hypapps: [await loadHypapp('kguard')],
    guest: { hypercallTool: undefined }, // so /init never runs `xmhf-hypercall ready`
    command: 'echo ran',
  });
  assert.equal(r.status, 0, r.stop.detail);
  assert.equal(r.output, 'ran');
  assert.ok(!r.events.some((e) => e.event === 'armed'));
  assert.ok(r.logs.some((l) => /^\[kguard\] warning: never armed, kernel code was not protected: the guest never said it had booted/.test(l)),
    r.logs.join('\n'));
});
