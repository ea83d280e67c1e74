// hello: the smallest useful hypapp. It logs at init, answers the `ping`
// hypercall with its argument plus one, watches CPUID and CR3 writes (every
// guest context switch) and prints a table of the VM exits it saw at shutdown.
//   xmhf run --hypapp hello --exec 'xmhf-hypercall ping 41'
import { defineHypapp } from 'xmhf-ts/hypapp';

export const PING = 0x100;

export default defineHypapp({
  name: 'hello',
  hypercalls: { ping: PING },

  init(x) {
    x.interceptCpuid();
    x.interceptCrWrites(3);
    x.log(`hello from the hypervisor: ${x.cpus.length} vCPU, ${x.ramSize >> 20} MiB of guest RAM`);
  },

  onHypercall(x, call) {
    if (call.fn !== PING) return undefined;
    x.log(`ping ${call.args[0]} from vCPU ${call.cpu.index} at CPL ${call.cpu.cpl}`);
    return call.args[0] + 1n;
  },

  shutdown(x, e) {
    const counts = Object.entries(x.exitCounts()).sort(([, a], [, b]) => b - a);
    x.log(`guest ended (${e.reason}${e.detail ? `: ${e.detail}` : ''}); VM exits by kind:`);
    for (const [kind, n] of counts) x.log(`  ${kind.padEnd(12)} ${String(n).padStart(9)}`);
  },
});
