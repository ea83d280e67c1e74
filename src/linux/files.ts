// A process's open files, as /proc/PID/fd shows them: the file table
// (task->files->fdt->fd[]) and, for each file, its path rebuilt from the
// dentry up through the mounts (as the kernel's d_path does), or the
// pseudo-filesystem names pipes, sockets and anonymous inodes get.
import type { Linux, Task } from './index.js';

export interface OpenFile {
  fd: number;
  /** What readlink /proc/PID/fd/N gives: a path, pipe:[ino], socket:[ino] or anon_inode:NAME. */
  path: string;
  /** Address of its struct file. */
  file: bigint;
}

/** Deeper than this, a dentry or mount chain is taken as corrupt. */
const MAX_DEPTH = 256;
/** Filesystems whose files have no path, and the name /proc gives them (their d_dname). */
const PSEUDO: Record<string, (name: string, ino: bigint) => string> = {
  pipefs: (_n, ino) => `pipe:[${ino}]`,
  sockfs: (_n, ino) => `socket:[${ino}]`,
  anon_inodefs: (n) => `anon_inode:${n}`,
};

export function openFiles(linux: Linux, task: Task): OpenFile[] {
  const files = linux.readMember('task_struct', task.address, 'files') as bigint;
  if (files === 0n) return []; // an exiting task
  const fdt = linux.readMember('files_struct', files, 'fdt') as bigint;
  const max = linux.readMember('fdtable', fdt, 'max_fds') as number;
  const fds = linux.readMember('fdtable', fdt, 'fd') as bigint;
  const table = linux.memory.read(fds, 8 * max);
  const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const out: OpenFile[] = [];
  for (let fd = 0; fd < max; fd++) {
    const file = dv.getBigUint64(8 * fd, true);
    if (file !== 0n) out.push({ fd, file, path: filePath(linux, file) });
  }
  return out;
}

/** The path of a struct file, from its f_path (vfsmount and dentry). */
export function filePath(linux: Linux, file: bigint): string {
  const vfsmount = linux.readMember('file', file, 'f_path.mnt') as bigint;
  let dentry = linux.readMember('file', file, 'f_path.dentry') as bigint;
  const fs = fsName(linux, dentry);
  const pseudo = PSEUDO[fs];
  if (pseudo) {
    const inode = linux.readMember('file', file, 'f_inode') as bigint;
    return pseudo(dentryName(linux, dentry), linux.readMember('inode', inode, 'i_ino') as bigint);
  }
  let mount = vfsmount - BigInt(linux.offsetOf('mount', 'mnt'));
  const parts: string[] = [];
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const root = linux.readMember('mount', mount, 'mnt.mnt_root') as bigint;
    if (dentry === root) {
      const parent = linux.readMember('mount', mount, 'mnt_parent') as bigint;
      if (parent === mount) break; // the root of the mount tree
      dentry = linux.readMember('mount', mount, 'mnt_mountpoint') as bigint;
      mount = parent;
      continue;
    }
    const up = linux.readMember('dentry', dentry, 'd_parent') as bigint;
    if (up === dentry) break;
    parts.unshift(dentryName(linux, dentry));
    dentry = up;
  }
  return `/${parts.join('/')}`;
}

function dentryName(linux: Linux, dentry: bigint): string {
  const name = linux.readMember('dentry', dentry, 'd_name.name') as bigint;
  const len = linux.readMember('dentry', dentry, 'd_name.len') as number;
  return Buffer.from(linux.memory.read(name, Math.min(len, 4096))).toString('utf8');
}

function fsName(linux: Linux, dentry: bigint): string {
  const sb = linux.readMember('dentry', dentry, 'd_sb') as bigint;
  const type = linux.readMember('super_block', sb, 's_type') as bigint;
  return linux.memory.readString(linux.readMember('file_system_type', type, 'name') as bigint, 64);
}
