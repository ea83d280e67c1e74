// `xmhf run --gdb PORT|unix:PATH [--gdb-wait]`: the gdb stub as a built-in
// hypapp of the VM's thread. It listens once the VM is built (init), takes
// one gdb at a time, stops the guest when gdb attaches (or, with wait, before
// the guest's first instruction) and lets it run again when gdb detaches or
// goes away. Bad listen addresses fail the start with a message naming them.
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import type { Hypapp } from '../hypapp/api.js';
import { GdbSession } from './session.js';
import { StubTarget, SIGTRAP } from './stub.js';

export interface GdbStubOptions {
  /** A TCP port on 127.0.0.1 ("1234") or a Unix socket ("unix:/tmp/gdb.sock"). */
  listen: string;
  /** Hold the guest before its first instruction until gdb attaches and resumes it. */
  wait?: boolean;
}

export type ListenAddress = { port: number } | { path: string };

/** Parse --gdb's value; throws a RangeError naming what is wrong. */
export function parseListen(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw new RangeError('--gdb unix: needs a socket path');
    return { path };
  }
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`--gdb ${text}: not a TCP port (1-65535) or unix:PATH`);
  return { port };
}

/** The stub hypapp: listening from its init, closed at shutdown. */
export function gdbStub(o: GdbStubOptions): Hypapp {
  const address = parseListen(o.listen);
  const target = new StubTarget();
  let server: Server | undefined;
  let client: { socket: Socket; session: GdbSession } | undefined;

  const accept = (socket: Socket) => {
    if (client) {
      socket.end('$E01#a6');
      return;
    }
    socket.setNoDelay(true);
    const session = new GdbSession(target, {
      write: (bytes) => { if (!socket.destroyed) socket.write(bytes); },
      close: () => socket.end(),
      log: (line) => target.x.log(line),
    });
    client = { socket, session };
    target.onStop = (s) => session.stopped(s);
    // gdb finds the target stopped when it attaches (as with QEMU's stub).
    if (!target.stopped) target.interrupt(SIGTRAP);
    target.x.log('gdb attached');
    socket.on('data', (b) => session.receive(b));
    socket.on('error', () => { /* the close below tidies up */ });
    socket.on('close', () => {
      if (client?.socket !== socket) return;
      client = undefined;
      target.onStop = undefined;
      target.detach();
      target.x.log('gdb detached; the guest runs on');
    });
  };

  return target.hypapp(async (x) => {
    if ('path' in address && existsSync(address.path)) throw new Error(`--gdb unix:${address.path}: the file exists (remove it or choose another path)`);
    server = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (e) => reject(new Error(`--gdb ${o.listen}: ${e.message}`)));
      if ('port' in address) server!.listen(address.port, '127.0.0.1', resolve);
      else server!.listen(address.path, resolve);
    });
    if (o.wait) target.holdGuest();
    x.log(`listening on ${'port' in address ? `127.0.0.1:${address.port}` : address.path}${o.wait ? '; the guest waits for gdb to attach and continue' : ''} (gdb: target remote ${'port' in address ? `:${address.port}` : address.path})`);
  }, () => {
    client?.session.exited(0);
    client?.socket.end();
    client = undefined;
    server?.close();
  });
}
