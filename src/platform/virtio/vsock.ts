// virtio-vsock (virtio 1.2 section 5.10): stream sockets between the guest
// (CID 3) and the host (CID 2). Queue 0 holds the guest's receive buffers,
// queue 1 carries its packets, queue 2 (events) is never used. Each packet
// is a 44-byte header and a payload; flow control is by credit: each side
// advertises its buffer space (buf_alloc) and how much of what it received
// it has consumed (fwd_cnt), and never sends more than the other's free
// space. The host side of each connection is a ChannelPeer given by host
// code (a hypapp's listener through the platform's HostChannel seam, else
// the Unix socket of vsock-unix.ts); what it sends goes through a
// ChannelStream. Memory is bounded: the guest may not send beyond our
// credit, host data waits in a bounded outbox (write() says when to pause),
// and control packets waiting for receive buffers are capped.
import type { DescriptorChain, VirtioDevice, VirtioQueues, Virtqueue } from './device.js';
import { VirtioDeviceId } from './layout.js';
import type { ChannelPeer, ChannelStream, HostChannel } from '../platform.js';

// ---- the packet header (struct virtio_vsock_hdr, little-endian, packed) ----
export const VSOCK_HDR_SIZE = 44;
const H_SRC_CID = 0, H_DST_CID = 8, H_SRC_PORT = 16, H_DST_PORT = 20, H_LEN = 24, H_TYPE = 28, H_OP = 30;
const H_FLAGS = 32, H_BUF_ALLOC = 36, H_FWD_CNT = 40;
export const VSOCK_TYPE_STREAM = 1;
export const VsockOp = { REQUEST: 1, RESPONSE: 2, RST: 3, SHUTDOWN: 4, RW: 5, CREDIT_UPDATE: 6, CREDIT_REQUEST: 7 } as const;
/** SHUTDOWN flags: the sender will receive no more / send no more. */
export const SHUTDOWN_RCV = 1, SHUTDOWN_SEND = 2;
/** The host's CID, and the CID we give the guest (config space: le64 guest_cid). */
export const VSOCK_HOST_CID = 2;
export const VSOCK_DEFAULT_GUEST_CID = 3;

const RX_QUEUE = 0, TX_QUEUE = 1;
const QUEUE_SIZE = 128;
/** Receive buffer space we advertise per connection (the guest sends at most this much unconsumed data). */
const BUF_ALLOC = 256 * 1024;
/** Host data waiting for guest credit, per connection, before write() asks the writer to pause. */
const OUTBOX_LIMIT = 256 * 1024;
/** Control packets waiting for receive buffers (a guest that posts none cannot make us hoard them). */
const MAX_CONTROL = 1024;
/** Largest payload per packet (Linux's receive buffers are 4 KiB; bigger ones get this much). */
const MAX_PAYLOAD = 64 * 1024;
/** Ports the host gives connections it opens. */
const FIRST_HOST_PORT = 1 << 20;

/** Who answers the guest's connections to the host (CID 2) on ports no listener serves. */
export interface VsockHost {
  /** The guest connects to host port `port`: call accept with a peer, or with undefined to refuse (at once or later). */
  guestConnect(port: number, stream: ChannelStream, accept: (peer: ChannelPeer | undefined) => void): void;
  /** The run is over: stop taking connections. */
  close?(): void;
}

type State = 'host-accepting' | 'guest-accepting' | 'open' | 'closed';

class Connection implements ChannelStream {
  state: State;
  peer: ChannelPeer | undefined;
  /** Guest's credit: its buffer space and what it has consumed; what we have sent it. */
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  txCnt = 0;
  /** Bytes of the guest's we have received, and those host code has consumed (our fwd_cnt). */
  rxCnt = 0;
  fwdCnt = 0;
  advertisedFwd = 0;
  outbox: Uint8Array[] = [];
  outboxBytes = 0;
  hostEnded = false;
  shutdownSent = false;
  onDrain: (() => void) | undefined;
  /** Set when the host connected and waits to hear whether the guest accepted. */
  onResult: ((stream: ChannelStream | undefined) => void) | undefined;

  constructor(private readonly dev: VirtioVsock, readonly guestPort: number, readonly hostPort: number, state: State) {
    this.state = state;
  }

  get key(): string { return connKey(this.guestPort, this.hostPort); }
  get credit(): number { return this.peerBufAlloc - ((this.txCnt - this.peerFwdCnt) >>> 0); }

  write(bytes: Uint8Array): boolean {
    if (this.state === 'closed' || this.hostEnded) return false;
    if (bytes.length > 0) { this.outbox.push(bytes.slice()); this.outboxBytes += bytes.length; }
    this.dev.kickRx();
    return this.outboxBytes < OUTBOX_LIMIT;
  }

  end(): void {
    if (this.state === 'closed' || this.hostEnded) return;
    this.hostEnded = true;
    this.dev.kickRx();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.dev.rst(this.guestPort, this.hostPort);
    this.dev.drop(this, false);
    this.dev.kickRx();
  }
}

const connKey = (guestPort: number, hostPort: number) => `${guestPort}:${hostPort}`;

interface Packet { srcPort: number; dstPort: number; op: number; flags: number; conn?: Connection }

export class VirtioVsock implements VirtioDevice, HostChannel {
  readonly deviceType = VirtioDeviceId.SOCKET;
  readonly features = 0n;          // stream sockets only (VIRTIO_VSOCK_F_STREAM is implied without features)
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE, QUEUE_SIZE];
  readonly configSize = 8;
  /** Who answers guest connections on ports without a listener (none: they are refused). */
  host: VsockHost | undefined;
  /** Host ports served by host code in this process (hypapps), before `host`. */
  private readonly listeners = new Map<number, (stream: ChannelStream) => ChannelPeer | undefined>();
  private queues: VirtioQueues | undefined;
  private readonly conns = new Map<string, Connection>();
  private readonly control: Packet[] = [];
  private nextHostPort = FIRST_HOST_PORT;

  constructor(readonly name = 'virtio-vsock0', readonly guestCid = VSOCK_DEFAULT_GUEST_CID) {}

  configRead(offset: number, size: number): number {
    const cid = BigInt(this.guestCid);
    let v = 0;
    for (let i = 0; i < size; i++) v |= Number((cid >> BigInt(8 * (offset + i))) & 0xffn) << (8 * i);
    return v >>> 0;
  }
  configWrite(): void {}

  activate(queues: VirtioQueues): void { this.queues = queues; }

  reset(): void {
    this.queues = undefined;
    for (const c of [...this.conns.values()]) this.drop(c, true);
    this.control.length = 0;
  }

  /** The run is over: every connection ends and the host side stops listening. */
  close(): void {
    this.reset();
    this.host?.close?.();
  }

  notify(index: number): void {
    if (index === TX_QUEUE) this.receiveFromGuest();
    if (index === TX_QUEUE || index === RX_QUEUE) this.sendToGuest();
  }

  /** Serve guest connections to host port `port` with `accept` (undefined: stop); the device's reset keeps listeners. */
  listen(port: number, accept: ((stream: ChannelStream) => ChannelPeer | undefined) | undefined): void {
    if (accept) this.listeners.set(port, accept); else this.listeners.delete(port);
  }

  /**
   * Host code opens a connection to the guest's port `port`. `onResult`
   * hears the stream once the guest accepts, or undefined if it refuses or
   * the driver is not running.
   */
  connect(port: number, peer: ChannelPeer, onResult: (stream: ChannelStream | undefined) => void): void {
    if (!this.queues) { onResult(undefined); return; }
    const hostPort = this.allocateHostPort(port);
    const c = new Connection(this, port, hostPort, 'guest-accepting');
    c.peer = peer;
    c.onResult = onResult;
    this.conns.set(c.key, c);
    this.queueControl({ srcPort: hostPort, dstPort: port, op: VsockOp.REQUEST, flags: 0, conn: c });
    this.kickRx();
  }

  /** Open connections (for tests and reports). */
  get connections(): number { return this.conns.size; }

  // ---- guest to host ----

  private receiveFromGuest(): void {
    const q = this.queues?.get(TX_QUEUE);
    if (!q) return;
    for (let chain = q.pop(); chain; chain = q.pop()) {
      this.packetFromGuest(chain);
      chain.complete(0);
    }
  }

  private packetFromGuest(chain: DescriptorChain): void {
    const hdr = chain.read(0, VSOCK_HDR_SIZE);
    if (!hdr) return; // too short, or refused by dmaprot: dropped
    const v = new DataView(hdr.buffer, hdr.byteOffset, VSOCK_HDR_SIZE);
    const dstCid = v.getBigUint64(H_DST_CID, true), srcCid = v.getBigUint64(H_SRC_CID, true);
    const guestPort = v.getUint32(H_SRC_PORT, true), hostPort = v.getUint32(H_DST_PORT, true);
    const len = v.getUint32(H_LEN, true), type = v.getUint16(H_TYPE, true), op = v.getUint16(H_OP, true);
    if (dstCid !== BigInt(VSOCK_HOST_CID) || srcCid !== BigInt(this.guestCid)) return; // not for us: dropped
    if (type !== VSOCK_TYPE_STREAM) { this.rst(guestPort, hostPort); return; }
    const c = this.conns.get(connKey(guestPort, hostPort));
    if (c) {
      c.peerBufAlloc = v.getUint32(H_BUF_ALLOC, true);
      c.peerFwdCnt = v.getUint32(H_FWD_CNT, true);
    }
    switch (op) {
      case VsockOp.REQUEST: return this.guestRequest(c, guestPort, hostPort, v);
      case VsockOp.RESPONSE:
        if (c?.state !== 'guest-accepting') { this.rst(guestPort, hostPort); return; }
        c.state = 'open';
        c.onResult?.(c);
        c.onResult = undefined;
        return;
      case VsockOp.RW: {
        if (c?.state !== 'open') { this.rst(guestPort, hostPort); return; }
        // More than the chain holds, or than our credit allows: the guest broke the protocol; reset the connection.
        if (len > chain.readableLength - VSOCK_HDR_SIZE || len > MAX_PAYLOAD || c.rxCnt + len - c.fwdCnt > BUF_ALLOC) {
          this.rst(guestPort, hostPort);
          this.drop(c, true);
          return;
        }
        const payload = chain.read(VSOCK_HDR_SIZE, len);
        if (!payload) return; // refused by dmaprot: the data is lost, as with an I/O error
        c.rxCnt += len;
        c.peer?.data(payload, () => this.consumed(c, len));
        return;
      }
      case VsockOp.CREDIT_UPDATE: return;
      case VsockOp.CREDIT_REQUEST:
        if (c) this.queueControl({ srcPort: hostPort, dstPort: guestPort, op: VsockOp.CREDIT_UPDATE, flags: 0, conn: c });
        return;
      case VsockOp.SHUTDOWN: {
        if (!c) return;
        const flags = v.getUint32(H_FLAGS, true);
        if ((flags & (SHUTDOWN_RCV | SHUTDOWN_SEND)) === (SHUTDOWN_RCV | SHUTDOWN_SEND)) {
          this.rst(guestPort, hostPort);
          this.drop(c, true);
        } else if (flags & SHUTDOWN_SEND) c.peer?.end();
        return;
      }
      case VsockOp.RST:
        if (c) { c.onResult?.(undefined); c.onResult = undefined; this.drop(c, true); }
        return;
      default:
        this.rst(guestPort, hostPort);
    }
  }

  private guestRequest(existing: Connection | undefined, guestPort: number, hostPort: number, v: DataView): void {
    if (existing) { this.rst(guestPort, hostPort); this.drop(existing, true); return; }
    const listener = this.listeners.get(hostPort);
    if (!listener && !this.host) { this.rst(guestPort, hostPort); return; }
    const c = new Connection(this, guestPort, hostPort, 'host-accepting');
    c.peerBufAlloc = v.getUint32(H_BUF_ALLOC, true);
    c.peerFwdCnt = v.getUint32(H_FWD_CNT, true);
    this.conns.set(c.key, c);
    const accept = (peer: ChannelPeer | undefined) => {
      if (c.state !== 'host-accepting') return; // reset meanwhile
      if (!peer) { this.rst(guestPort, hostPort); this.drop(c, false); this.kickRx(); return; }
      c.peer = peer;
      c.state = 'open';
      this.queueControl({ srcPort: hostPort, dstPort: guestPort, op: VsockOp.RESPONSE, flags: 0, conn: c });
      this.kickRx();
    };
    if (listener) accept(listener(c)); else this.host!.guestConnect(hostPort, c, accept);
  }

  /** Host code consumed `n` bytes of the guest's: give the credit back once a quarter of the buffer is free again. */
  private consumed(c: Connection, n: number): void {
    if (c.state === 'closed') return;
    c.fwdCnt += n;
    if (c.fwdCnt - c.advertisedFwd >= BUF_ALLOC / 4 || c.fwdCnt === c.rxCnt) {
      this.queueControl({ srcPort: c.hostPort, dstPort: c.guestPort, op: VsockOp.CREDIT_UPDATE, flags: 0, conn: c });
      this.kickRx();
    }
  }

  // ---- host to guest ----

  /** Send what can be sent now (called from host events between guest instructions, and after notifications). */
  kickRx(): void {
    this.sendToGuest();
    this.queues?.get(RX_QUEUE)?.flush();
  }

  rst(guestPort: number, hostPort: number): void {
    this.queueControl({ srcPort: hostPort, dstPort: guestPort, op: VsockOp.RST, flags: 0 });
  }

  /** Forget `c`; tell its peer if `tellPeer`. */
  drop(c: Connection, tellPeer: boolean): void {
    if (c.state === 'closed') return;
    c.state = 'closed';
    this.conns.delete(c.key);
    c.outbox = [];
    c.outboxBytes = 0;
    c.onResult?.(undefined);
    c.onResult = undefined;
    if (tellPeer) c.peer?.closed();
  }

  private queueControl(p: Packet): void {
    if (this.control.length < MAX_CONTROL) this.control.push(p);
  }

  private sendToGuest(): void {
    const q = this.queues?.get(RX_QUEUE);
    if (!q) return;
    while (this.control.length > 0) {
      if (this.put(q, this.control[0], new Uint8Array(0)) === false) return;
      this.control.shift();
    }
    for (const c of [...this.conns.values()]) {
      if (c.state !== 'open') continue;
      while (c.outboxBytes > 0 && c.credit > 0) {
        const n = Math.min(c.outbox[0].length, c.credit, MAX_PAYLOAD);
        const chunk = c.outbox[0].subarray(0, n);
        const sent = this.put(q, { srcPort: c.hostPort, dstPort: c.guestPort, op: VsockOp.RW, flags: 0, conn: c }, chunk);
        if (sent === false) return;
        c.txCnt = (c.txCnt + sent) >>> 0;
        c.outboxBytes -= sent;
        if (sent === c.outbox[0].length) c.outbox.shift(); else c.outbox[0] = c.outbox[0].subarray(sent);
        if (c.outboxBytes < OUTBOX_LIMIT && c.outboxBytes + sent >= OUTBOX_LIMIT) c.onDrain?.();
      }
      if (c.hostEnded && c.outboxBytes === 0 && !c.shutdownSent) {
        if (this.put(q, { srcPort: c.hostPort, dstPort: c.guestPort, op: VsockOp.SHUTDOWN, flags: SHUTDOWN_SEND, conn: c }, new Uint8Array(0)) === false) return;
        c.shutdownSent = true;
      }
    }
  }

  /** One packet into the next receive buffer: the payload bytes that fit were sent, or false when there is no buffer. */
  private put(q: Virtqueue, p: Packet, payload: Uint8Array): number | false {
    for (;;) {
      const chain = q.pop();
      if (!chain) return false;
      if (chain.writableLength < VSOCK_HDR_SIZE) { chain.complete(0); continue; } // a buffer too small for a header: returned empty
      const body = payload.subarray(0, Math.min(payload.length, chain.writableLength - VSOCK_HDR_SIZE));
      const bytes = new Uint8Array(VSOCK_HDR_SIZE + body.length);
      const v = new DataView(bytes.buffer);
      v.setBigUint64(H_SRC_CID, BigInt(VSOCK_HOST_CID), true);
      v.setBigUint64(H_DST_CID, BigInt(this.guestCid), true);
      v.setUint32(H_SRC_PORT, p.srcPort, true);
      v.setUint32(H_DST_PORT, p.dstPort, true);
      v.setUint32(H_LEN, body.length, true);
      v.setUint16(H_TYPE, VSOCK_TYPE_STREAM, true);
      v.setUint16(H_OP, p.op, true);
      v.setUint32(H_FLAGS, p.flags, true);
      v.setUint32(H_BUF_ALLOC, BUF_ALLOC, true);
      v.setUint32(H_FWD_CNT, p.conn ? p.conn.fwdCnt >>> 0 : 0, true);
      bytes.set(body, VSOCK_HDR_SIZE);
      if (p.conn) p.conn.advertisedFwd = p.conn.fwdCnt;
      if (!chain.write(0, bytes)) { chain.complete(0); continue; } // refused by dmaprot: that buffer comes back empty
      chain.complete(bytes.length);
      return body.length;
    }
  }

  private allocateHostPort(guestPort: number): number {
    for (;;) {
      const port = this.nextHostPort;
      this.nextHostPort = this.nextHostPort >= 0xfffffff0 ? FIRST_HOST_PORT : this.nextHostPort + 1;
      if (!this.conns.has(connKey(guestPort, port))) return port;
    }
  }
}
