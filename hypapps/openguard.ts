// openguard: denies opening named files, by process. An open, openat,
// openat2 or creat of a listed path fails with EACCES (or openguard.errno)
// without running; each denial is emitted with the caller's pid and comm.
//   xmhf run --hypapp openguard --hypapp-opt openguard.paths=/etc/shadow --exec 'cat /etc/shadow'
// Options:
//   openguard.paths=/etc/shadow,/root/  paths to guard (default /etc/shadow); one ending in / guards
//                                       everything under it. Matched as the caller spells them.
//   openguard.comm=cat,less             deny only these processes (by comm) ...
//   openguard.allow=passwd,login        ... or every process but these (default: deny every process)
//   openguard.errno=13                  the error the caller gets (default EACCES)
import { defineHypapp } from 'xmhf-ts/hypapp';
import { linuxOf, deny, type SyscallEvent } from 'xmhf-ts/linux';

const EACCES = 13;
/** The calls that open a path, and which argument is the path. */
const OPENS: Readonly<Record<string, number>> = { open: 0, creat: 0, openat: 1, openat2: 1 };

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

export default (options: Readonly<Record<string, string>>) => {
  const paths = list(options.paths) ?? ['/etc/shadow'];
  const comms = list(options.comm), allowed = list(options.allow);
  if (comms && allowed) throw new Error('openguard: give openguard.comm (deny these) or openguard.allow (deny all others), not both');
  const errno = options.errno === undefined ? EACCES : Number(options.errno);
  deny(errno); // checks it is an errno
  let denied = 0;

  const guarded = (path: string) => paths.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));
  const applies = (comm: string) => (comms ? comms.includes(comm) : !allowed?.includes(comm));

  return defineHypapp({
    name: 'openguard',
    onGuestReady(x) {
      linuxOf(x).onSyscall((e: SyscallEvent) => {
        const arg = OPENS[e.name];
        if (arg === undefined) return undefined;
        const path = e.string(arg);
        if (path === null || !guarded(path)) return undefined;
        const task = e.task;
        if (!task || !applies(task.comm)) return undefined;
        denied++;
        x.emit({ event: 'denied', pid: task.pid, tgid: task.tgid, comm: task.comm, call: e.name, path, errno, vcpu: e.cpu.index });
        return deny(errno);
      });
      x.log(`guarding ${paths.join(', ')}${comms ? ` from ${comms.join(', ')}` : allowed ? ` from all but ${allowed.join(', ')}` : ''}`);
    },
    onBreakpoint(x, e) { linuxOf(x).onBreakpoint(e); },
    shutdown(x) { x.log(`${denied} opens denied`); },
  });
};
