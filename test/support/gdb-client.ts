// A minimal GDB remote protocol client for tests of the stub: sends packets
// (or raw bytes) and waits for the next reply packet.
import { connect, type Socket } from 'node:net';
import { framePacket } from '../../src/gdb/packets.js';

export class GdbClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  /** '+' and '-' seen from the stub. */
  acks = '';
  private constructor(private readonly socket: Socket) {
    socket.on('data', (b) => {
      this.buffer += b.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(path: string): Promise<GdbClient> {
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return new GdbClient(socket);
  }

  raw(bytes: Uint8Array | string): void { this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes); }

  /** Send a packet and return the next reply (O packets, console output, are collected in `output`). */
  async request(payload: string, timeoutMs = 60_000): Promise<string> {
    this.raw(framePacket(payload));
    return this.reply(timeoutMs);
  }

  output = '';

  /** The next reply packet's payload (acknowledgements are skipped and recorded). */
  async reply(timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^([+-]*)\$([^#]*)#[0-9a-f]{2}/.exec(this.buffer);
      if (m) {
        this.acks += m[1];
        this.buffer = this.buffer.slice(m[0].length);
        const payload = m[2].replace(/\}(.)/g, (_, c: string) => String.fromCharCode(c.charCodeAt(0) ^ 0x20));
        if (this.socket.writable) this.raw('+');
        if (payload.startsWith('O') && payload !== 'OK') { this.output += Buffer.from(payload.slice(1), 'hex').toString(); continue; }
        return payload;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this.buffer.slice(0, 80))})`);
      await new Promise<void>((resolve) => { const t = setTimeout(resolve, left); this.waiters.push(() => { clearTimeout(t); resolve(); }); });
    }
  }

  /** Acknowledgements that arrived and are not part of a reply: waits up to 10 s for one, or `quietMs` when none is expected. */
  async pendingAcks(quietMs?: number): Promise<string> {
    const deadline = Date.now() + (quietMs ?? 10_000);
    while (Date.now() < deadline && (quietMs !== undefined || !/^[+-]/.test(this.buffer))) await new Promise((r) => setTimeout(r, 10));
    const m = /^[+-]*/.exec(this.buffer)![0];
    this.buffer = this.buffer.slice(m.length);
    return m;
  }

  close(): void { this.socket.end(); }
  get closed(): Promise<void> { return new Promise((resolve) => { if (this.socket.closed) resolve(); else this.socket.once('close', () => resolve()); }); }
}
