// Messages between the CLI's main thread (terminal, signals, timeout,
// watchdog) and the worker thread that runs the VM.
import type { ShutdownReason } from '../hypapp/api.js';
import type { VmDisk, VmShare } from '../vmm.js';
import type { GdbStubOptions } from '../gdb/server.js';

/** What the worker needs to build and run the VM. */
export interface VmJob {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  mem: number;
  cpus?: number;
  deterministic?: boolean;
  timeoutMs?: number;
  /** How long a hypapp's init may take to settle (the watchdog's limit for callbacks). */
  callbackTimeoutMs: number;
  hypapps?: string[];
  hypappOptions?: string[];
  hypappConfig?: string;
  events?: string;
  /** --vsock PATH. */
  vsock?: string;
  /** The watchdog's CallbackSlot buffer. */
  slot: SharedArrayBuffer;
  /** Host directories shared over virtio-9p. */
  shares?: VmShare[];
  /** Disk images over virtio-blk. */
  disks?: VmDisk[];
  /** The gdb stub (--gdb), a built-in hypapp after the others. */
  gdb?: GdbStubOptions;
}

/** Why the main thread asks the VM to stop. */
export type StopRequest =
  | { type: 'stop'; reason: 'stopped'; detail: string }
  | { type: 'stop'; reason: 'signal'; detail: string };

export type ToWorker = { type: 'input'; bytes: Uint8Array } | StopRequest;

/** How the run ended, as the worker reports it. */
export interface RunEnd {
  /** The platform's or core's stop kind: poweroff, reset, triple-fault, timeout, stopped, halted-by-core, guest-halted. */
  kind: string;
  reason: ShutdownReason;
  detail?: string;
}

export type FromWorker =
  | { type: 'output'; bytes: Uint8Array }
  | { type: 'stderr'; text: string }
  /** The hypapps' names in load order (the watchdog slot holds indices). */
  | { type: 'hypapps'; names: string[] }
  | { type: 'running' }
  | { type: 'result'; end: RunEnd }
  /** The VM could not be built (a bad kernel, a hypapp that does not load or start) or failed. */
  | { type: 'error'; message: string };
