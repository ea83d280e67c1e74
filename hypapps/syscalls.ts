// syscalls: a whole-VM system-call tracer. It learns the kernel's system-call
// entry point when the kernel writes LSTAR (or reads it once the guest is up),
// sets a hypervisor breakpoint there, and emits one JSON record per call:
// vCPU, address space (CR3), number and name, arguments, and the strings
// behind path (and execve argv) arguments, read from the caller's memory.
//   xmhf run --hypapp syscalls --events trace.jsonl --exec 'cat /etc/passwd'
// Options: syscalls.only=execve,openat  (names to report; default all)
import { defineHypapp, Msr, type HypappContext, type GuestCpu } from 'xmhf-ts/hypapp';
import { SYSCALL_NAMES } from './lib/syscall-names.js';

/** Argument registers of the x86-64 system-call ABI, in order. */
const ARG_REGS = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'] as const;
/** Which arguments are path strings, by system call. */
const PATH_ARGS: Record<string, number[]> = {
  open: [0], stat: [0], lstat: [0], access: [0], execve: [0], truncate: [0], chdir: [0], rename: [0, 1],
  mkdir: [0], rmdir: [0], creat: [0], link: [0, 1], unlink: [0], symlink: [0, 1], readlink: [0], chmod: [0],
  chown: [0], lchown: [0], utime: [0], mknod: [0], statfs: [0], chroot: [0], mount: [0, 1], umount2: [0],
  openat: [1], mkdirat: [1], mknodat: [1], fchownat: [1], futimesat: [1], newfstatat: [1], unlinkat: [1],
  renameat: [1, 3], linkat: [1, 3], symlinkat: [0, 2], readlinkat: [1], fchmodat: [1], faccessat: [1],
  utimensat: [1], execveat: [1], renameat2: [1, 3], statx: [1], faccessat2: [1], openat2: [1],
};
const MAX_ARGV = 32;

export default (options: Readonly<Record<string, string>>) => {
  const only = options.only ? new Set(options.only.split(',').map((s) => s.trim())) : undefined;
  let entry: bigint | undefined;
  let calls = 0;

  function arm(x: HypappContext, address: bigint): void {
    if (entry === address) return;
    entry = address;
    x.addBreakpoint(address);
    x.log(`tracing system calls at entry 0x${address.toString(16)}`);
  }

  function readPath(cpu: GuestCpu, at: bigint): string | null {
    try { return cpu.readString(at, 4096); } catch { return null; }
  }

  function readArgv(cpu: GuestCpu, at: bigint): string[] | null {
    const argv: string[] = [];
    try {
      for (let i = 0; i < MAX_ARGV; i++) {
        const p = cpu.readU64(at + BigInt(i * 8));
        if (p === 0n) break;
        argv.push(cpu.readString(p, 4096));
      }
    } catch { return argv.length > 0 ? argv : null; }
    return argv;
  }

  return defineHypapp({
    name: 'syscalls',
    init(x) { x.interceptMsr(Msr.LSTAR, { write: true }); },
    onMsr(x, e) {
      // The kernel installs its entry point during boot; the write goes through afterwards.
      if (e.index === Msr.LSTAR && e.direction === 'write' && e.value !== 0n) {
        try { arm(x, e.value); } catch (err) { x.log(`cannot trace yet: ${(err as Error).message}`); }
      }
      return 'allow';
    },
    onGuestReady(x) {
      const lstar = x.cpus[0].msr(Msr.LSTAR);
      if (lstar) arm(x, lstar);
    },
    onBreakpoint(x, { cpu }) {
      const nr = Number(cpu.get('rax') & 0xffffffffn);
      const name = SYSCALL_NAMES[nr] ?? `syscall_${nr}`;
      if (only && !only.has(name)) return;
      calls++;
      const args = ARG_REGS.map((r) => cpu.get(r));
      const record: Record<string, unknown> = {
        vcpu: cpu.index, cr3: `0x${cpu.get('cr3').toString(16)}`, nr, name,
        args: args.map((a) => `0x${a.toString(16)}`),
      };
      const paths = (PATH_ARGS[name] ?? []).map((i) => readPath(cpu, args[i]));
      if (paths.length > 0) record.paths = paths;
      if (name === 'execve' || name === 'execveat') record.argv = readArgv(cpu, args[name === 'execve' ? 1 : 2]);
      x.emit(record);
    },
    shutdown(x) { x.log(`${calls} system calls traced`); },
  });
};
