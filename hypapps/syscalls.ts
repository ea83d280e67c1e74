// syscalls: a whole-VM system-call tracer on xmhf-ts/linux's system-call
// hooks. Once the guest is up it emits one JSON record per call, at its
// return: vCPU, address space (CR3), the caller's pid, tgid and comm, number
// and name (the kernel's own, from sys_call_table), the six argument
// registers, the strings behind path arguments and execve's argv (read at the
// entry, from the caller's memory), and the return value (negative: -errno).
// exit and exit_group, which never return, are emitted at their entry.
//   xmhf run --hypapp syscalls --events trace.jsonl --exec 'cat /etc/passwd'
// Options: syscalls.only=execve,openat  (names to report; default all)
import { defineHypapp } from 'xmhf-ts/hypapp';
import { linuxOf, type SyscallEvent } from 'xmhf-ts/linux';

/** Argument names (as SYSCALL_DEFINE spells them) that are paths: read as strings. */
const PATH_ARGS = new Set(['filename', 'pathname', 'path', 'oldname', 'newname', 'specialfile', 'library', 'dev_name', 'dir_name', 'new_root', 'put_old']);
const NO_RETURN = new Set(['exit', 'exit_group']);
const MAX_ARGV = 32;

export default (options: Readonly<Record<string, string>>) => {
  const only = options.only ? new Set(options.only.split(',').map((s) => s.trim())) : undefined;
  const records = new WeakMap<SyscallEvent, Record<string, unknown>>();
  let calls = 0;

  function readArgv(e: SyscallEvent, at: bigint): string[] | null {
    const argv: string[] = [];
    try {
      for (let i = 0; i < MAX_ARGV; i++) {
        const p = e.cpu.readU64(at + BigInt(i * 8));
        if (p === 0n) break;
        argv.push(e.cpu.readString(p, 4096));
      }
    } catch { return argv.length > 0 ? argv : null; }
    return argv;
  }

  /** What must be read at the entry: the caller, its registers and the memory its arguments point to. */
  function entryRecord(e: SyscallEvent): Record<string, unknown> {
    const task = e.task;
    const r: Record<string, unknown> = {
      vcpu: e.cpu.index, cr3: `0x${e.cpu.get('cr3').toString(16)}`,
      pid: task?.pid, tgid: task?.tgid, comm: task?.comm,
      nr: e.nr, name: e.name, args: e.rawArgs.map((a) => `0x${a.toString(16)}`),
    };
    const paths: Array<string | null> = [];
    e.args.forEach((a, i) => {
      if (PATH_ARGS.has(a.name) && a.type.includes('char')) paths.push(e.string(i));
      else if (a.name === 'argv') r.argv = readArgv(e, a.value);
    });
    if (paths.length > 0) r.paths = paths;
    return r;
  }

  return defineHypapp({
    name: 'syscalls',
    onGuestReady(x) {
      const linux = linuxOf(x);
      linux.onSyscall((e) => {
        if (only && !only.has(e.name)) return undefined;
        const r = entryRecord(e);
        if (NO_RETURN.has(e.name)) { calls++; x.emit(r); } else records.set(e, r);
        return undefined;
      });
      linux.onSyscallReturn((e) => {
        const r = records.get(e.call);
        if (!r) return undefined;
        calls++;
        r.ret = Number(e.ret);
        x.emit(r);
        return undefined;
      });
      x.log('tracing system calls');
    },
    onBreakpoint(x, e) { linuxOf(x).onBreakpoint(e); },
    shutdown(x) { x.log(`${calls} system calls traced`); },
  });
};
