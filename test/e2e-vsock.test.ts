// End to end: host programs and guest programs talk over virtio-vsock, the
// host side being the Unix socket of --vsock PATH (Firecracker's scheme), the
// guest side Debian's vsock modules and `xmhf-hypercall vsock-connect` /
// `vsock-listen`. Both directions in one run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const XMHF = join(import.meta.dirname, '..', 'bin', 'xmhf.js');

/** Connect to PATH, ask for the guest's port; resolves with the socket after "OK n", or undefined if refused. */
function connectToGuest(path: string, port: number): Promise<{ socket: Socket; ok: string } | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path, allowHalfOpen: true });
    let line = '';
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(undefined));
    // Refused (the guest is not listening yet): the VMM closes its side.
    socket.on('end', () => { if (!line.includes('\n')) { socket.destroy(); resolve(undefined); } });
    socket.on('data', function first(chunk) {
      line += chunk.toString('latin1');
      const nl = line.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', first);
      resolve({ socket, ok: line.slice(0, nl) });
    });
    socket.write(`CONNECT ${port}\n`);
  });
}

test('a guest program and host programs exchange messages over vsock both ways (--vsock PATH)', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-vsock-'));
  const path = join(dir, 'v.sock');
  try {
    // Guest -> host: a listener at PATH_5000 answers what it read.
    let guestSaid = '';
    const server = createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d) => { guestSaid += d.toString(); });
      s.on('end', () => s.end(`host heard ${guestSaid.trim()}\n`));
    });
    await new Promise<void>((resolve) => server.listen(`${path}_5000`, resolve));

    const vm = spawn(process.execPath, [XMHF, 'run', '--timeout', '200', '--vsock', path, '--exec',
      'echo hello-from-guest | xmhf-hypercall vsock-connect 5000; echo "connect status $?"; ' +
      'echo pong-from-guest | xmhf-hypercall vsock-listen 6000; echo "listen status $?"'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    vm.stdout.on('data', (d) => { stdout += d; });
    vm.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => vm.on('exit', resolve));

    // Host -> guest: try until the guest listens on port 6000 (a refused CONNECT closes the socket).
    let hostHeard = '', ok = '';
    for (let tries = 0; tries < 600 && vm.exitCode === null; tries++) {
      const c = await connectToGuest(path, 6000);
      if (!c) { await new Promise((r) => setTimeout(r, 250)); continue; }
      ok = c.ok;
      c.socket.on('data', (d) => { hostHeard += d.toString(); });
      const closed = new Promise((r) => c.socket.on('close', r));
      c.socket.end('ping-from-host\n');
      await closed;
      break;
    }
    const status = await exited;
    server.close();
    assert.equal(status, 0, stderr);
    assert.equal(guestSaid, 'hello-from-guest\n');
    assert.match(ok, /^OK \d+$/);
    assert.equal(hostHeard, 'pong-from-guest\n');
    assert.deepEqual(stdout.trim().split('\n'), ['host heard hello-from-guest', 'connect status 0', 'ping-from-host', 'listen status 0']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--vsock on a path that is not a socket is refused before boot, naming the flag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-vsock-'));
  try {
    const r = spawn(process.execPath, [XMHF, 'run', '--vsock', dir, '--exec', 'true']);
    let stderr = '';
    r.stderr.on('data', (d) => { stderr += d; });
    const code = await new Promise((resolve) => r.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /--vsock .*exists and is not a socket/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
