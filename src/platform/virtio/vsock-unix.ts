// The host side of virtio-vsock as Firecracker exposes it: a Unix socket at
// PATH. A host program connects to PATH and writes "CONNECT <port>\n"; once
// the guest accepts on that port it reads "OK <host port>\n" and the stream
// is the connection. A guest program connecting to CID 2 port P reaches a
// program listening on the Unix socket PATH_P. Data waits in bounded
// buffers: a host socket is paused while the guest has no room, and the
// guest gets credit back only as the host socket takes its bytes.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import type { VirtioVsock, VsockHost } from './vsock.js';
import type { ChannelPeer, ChannelStream } from '../platform.js';

/** Longest CONNECT line we wait for before giving up on a host client. */
const MAX_CONNECT_LINE = 64;

/** A problem with the --vsock path (reported before the guest boots). */
export class VsockPathError extends Error {}

export class VsockUnixHost implements VsockHost {
  private constructor(private readonly device: VirtioVsock, readonly path: string, private readonly server: Server) {}

  /** Listen on `path` (a stale socket there is replaced; any other file is an error) and answer the device's guest connections. */
  static async listen(device: VirtioVsock, path: string): Promise<VsockUnixHost> {
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
      else throw new VsockPathError(`--vsock ${path}: exists and is not a socket`);
    } catch (e) {
      if (e instanceof VsockPathError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new VsockPathError(`--vsock ${path}: ${(e as Error).message}`);
    }
    const server = createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new VsockPathError(`--vsock ${path}: cannot listen (${(e as NodeJS.ErrnoException).code ?? e.message})`)));
      server.listen(path, resolve);
    });
    server.unref(); // the socket never keeps the VM's thread alive on its own
    const host = new VsockUnixHost(device, path, server);
    server.on('connection', (socket) => host.hostClient(socket));
    device.host = host;
    return host;
  }

  close(): void { this.server.close(); }

  /** The guest connects to host port `port`: connect to PATH_port. */
  guestConnect(port: number, stream: ChannelStream, accept: (peer: ChannelPeer | undefined) => void): void {
    const socket = connect({ path: `${this.path}_${port}`, allowHalfOpen: true });
    socket.unref();
    let settled = false;
    socket.once('connect', () => { settled = true; accept(bridge(socket, stream)); });
    socket.once('error', () => { if (!settled) { settled = true; accept(undefined); } });
  }

  /** A host program connected to PATH: read its CONNECT line, then connect to the guest. */
  private hostClient(socket: Socket): void {
    socket.unref();
    let line = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      line = Buffer.concat([line, chunk]);
      const nl = line.indexOf(0x0a);
      if (nl < 0) {
        if (line.length > MAX_CONNECT_LINE) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const m = /^CONNECT (\d{1,10})$/.exec(line.subarray(0, nl).toString('latin1').trim());
      const rest = line.subarray(nl + 1);
      const port = m ? Number(m[1]) : -1;
      if (!m || port > 0xffffffff) { socket.end('ERROR bad CONNECT line\n'); return; }
      const early: ChannelPeer = { data: (b, done) => { socket.write(b, () => done()); }, end: () => socket.end(), closed: () => socket.destroy() };
      this.device.connect(port, early, (stream) => {
        if (!stream) { socket.destroy(); return; }
        socket.write(`OK ${stream.hostPort}\n`);
        if (rest.length > 0) stream.write(new Uint8Array(rest));
        bridge(socket, stream);
      });
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }
}

/** Join a host socket to a vsock stream both ways; returns the peer the device calls. */
function bridge(socket: Socket, stream: ChannelStream): ChannelPeer {
  socket.on('data', (chunk: Buffer) => { if (!stream.write(new Uint8Array(chunk))) socket.pause(); });
  stream.onDrain = () => socket.resume();
  socket.on('end', () => stream.end());
  // A clean close after both ends are done lets the guest close too; an error resets the connection.
  socket.on('close', (hadError) => { if (hadError) stream.close(); else stream.end(); });
  socket.on('error', () => stream.close());
  socket.resume();
  return {
    data: (bytes, done) => { socket.write(bytes, () => done()); },
    end: () => socket.end(),
    closed: () => socket.destroy(),
  };
}
