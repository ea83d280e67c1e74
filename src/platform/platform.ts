// What a hypervisor core sees of a platform: the machine it built on a
// backend, its clock, the exits it serves itself, and how a run ends. The PC
// (pc.ts) implements it; the core (src/xmhf) knows only this file and the
// device interfaces, never the PC's classes.
import type { Exit, Machine, Vcpu } from '../backend/interface.js';
import type { GuestClock } from './device.js';

/** How a run ended. */
export type RunStop =
  | { kind: 'reset' }
  | { kind: 'poweroff' }
  | { kind: 'triple-fault'; rip: bigint }
  | { kind: 'timeout' }
  /** The host ended the run (its user, a host program, the CLI). */
  | { kind: 'stopped'; detail?: string }
  /** The host process got a signal (SIGINT, SIGTERM, SIGHUP). */
  | { kind: 'signal'; signal: string }
  /** The CPU halted with interrupts off and nothing that can wake it. */
  | { kind: 'guest-halted'; rip: bigint }
  /** The hypervisor core ended the run (a hypapp's verdict, an unhandled event). */
  | { kind: 'halted-by-core'; message: string };

/** MMIO hooks of the hypervisor core: return undefined to let the platform serve the access. */
export interface MmioInterposer {
  read(gpa: number, size: number, vcpu: number): number | undefined;
  /** True if the write was consumed. */
  write(gpa: number, size: number, value: number, vcpu: number): boolean;
}

/**
 * Devices' only way into guest RAM (XMHF's dmaprot decides what they may
 * touch). `device` names the device for the hypervisor's reports. A refused
 * access touches nothing and returns false or undefined.
 */
export interface DmaPort {
  write(device: string, gpa: number, bytes: Uint8Array): boolean;
  read(device: string, gpa: number, length: number): Uint8Array | undefined;
}

/**
 * The host's end of a stream connection with a guest program (a
 * virtio-vsock connection): what the guest sends arrives here.
 */
export interface ChannelPeer {
  /** Bytes from the guest; call done() once they are consumed (the guest gets its credit back). */
  data(bytes: Uint8Array, done: () => void): void;
  /** The guest will send nothing more (it may still read). */
  end(): void;
  /** The connection is gone (closed or reset by the guest, or the device reset). */
  closed(): void;
}

/** What host code sends to a guest program through. */
export interface ChannelStream {
  /** The guest's port and ours. */
  readonly guestPort: number;
  readonly hostPort: number;
  /** Queue bytes for the guest; false when the outbox is over its limit (wait for onDrain before writing more). */
  write(bytes: Uint8Array): boolean;
  /** Called when a full outbox has room again. */
  onDrain: (() => void) | undefined;
  /** The host will send nothing more (after what is queued). */
  end(): void;
  /** Close the connection at once (the guest sees a reset). */
  close(): void;
}

/**
 * Stream connections between host code and guest programs (virtio-vsock,
 * the host being CID 2): the seam through which the core offers them to
 * hypapps. Calls return at once; results come later, from inside a device
 * access or the host's event loop.
 */
export interface HostChannel {
  /** The guest's address on the channel (its vsock context ID). */
  readonly guestCid: number;
  /**
   * Serve the guest's connections to host port `port` with `accept`, before
   * any other host side (undefined: stop). `accept` returns the peer of an
   * accepted connection, or undefined to refuse it.
   */
  listen(port: number, accept: ((stream: ChannelStream) => ChannelPeer | undefined) | undefined): void;
  /** Connect to a guest program listening on `port`; `onResult` hears the stream, or undefined if refused. */
  connect(port: number, peer: ChannelPeer, onResult: (stream: ChannelStream | undefined) => void): void;
}

/** What the hypervisor core hands a platform when it is built. */
export interface PlatformHooks {
  /**
   * Called for every exit the platform does not own itself (anything but an
   * exhausted budget, a halt or a stop request). Returning a RunStop ends the run.
   */
  exit?: (vcpu: Vcpu, exit: Exit) => RunStop | undefined;
  /** Interposes on MMIO outside guest RAM before the platform's devices see it. */
  mmio?: MmioInterposer;
  /** Devices write and read guest RAM through this (default: all of RAM, as on a bare machine). */
  dma?: DmaPort;
}

export interface Platform {
  readonly machine: Machine;
  /** Guest time, with timers (hypapps' timers run on it). */
  readonly clock: GuestClock;
  /** Guest-physical address of the firmware's ACPI RSDP, for the boot loader. */
  readonly rsdpAddr: number;
  /** CPU controls the platform needs in every composition of intercepts (Control bits). */
  readonly controls: number;
  /** MSR accesses the platform's devices intercept. */
  readonly msrIntercepts: ReadonlyArray<{ index: number; read: boolean; write: boolean }>;
  /** A port access as the platform's devices answer it (for exits a hypapp passes on). */
  portIn(port: number, size: number): number;
  portOut(port: number, size: number, value: number): void;
  /** Complete an exit the platform serves itself (its device MSRs, VMCALL on bare hardware); false for any other. */
  servePlatformExit(exit: Exit, vcpu: Vcpu): boolean;
  /** Run until the guest resets, powers off, triple-faults, stop() is called or `timeoutMs` pass. */
  run(timeoutMs?: number): Promise<RunStop>;
  /** End the run at the next instruction boundary. */
  stop(reason: RunStop): void;
  /**
   * Run `fn` where no vCPU is halfway through an instruction: at once between
   * slices, else when the running slice ends (a timer that fires during a
   * device access must not reach into another vCPU's state).
   */
  outsideGuest(fn: () => void): void;
  /** Bytes typed at the guest's console. */
  consoleInput(bytes: Uint8Array): void;
  /** Stream connections with guest programs, when the platform has a device for them (virtio-vsock). */
  readonly hostChannel?: HostChannel;
  /** The VM's run is over (or it could not start): devices release what they hold on the host (image files, their locks). */
  close?(): void;
  /**
   * Keep the guest from running, with guest time (clock, TSC, timers)
   * standing still, until every hold is released. The run loop waits in the
   * event loop, so stop() and the run's timeout still end a held run.
   */
  hold(): Release;
  /** Keep guest time standing still while the guest runs (masked single-steps), until released. */
  freezeTime(): Release;
}

/** Ends a hold or a freeze; a second call does nothing. */
export interface Release { release(): void }

/** Builds a platform wired to a hypervisor core's hooks. */
export type PlatformFactory = (hooks: PlatformHooks) => Promise<Platform>;

/** A bare machine's DMA: devices reach all of guest RAM, and the CPU is told of what they write. */
export function directDma(machine: Machine): DmaPort {
  return {
    write: (_device, gpa, bytes) => {
      if (!inRam(machine, gpa, bytes.length)) return false;
      machine.ram.set(bytes, gpa);
      machine.notifyRamWritten(gpa, bytes.length);
      return true;
    },
    read: (_device, gpa, length) => (inRam(machine, gpa, length) ? machine.ram.slice(gpa, gpa + length) : undefined),
  };
}

export function inRam(machine: Machine, gpa: number, length: number): boolean {
  return Number.isSafeInteger(gpa) && Number.isSafeInteger(length) && gpa >= 0 && length >= 0 && gpa + length <= machine.ramSize;
}
