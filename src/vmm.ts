// The virtual machine monitor as shipped: the XMHF core on the PC platform,
// built on the WebAssembly CPU. The one module that names all three; the CLI,
// tests and benchmarks create VMs here.
import { createSoftwareMachine } from './backend/software.js';
import { PcMachine } from './platform/pc.js';
import { createCoreVm, type CoreVmOptions, type Vm } from './xmhf/vm.js';
import type { VirtioDevice } from './platform/virtio/device.js';
import { VirtioRng } from './platform/virtio/rng.js';
import { VirtioVsock } from './platform/virtio/vsock.js';
import { VsockUnixHost } from './platform/virtio/vsock-unix.js';

export type { Vm, VmStop, HypappSpec } from './xmhf/vm.js';
export { HypappInitError } from './xmhf/vm.js';

export interface VmOptions extends CoreVmOptions {
  /** Guest RAM in bytes (default 256 MiB). */
  mem?: number;
  /** Bytes the guest writes to its serial console (default: standard output). */
  serialOutput?: (bytes: Uint8Array) => void;
  /** Attach a virtio-rng fed from the host's CSPRNG (default true). */
  rng?: boolean;
  /** Attach a virtio-vsock whose host side is the Unix socket at this path (Firecracker's scheme; see vsock-unix.ts). */
  vsock?: string;
}

/** The virtio devices `o` asks for, in PCI slot order, with their host sides ready. */
async function virtioDevices(o: VmOptions): Promise<VirtioDevice[]> {
  const devices: VirtioDevice[] = [];
  if (o.rng ?? true) devices.push(new VirtioRng());
  if (o.vsock !== undefined) {
    const vsock = new VirtioVsock();
    await VsockUnixHost.listen(vsock, o.vsock);
    devices.push(vsock);
  }
  return devices;
}

/** A PC with a Linux guest under the XMHF core and its hypapps. */
export async function createVm(o: VmOptions): Promise<Vm> {
  const virtio = await virtioDevices(o);
  return createCoreVm((hooks) => PcMachine.create({
    ramSize: o.mem ?? 256 * 1024 * 1024,
    backend: createSoftwareMachine,
    serialOutput: o.serialOutput ?? ((b) => process.stdout.write(b)),
    hooks,
    virtio,
    log: o.log,
  }), o);
}
