// The virtual machine monitor as shipped: the XMHF core on the PC platform,
// built on the WebAssembly CPU. The one module that names all three; the CLI,
// tests and benchmarks create VMs here.
import { createSoftwareMachine } from './backend/software.js';
import { PcMachine } from './platform/pc.js';
import { createCoreVm, type CoreVmOptions, type Vm } from './xmhf/vm.js';

export type { Vm, VmStop, HypappSpec } from './xmhf/vm.js';
export { HypappInitError } from './xmhf/vm.js';
export { MAX_CPUS } from './platform/pc.js';

export interface VmOptions extends CoreVmOptions {
  /** Guest RAM in bytes (default 256 MiB). */
  mem?: number;
  /** Bytes the guest writes to its serial console (default: standard output). */
  serialOutput?: (bytes: Uint8Array) => void;
  /** Processors, 1 to 8 (default 1): run in turn on the VM's thread. */
  cpus?: number;
  /** Guest time from retired instructions, fixed slices: the same inputs run the same instructions in the same order. */
  deterministic?: boolean;
}

/** A PC with a Linux guest under the XMHF core and its hypapps. */
export function createVm(o: VmOptions): Promise<Vm> {
  return createCoreVm((hooks) => PcMachine.create({
    ramSize: o.mem ?? 256 * 1024 * 1024,
    backend: createSoftwareMachine,
    serialOutput: o.serialOutput ?? ((b) => process.stdout.write(b)),
    hooks,
    cpus: o.cpus,
    deterministic: o.deterministic,
  }), o);
}
