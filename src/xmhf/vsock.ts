// x.vsock: the platform's host channel (virtio-vsock) as hypapps use it. The
// device reports connections and bytes at any moment (inside a guest's
// device access, from the host's event loop); hypapps hear of them between
// guest instructions, one callback at a time, in the order they happened,
// each through the hub's call() (watched by the watchdog; a throw stops the
// VM). Bytes from the guest are acknowledged, giving the guest its credit
// back, only once the hypapp's onData has taken them, so a hypapp that does
// not read holds up the guest's sender, not the host's memory.
import type { HypappVsock, VsockConnection, VsockListener } from '../hypapp/api.js';
import type { ChannelPeer, ChannelStream, HostChannel } from '../platform/platform.js';
import type { GuestClock } from '../platform/device.js';

/** What the service needs of the core. */
export interface VsockServiceDeps {
  channel: HostChannel;
  clock: GuestClock;
  /** Run `fn` where no vCPU is halfway through an instruction. */
  outsideGuest(fn: () => void): void;
  /** Hypapp `app`'s callback `what`, through the hub; false if it failed (the VM is stopping). */
  call(app: number, what: string, fn: () => unknown): boolean;
}

/** Ports are 32-bit; the guest's own tool and Linux take any of them. */
const MAX_PORT = 0xffff_ffff;

export class VsockService {
  private readonly tasks: Array<() => void> = [];
  private scheduled = false;
  private ended = false;
  /** Hypapps whose callback failed: they hear nothing more. */
  private readonly failed = new Set<number>();
  /** Listened ports, and the hypapp that listens on each. */
  private readonly ports = new Map<number, string>();

  constructor(private readonly d: VsockServiceDeps) {}

  /** x.vsock for hypapp number `app`, named `name`. */
  forApp(app: number, name: string): HypappVsock {
    return {
      guestCid: this.d.channel.guestCid,
      listen: (port, onConnect) => this.listen(app, name, port, onConnect),
      connect: (port, onResult) => {
        checkPort('connect', port);
        if (typeof onResult !== 'function') throw new TypeError('vsock.connect: onResult must be a function');
        const conn = new HypappConnection(this, app, port);
        this.d.channel.connect(port, conn.peer, (stream) => {
          if (stream) conn.attach(stream);
          this.deliver(app, 'vsock connect', () => onResult(stream ? conn : undefined));
        });
      },
    };
  }

  /** The run is over: no callback runs any more. */
  end(): void {
    this.ended = true;
    this.tasks.length = 0;
  }

  private listen(app: number, name: string, port: number, onConnect: (conn: VsockConnection) => void): VsockListener {
    checkPort('listen', port);
    if (typeof onConnect !== 'function') throw new TypeError('vsock.listen: onConnect must be a function');
    const owner = this.ports.get(port);
    if (owner !== undefined) throw new Error(`vsock.listen: port ${port} is already taken by hypapp ${owner}`);
    this.ports.set(port, name);
    this.d.channel.listen(port, (stream) => {
      if (this.ended || this.failed.has(app)) return undefined;
      const conn = new HypappConnection(this, app, stream.guestPort);
      conn.attach(stream);
      this.deliver(app, 'vsock listen', () => onConnect(conn));
      return conn.peer;
    });
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        this.ports.delete(port);
        this.d.channel.listen(port, undefined);
      },
    };
  }

  /** Call hypapp `app`'s `fn` in turn with every other delivery, between guest instructions. */
  deliver(app: number, what: string, fn: () => unknown): void {
    this.schedule(() => {
      if (this.failed.has(app)) return;
      if (!this.d.call(app, what, fn)) this.failed.add(app);
    });
  }

  /**
   * Queue `task`. The queue is run from a timer due at once: timers fire
   * between slices (or wait for the slice to end), never inside another
   * hypapp callback, so deliveries never nest.
   */
  schedule(task: () => void): void {
    if (this.ended) return;
    this.tasks.push(task);
    if (this.scheduled) return;
    this.scheduled = true;
    this.d.clock.at(this.d.clock.nowNs(), () => this.d.outsideGuest(() => {
      this.scheduled = false;
      // Tasks a callback queues run in this same pass, after those before them.
      for (let task = this.tasks.shift(); task; task = this.tasks.shift()) task();
    }));
  }
}

type Incoming = { bytes: Uint8Array; done: () => void } | 'end' | 'close';

/** One connection as a hypapp sees it, and the peer the device reports it to. */
class HypappConnection implements VsockConnection {
  private stream: ChannelStream | undefined;
  /** What the guest sent or did, not yet delivered (data waits for an onData). */
  private readonly incoming: Incoming[] = [];
  private dataCb: ((bytes: Uint8Array) => void) | undefined;
  private endCb: (() => void) | undefined;
  private drainCb: (() => void) | undefined;
  private closeCb: (() => void) | undefined;
  private full = false;
  /** The hypapp closed its side. */
  private closing = false;
  /** The connection is gone on the device; the hypapp may not know yet. */
  private gone = false;
  /** The hypapp was told (onClose). */
  private told = false;

  readonly peer: ChannelPeer = {
    data: (bytes, done) => this.arrived({ bytes, done }),
    end: () => this.arrived('end'),
    closed: () => { this.gone = true; this.arrived('close'); },
  };

  constructor(private readonly service: VsockService, private readonly app: number, readonly guestPort: number) {}

  get hostPort(): number { return this.stream?.hostPort ?? 0; }

  attach(stream: ChannelStream): void {
    this.stream = stream;
    stream.onDrain = () => {
      this.full = false;
      this.service.deliver(this.app, 'vsock onDrain', () => this.drainCb?.());
    };
  }

  write(data: Uint8Array | string): boolean {
    const where = `vsock port ${this.guestPort}`;
    if (this.told || this.closing || !this.stream) throw new Error(`${where}: write on a closed connection`);
    if (this.gone) return false; // onClose is on its way
    if (this.full) throw new Error(`${where}: write while the queue is full (the guest is not reading; wait for onDrain)`);
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`${where}: write takes a Uint8Array or a string`);
    this.full = !this.stream.write(bytes);
    return !this.full;
  }

  onData(cb: (bytes: Uint8Array) => void): void { this.dataCb = cb; this.pumpLater(); }
  onEnd(cb: () => void): void { this.endCb = cb; }
  onDrain(cb: () => void): void { this.drainCb = cb; }
  onClose(cb: () => void): void { this.closeCb = cb; }

  close(): void {
    if (this.closing || this.gone) return;
    this.closing = true;
    this.stream?.end();
  }

  private arrived(e: Incoming): void {
    this.incoming.push(e);
    this.pumpLater();
  }

  private pumpLater(): void { this.service.schedule(() => this.pump()); }

  /** Deliver what arrived, in order, up to data nobody takes yet. */
  private pump(): void {
    while (this.incoming.length > 0) {
      const e = this.incoming[0]!;
      if (typeof e === 'object' && !this.dataCb) return;
      this.incoming.shift();
      if (typeof e === 'object') {
        const cb = this.dataCb!;
        this.service.deliver(this.app, 'vsock onData', () => cb(e.bytes));
        this.service.schedule(e.done);
      } else if (e === 'end') {
        this.service.deliver(this.app, 'vsock onEnd', () => this.endCb?.());
      } else {
        this.service.deliver(this.app, 'vsock onClose', () => { this.told = true; return this.closeCb?.(); });
      }
    }
  }
}

function checkPort(what: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) throw new RangeError(`vsock.${what}: port ${port} is not an integer from 0 to ${MAX_PORT}`);
}
