// kguard: kernel code integrity, after SecVisor and Lockdown's approved
// execution. Once armed it walks the kernel's page tables, makes every
// guest-physical page that holds kernel code read-only (and executable), and
// every other page not executable in supervisor mode (user programs still
// run: user-mode execution is a separate right). From then on a write to
// kernel code, or kernel-mode execution of anything else (a module loaded
// later, injected code), is logged, emitted as a JSON record and denied.
// Code the kernel unmaps itself (freed module init sections) becomes data:
// writable, and never again executable in kernel mode.
//
// It arms only once the kernel has write-protected its own code (Linux's
// mark_rodata_ro, late in boot): until then the kernel maps its whole image
// writable and executable, and treating all of it as code would make every
// write to kernel data a violation. Asked to arm earlier (arm=after:MS) it
// waits, checking again every few milliseconds of guest time; a kernel that
// never separates code from data is never armed. Either way it warns.
//   xmhf run --hypapp kguard --exec 'insmod /lib/modules/.../some.ko'
// Options:
//   kguard.arm=ready       arm when the guest's init says it has booted (default)
//   kguard.arm=hypercall   arm when the guest runs `xmhf-hypercall kguard-arm`
//   kguard.arm=after:MS    arm MS milliseconds of guest time after start (or as soon after as the kernel allows)
//   kguard.writes=skip     deny a write by dropping it (default), or =fault (#PF)
import { defineHypapp, Prot, Vector, PageFaultError, PAGE_SIZE, type HypappContext, type GuestCpu, type TimerHandle } from 'xmhf-ts/hypapp';

export const ARM_HYPERCALL = 0x4b47; // "KG"
/** The kernel half of the 4-level address space. */
const KERNEL_HALF = 0xffff_8000_0000_0000n;
/**
 * Linux's kernel image and module area (__START_KERNEL_map up). Kernel code
 * lives here (besides the real-mode trampoline's alias in the direct map), so
 * checks made while the guest runs walk only this: the whole kernel half
 * includes the direct map, tens of thousands of 4 KiB mappings, about a
 * second's walk.
 */
const KERNEL_IMAGE = 0xffff_ffff_8000_0000n;
/** Guest time between looks at a kernel that is not ready to be armed yet. */
const RETRY_MS = 100;
// Denials are reported as not-present faults: a protection fault on a page the
// guest maps with those rights would look spurious to Linux, which retries it forever.
const PF_WRITE = PageFaultError.WRITE, PF_FETCH = PageFaultError.FETCH;

/** Guest-physical pages (numbers) the kernel maps executable in supervisor mode, and how many of them it maps writable. */
interface KernelCode {
  pages: Set<number>;
  writablePages: number;
}

function kernelCode(x: HypappContext, cpu: GuestCpu, from: bigint): KernelCode {
  const pages = new Set<number>();
  let writablePages = 0;
  for (const m of cpu.mappings(from)) {
    if (!m.executable || m.user) continue;
    if (m.writable) writablePages += m.pageSize / PAGE_SIZE;
    for (let off = 0; off < m.pageSize; off += PAGE_SIZE) {
      const gpa = Number(m.gpa) + off;
      if (gpa < x.ramSize) pages.add(gpa / PAGE_SIZE);
    }
  }
  return { pages, writablePages };
}

/** Why the kernel's code cannot be told from its data yet; undefined once it can. */
function notReady(x: HypappContext, cpu: GuestCpu): string | undefined {
  if (cpu.paging !== '4-level') return `the guest is not in 64-bit paging yet (${cpu.paging})`;
  const code = kernelCode(x, cpu, KERNEL_IMAGE);
  if (code.pages.size === 0) return 'no kernel code is mapped yet (is the kernel still being loaded or decompressed?)';
  if (code.writablePages > 0) {
    return `the kernel still maps ${mib(code.writablePages)} of its code writable (it write-protects its code late in boot)`;
  }
  return undefined;
}

const mib = (pages: number) => `${((pages * PAGE_SIZE) / (1 << 20)).toFixed(1)} MiB`;

export default (options: Readonly<Record<string, string>>) => {
  const arm = options.arm ?? 'ready';
  const writes = options.writes ?? 'skip';
  if (!/^(ready|hypercall|after:\d+)$/.test(arm)) throw new Error(`kguard.arm=${arm}: expected ready, hypercall or after:MS`);
  if (writes !== 'skip' && writes !== 'fault') throw new Error(`kguard.writes=${writes}: expected skip or fault`);
  let armed = false;
  /** Set when kguard stopped trying: the reason it did not arm. */
  let gaveUp: string | undefined;
  /** While waiting for the kernel: why it is not ready (the last look). */
  let waiting: string | undefined;
  let retry: TimerHandle | undefined;
  let denied = 0;
  /** Pages that were code at arming and that the kernel has since freed. */
  let retired = 0;

  /** Protect the kernel's code if it can be told from data now; true if armed. */
  function tryArm(x: HypappContext, cpu: GuestCpu): boolean {
    if (armed || gaveUp) return armed;
    const why = notReady(x, cpu);
    if (why !== undefined) {
      if (waiting === undefined) x.log(`waiting to arm: ${why}`);
      waiting = why;
      return false;
    }
    // The whole kernel half once, for code outside the image (the real-mode trampoline).
    const pages = [...kernelCode(x, cpu, KERNEL_HALF).pages].sort((a, b) => a - b);
    x.setprot(0, x.ramSize, Prot.RW | Prot.EXEC_USER);
    for (let i = 0; i < pages.length;) {
      let j = i;
      while (j + 1 < pages.length && pages[j + 1] === pages[j] + 1) j++;
      x.setprot(pages[i] * PAGE_SIZE, (j - i + 1) * PAGE_SIZE, Prot.READ | Prot.EXEC);
      i = j + 1;
    }
    armed = true;
    waiting = undefined;
    retry?.cancel();
    x.log(`armed: ${pages.length} pages of kernel code (${(pages.length * 4) >> 10} MiB) read-only; all else not executable in kernel mode`);
    x.emit({ event: 'armed', codePages: pages.length });
    return true;
  }

  /** Arm now, or look again every RETRY_MS of guest time until the kernel is ready. */
  function armOrWait(x: HypappContext): void {
    if (tryArm(x, x.cpus[0]) || retry) return;
    retry = x.every(RETRY_MS, () => { if (tryArm(x, x.cpus[0])) retry?.cancel(); });
  }

  /** The guest says it is running and the kernel is still not ready: it never will be. */
  function giveUp(x: HypappContext, why: string): void {
    retry?.cancel();
    gaveUp = why;
    waiting = undefined;
    x.log(`warning: not arming, kernel code is unprotected: ${why}`);
    x.emit({ event: 'not-armed', reason: why });
  }

  return defineHypapp({
    name: 'kguard',
    hypercalls: { 'kguard-arm': ARM_HYPERCALL },
    init(x) {
      const after = /^after:(\d+)$/.exec(arm);
      if (after) {
        const t = x.every(Math.max(1, Number(after[1])), () => { t.cancel(); armOrWait(x); });
      }
    },
    onGuestReady(x) {
      // User space is running: the kernel is as protected as it will get.
      if (armed || gaveUp || (arm !== 'ready' && !retry)) return;
      if (!tryArm(x, x.cpus[0])) giveUp(x, waiting ?? 'the kernel is not ready');
    },
    onHypercall(x, call) {
      if (call.fn !== ARM_HYPERCALL) return undefined;
      if (arm !== 'hypercall') return -1n;
      if (tryArm(x, call.cpu)) return 0n;
      giveUp(x, waiting ?? 'the kernel is not ready');
      return -1n;
    },
    onViolation(x, v) {
      if (!armed) return undefined;
      const rip = v.cpu.get('rip');
      if (v.access === 'write' && !(v.prot & Prot.WRITE)) {
        // Code the kernel itself has since unmapped (a module's init sections, freed a little
        // after the module loaded) goes back to being data, never executable in kernel mode again.
        const page = Math.floor(Number(v.gpa) / PAGE_SIZE);
        if (!kernelCode(x, v.cpu, KERNEL_IMAGE).pages.has(page)) {
          retired++;
          x.emit({ event: 'retired', gpa: v.gpa & ~BigInt(PAGE_SIZE - 1) });
          return { setprot: Prot.RW | Prot.EXEC_USER };
        }
        denied++;
        x.log(`denied a write to kernel code: gpa 0x${v.gpa.toString(16)} (gva 0x${v.gva.toString(16)}) from RIP 0x${rip.toString(16)}`);
        x.emit({ event: 'write-denied', vcpu: v.cpu.index, gpa: v.gpa, gva: v.gva, rip, size: v.size, value: v.value });
        if (writes === 'skip' && !v.pageWalk) return 'skip';
        return { inject: { vector: Vector.PF, errorCode: PF_WRITE } };
      }
      if (v.access === 'execute' && !v.user) {
        denied++;
        x.log(`denied kernel-mode execution outside kernel code: gpa 0x${v.gpa.toString(16)} (gva 0x${v.gva.toString(16)}), RIP 0x${rip.toString(16)}`);
        x.emit({ event: 'exec-denied', vcpu: v.cpu.index, gpa: v.gpa, gva: v.gva, rip });
        return { inject: { vector: Vector.PF, errorCode: PF_FETCH } };
      }
      return undefined;
    },
    shutdown(x) {
      if (armed) { x.log(`${denied} violations denied; ${retired} pages of freed kernel code became data`); return; }
      if (gaveUp) { x.log(`warning: never armed: ${gaveUp}`); return; }
      const why = waiting ? `the kernel was never ready (${waiting})`
        : arm === 'ready' ? 'the guest never said it had booted (kguard.arm=ready waits for its `xmhf-hypercall ready`)'
        : arm === 'hypercall' ? 'the guest never ran `xmhf-hypercall kguard-arm`'
        : `the guest stopped before ${arm.slice(6)} ms of guest time`;
      x.log(`warning: never armed, kernel code was not protected: ${why}`);
    },
  });
};
