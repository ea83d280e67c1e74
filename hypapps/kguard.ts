// kguard: kernel code integrity, after SecVisor and Lockdown's approved
// execution. Once armed it walks the kernel's page tables, makes every
// guest-physical page that holds kernel code read-only (and executable), and
// every other page not executable in supervisor mode (user programs still
// run: user-mode execution is a separate right). From then on a write to
// kernel code, or kernel-mode execution of anything else (a module loaded
// later, injected code), is logged, emitted as a JSON record and denied.
// Code the kernel unmaps itself (freed module init sections) becomes data:
// writable, and never again executable in kernel mode.
//   xmhf run --hypapp kguard --exec 'insmod /lib/modules/.../some.ko'
// Options:
//   kguard.arm=ready       arm when the guest's init says it has booted (default)
//   kguard.arm=hypercall   arm when the guest runs `xmhf-hypercall kguard-arm`
//   kguard.arm=after:MS    arm MS milliseconds of guest time after start
//   kguard.writes=skip     deny a write by dropping it (default), or =fault (#PF)
import { defineHypapp, Prot, type HypappContext, type GuestCpu } from 'xmhf-ts/hypapp';

export const ARM_HYPERCALL = 0x4b47; // "KG"
/** The kernel half of the 4-level address space. */
const KERNEL_HALF = 0xffff_8000_0000_0000n;
const PAGE = 4096;
// Denials are reported as not-present faults: a protection fault on a page the
// guest maps with those rights would look spurious to Linux, which retries it forever.
const PF_WRITE = 2, PF_FETCH = 16;

export default (options: Readonly<Record<string, string>>) => {
  const arm = options.arm ?? 'ready';
  const writes = options.writes ?? 'skip';
  if (!/^(ready|hypercall|after:\d+)$/.test(arm)) throw new Error(`kguard.arm=${arm}: expected ready, hypercall or after:MS`);
  if (writes !== 'skip' && writes !== 'fault') throw new Error(`kguard.writes=${writes}: expected skip or fault`);
  let armed = false;
  let denied = 0;
  /** Pages that were code at arming and that the kernel has since freed. */
  let retired = 0;

  /** Guest-physical pages (numbers) the kernel maps executable in supervisor mode now. */
  function kernelCodePages(x: HypappContext, cpu: GuestCpu): Set<number> {
    const code = new Set<number>();
    for (const m of cpu.mappings(KERNEL_HALF)) {
      if (!m.executable || m.user) continue;
      for (let off = 0; off < m.pageSize; off += PAGE) {
        const gpa = Number(m.gpa) + off;
        if (gpa < x.ramSize) code.add(gpa / PAGE);
      }
    }
    return code;
  }

  function protect(x: HypappContext, cpu: GuestCpu): void {
    if (armed) return;
    const code = kernelCodePages(x, cpu);
    if (code.size === 0) throw new Error('found no kernel code to protect (is the guest in 64-bit mode yet?)');
    x.setprot(0, x.ramSize, Prot.RW | Prot.EXEC_USER);
    const pages = [...code].sort((a, b) => a - b);
    for (let i = 0; i < pages.length;) {
      let j = i;
      while (j + 1 < pages.length && pages[j + 1] === pages[j] + 1) j++;
      x.setprot(pages[i] * PAGE, (j - i + 1) * PAGE, Prot.READ | Prot.EXEC);
      i = j + 1;
    }
    armed = true;
    x.log(`armed: ${pages.length} pages of kernel code (${(pages.length * 4) >> 10} MiB) read-only; all else not executable in kernel mode`);
    x.emit({ event: 'armed', codePages: pages.length });
  }

  return defineHypapp({
    name: 'kguard',
    hypercalls: { 'kguard-arm': ARM_HYPERCALL },
    init(x) {
      const after = /^after:(\d+)$/.exec(arm);
      if (after) {
        const t = x.every(Number(after[1]), () => { t.cancel(); protect(x, x.cpus[0]); });
      }
    },
    onGuestReady(x) { if (arm === 'ready') protect(x, x.cpus[0]); },
    onHypercall(x, call) {
      if (call.fn !== ARM_HYPERCALL) return undefined;
      if (arm !== 'hypercall') return -1n;
      protect(x, call.cpu);
      return 0n;
    },
    onViolation(x, v) {
      if (!armed) return undefined;
      const rip = v.cpu.get('rip');
      if (v.access === 'write' && !(v.prot & Prot.WRITE)) {
        // Code the kernel itself has since unmapped (a module's init sections, freed a little
        // after the module loaded) goes back to being data, never executable in kernel mode again.
        if (!kernelCodePages(x, v.cpu).has(Math.floor(Number(v.gpa) / PAGE))) {
          retired++;
          x.emit({ event: 'retired', gpa: v.gpa & ~BigInt(PAGE - 1) });
          return { setprot: Prot.RW | Prot.EXEC_USER };
        }
        denied++;
        x.log(`denied a write to kernel code: gpa 0x${v.gpa.toString(16)} (gva 0x${v.gva.toString(16)}) from RIP 0x${rip.toString(16)}`);
        x.emit({ event: 'write-denied', gpa: v.gpa, gva: v.gva, rip, size: v.size, value: v.value });
        if (writes === 'skip' && !v.pageWalk) return 'skip';
        return { inject: { vector: 14, errorCode: PF_WRITE } };
      }
      if (v.access === 'execute' && !v.user) {
        denied++;
        x.log(`denied kernel-mode execution outside kernel code: gpa 0x${v.gpa.toString(16)} (gva 0x${v.gva.toString(16)}), RIP 0x${rip.toString(16)}`);
        x.emit({ event: 'exec-denied', gpa: v.gpa, gva: v.gva, rip });
        return { inject: { vector: 14, errorCode: PF_FETCH } };
      }
      return undefined;
    },
    shutdown(x) { if (armed) x.log(`${denied} violations denied; ${retired} pages of freed kernel code became data`); },
  });
};
