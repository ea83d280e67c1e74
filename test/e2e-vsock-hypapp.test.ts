// End to end: a hypapp talks to programs in the real guest over virtio-vsock
// through x.vsock, with no hypercall: it connects to a guest program that
// listens, and answers one that connects to it; beside it, the Unix socket
// of --vsock keeps serving the ports the hypapp does not. (Each side answers
// only after the other's end: the guest kernel sends from a worker, so what
// a guest program sends just before the run ends may never leave the guest.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runGuest } from './support/guest-run.js';
import { vmlinux } from './support/vmlinux.js';
import { createVm, HypappInitError } from '../src/vmm.js';
import type { Hypapp, VsockConnection } from '../src/hypapp/api.js';

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const ROOT = join(import.meta.dirname, '..');

test('a hypapp connects to a guest program that listens, and answers one that connects to it (x.vsock); --vsock serves the other ports', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-vsock-'));
  const path = join(dir, 'v.sock');
  try {
    // The Unix socket's side of port 5001: a host program that answers what it read.
    let unixHeard = '';
    const server = createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d) => { unixHeard += d.toString(); });
      s.on('end', () => s.end('unix socket says hi\n'));
    });
    await new Promise<void>((resolve) => server.listen(`${path}_5001`, resolve));

    const log: string[] = [];
    const agent: Hypapp = {
      name: 'agent',
      devices: ['vsock'],
      init(x) {
        assert.ok(x.vsock, 'x.vsock is there');
        assert.equal(x.vsock.guestCid, 3);
        // Guest -> hypapp: collect until the guest's end, then answer and close.
        x.vsock.listen(5000, (conn) => {
          let heard = '';
          log.push('accepted');
          conn.onData((b) => { heard += text(b); });
          conn.onEnd(() => {
            log.push(`guest connector said ${JSON.stringify(heard)}`);
            conn.write(`hypapp heard ${heard.trim()}\n`);
            conn.close();
          });
          conn.onClose(() => log.push('accepted connection closed'));
        });
        assert.throws(() => x.vsock!.listen(5000, () => {}), /vsock\.listen: port 5000 is already taken by hypapp agent/);
        assert.throws(() => x.vsock!.listen(-1, () => {}), /vsock\.listen: port -1 is not an integer/);
      },
      // Hypapp -> guest: try port 6000 until the guest program listens there.
      onGuestReady(x) {
        const retry = x.every(100, () => x.vsock!.connect(6000, (conn?: VsockConnection) => {
          if (!conn) return; // not listening yet
          retry.cancel();
          log.push(`connected to guest port ${conn.guestPort}`);
          let heard = '';
          conn.onData((b) => { heard += text(b); });
          conn.onEnd(() => {
            log.push(`guest listener said ${JSON.stringify(heard)}`);
            assert.equal(conn.write('ping-from-hypapp\n'), true);
            conn.close();
            assert.throws(() => conn.write('more'), /write on a closed connection/);
          });
          conn.onClose(() => log.push('connection closed'));
        }));
      },
    };
    const r = await runGuest({
      hypapps: [agent],
      vsock: path,
      timeoutMs: 240_000,
      command: 'echo pong-from-guest | xmhf-hypercall vsock-listen 6000; echo "listen status $?"; ' +
        'echo hello | xmhf-hypercall vsock-connect 5000; echo "connect status $?"; ' +
        'echo to-unix | xmhf-hypercall vsock-connect 5001; echo "unix status $?"',
    });
    server.close();
    assert.equal(r.status, 0, `${r.output}\n${r.logs.join('\n')}`);
    assert.deepEqual(r.output.trim().split('\n'), [
      'ping-from-hypapp', 'listen status 0',
      'hypapp heard hello', 'connect status 0',
      'unix socket says hi', 'unix status 0',
    ]);
    assert.equal(unixHeard, 'to-unix\n');
    assert.deepEqual(log, [
      'connected to guest port 6000', 'guest listener said "pong-from-guest\\n"', 'connection closed',
      'accepted', 'guest connector said "hello\\n"', 'accepted connection closed',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the README\'s vsock agent runs as documented: `xmhf run --hypapp agent.ts` with no --vsock answers the guest', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const code = /<!-- vsock-agent -->\n```ts\n([\s\S]*?)```\n<!-- \/vsock-agent -->/.exec(readme)?.[1];
  assert.ok(code, 'the README has the agent');
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-agent-'));
  try {
    const file = join(dir, 'agent.ts');
    writeFileSync(file, code);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'xmhf.js'), 'run', '--hypapp', file, '--timeout', '150',
      '--exec', 'echo hello | xmhf-hypercall vsock-connect 5000'], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'agent heard hello');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('x.vsock is there when a hypapp declares devices: [\'vsock\'] or the VM has vsock, undefined otherwise; an unknown device is refused', async () => {
  const kernel = vmlinux({ entry: 0x1000000 });
  const quiet = { log: () => {}, serialOutput: () => {}, kernel, cmdline: '' };
  const seen: Record<string, boolean> = {};
  const probe = (name: string, extra: Partial<Hypapp> = {}): Hypapp => ({ name, ...extra, init(x) { seen[name] = x.vsock !== undefined; } });
  await createVm({ ...quiet, hypapps: [probe('plain')] });
  await createVm({ ...quiet, hypapps: [probe('declares', { devices: ['vsock'] }), probe('beside')] });
  await createVm({ ...quiet, vsock: true, hypapps: [probe('option')] });
  assert.deepEqual(seen, { plain: false, declares: true, beside: true, option: true });
  await assert.rejects(createVm({ ...quiet, hypapps: [{ name: 'odd', devices: ['disk'] } as unknown as Hypapp] }),
    (e: Error) => e instanceof HypappInitError && e.message === "hypapp odd: devices must be a list of 'vsock'");
});
