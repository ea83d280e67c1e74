// The virtual machine monitor as shipped: the XMHF core on the PC platform,
// built on the WebAssembly CPU. The one module that names all three; the CLI,
// tests and benchmarks create VMs here.
import { createSoftwareMachine } from './backend/software.js';
import { PcMachine } from './platform/pc.js';
import { createCoreVm, type CoreVmOptions, type Vm } from './xmhf/vm.js';
import type { VirtioDevice } from './platform/virtio/device.js';
import { createHash } from 'node:crypto';
import { VirtioRng } from './platform/virtio/rng.js';
import { VirtioVsock } from './platform/virtio/vsock.js';
import { VsockUnixHost } from './platform/virtio/vsock-unix.js';
import { Virtio9p } from './platform/virtio/9p.js';
import { VirtioBlk } from './platform/virtio/blk.js';
import { openDisk } from './platform/disk/open.js';
import type { DiskImage, DiskSpec } from './platform/disk/image.js';

export type { Vm, VmStop, HypappSpec } from './xmhf/vm.js';
export { HypappInitError } from './xmhf/vm.js';
export { MAX_CPUS } from './platform/pc.js';
export type { DiskSpec as VmDisk } from './platform/disk/image.js';
export { DiskError } from './platform/disk/image.js';

export interface VmOptions extends CoreVmOptions {
  /** Guest RAM in bytes (default 256 MiB). */
  mem?: number;
  /** Bytes the guest writes to its serial console (default: standard output). */
  serialOutput?: (bytes: Uint8Array) => void;
  /** Attach a virtio-rng fed from the host's CSPRNG (default true). */
  rng?: boolean;
  /**
   * Attach a virtio-vsock: a path makes its host side the Unix socket there
   * (Firecracker's scheme; see vsock-unix.ts), `true` gives hypapps alone
   * (x.vsock). A hypapp with `devices: ['vsock']` attaches one too.
   */
  vsock?: string | true;
  /** Processors, 1 to 8 (default 1): run in turn on the VM's thread. */
  cpus?: number;
  /** Guest time from retired instructions, fixed slices: the same inputs run the same instructions in the same order. */
  deterministic?: boolean;
  /** Host directories shared with the guest over virtio-9p, each under its mount tag. */
  shares?: readonly VmShare[];
  /** Raw disk images over virtio-blk: the guest's /dev/vda, /dev/vdb, ... in this order. */
  disks?: readonly DiskSpec[];
}

/** A host directory the guest mounts with `mount -t 9p -o trans=virtio TAG DIR`. */
export interface VmShare {
  hostDir: string;
  tag: string;
  readOnly?: boolean;
}

/**
 * Deterministic mode's entropy: SHA-256 of a counter, the same bytes every
 * run (the guest's hash tables and random choices follow its entropy, so a
 * repeatable run cannot take the host's).
 */
function repeatableEntropy(): (bytes: Uint8Array) => void {
  let block = 0, pool = new Uint8Array(0), at = 0;
  return (bytes) => {
    for (let i = 0; i < bytes.length; i++) {
      if (at === pool.length) { pool = createHash('sha256').update(`xmhf-ts deterministic entropy ${block++}`).digest(); at = 0; }
      bytes[i] = pool[at++]!;
    }
  };
}

/** The virtio-vsock `o` asks for (itself, or by a hypapp's `devices`), its Unix socket listening if it has one. */
async function vsockDevice(o: VmOptions): Promise<VirtioVsock | undefined> {
  const hypappWants = (o.hypapps ?? []).some((h) => {
    const devices: unknown = ('app' in h ? h.app : h)?.devices;
    return Array.isArray(devices) && devices.includes('vsock');
  });
  if (o.vsock === undefined && !hypappWants) return undefined;
  const vsock = new VirtioVsock();
  if (typeof o.vsock === 'string') await VsockUnixHost.listen(vsock, o.vsock);
  return vsock;
}

/** The virtio devices `o` asks for, in PCI slot order, with their host sides ready. */
function virtioDevices(o: VmOptions, vsock: VirtioVsock | undefined): VirtioDevice[] {
  const devices: VirtioDevice[] = [];
  if (o.rng ?? true) devices.push(new VirtioRng(undefined, o.deterministic ? repeatableEntropy() : undefined));
  for (const s of o.shares ?? []) devices.push(new Virtio9p({ hostDir: s.hostDir, tag: s.tag, readOnly: s.readOnly }));
  if (vsock) devices.push(vsock);
  return devices;
}

/** A PC with a Linux guest under the XMHF core and its hypapps. */
export async function createVm(o: VmOptions): Promise<Vm> {
  // Disks are opened and locked first: one that cannot be used stops the VM before it is built (a DiskError naming it).
  const images: DiskImage[] = [];
  let vsock: VirtioVsock | undefined;
  try {
    for (const d of o.disks ?? []) images.push(await openDisk(d));
    const disks = images.map((image, i) => new VirtioBlk({ name: `virtio-blk${i}`, image, log: o.log }));
    vsock = await vsockDevice(o);
    const virtio = [...virtioDevices(o, vsock), ...disks];
    return await createCoreVm((hooks) => PcMachine.create({
      ramSize: o.mem ?? 256 * 1024 * 1024,
      backend: createSoftwareMachine,
      serialOutput: o.serialOutput ?? ((b) => process.stdout.write(b)),
      hooks,
      virtio,
      hostChannel: vsock,
      log: o.log,
      cpus: o.cpus,
      deterministic: o.deterministic,
    }), o);
  } catch (e) {
    for (const image of images) image.close();
    vsock?.close(); // its Unix socket stops listening
    throw e;
  }
}
