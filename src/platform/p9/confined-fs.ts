// The shared directory, reached so that nothing a guest names can lead
// outside it.
//
// How: Node has no openat(2), but Linux's /proc/self/fd/N is a "magic link"
// that jumps straight to the object an open descriptor holds, without looking
// at any path. So the root is held open as a descriptor, and a path from it
// is resolved one component at a time, each step opened as
// `/proc/self/fd/<parent's fd>/<name>` with O_PATH|O_NOFOLLOW (and
// O_DIRECTORY for every step but the last): a step is looked up in a
// directory already open, never by a path string the host re-resolves, and
// a symlink anywhere is never followed (it fails the step, or, as the last
// step, is opened as the symlink itself). Names are single components: no
// "/", no NUL, and never "." or ".." (the server works ".." out on its own
// path list, where ".." at the root stays at the root). Because every step
// holds the object it found, a directory swapped for a symlink between two
// operations is simply what the next step finds (and refuses), never a way
// out. An operation on the object found works through /proc/self/fd/<fd> of
// its O_PATH descriptor: the kernel does not follow a symlink behind a magic
// link (chmod reports EOPNOTSUPP, open ELOOP), so that too stays on the
// object checked. Operations on a name in a directory (mkdir, unlink, rename,
// symlink, link, readlink, creating open) go through the directory's
// descriptor with calls that do not follow a final symlink.
//
// Symlinks in the share are the guest's to resolve: readlink hands their
// text to the guest, whose kernel follows it in its own namespace.
import { closeSync, fstatSync, openSync, type BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { Errno, P9Error } from './errno.js';

/** Linux's O_PATH (not in Node's constants): a descriptor that names an object without opening it for I/O. */
export const O_PATH = 0o10000000;
/** A path from the root holds at most this many components (a bound on each fid's memory). */
export const MAX_DEPTH = 256;
/** Longest name (NAME_MAX, in bytes). */
export const MAX_NAME = 255;

/** The magic link of an open descriptor. */
export const procFd = (fd: number): string => `/proc/self/fd/${fd}`;

/** `name` in the directory open as `dirFd`: a path that resolves there, whatever the directory's path is now. */
export function childPath(dirFd: number, name: string): string {
  checkName(name);
  return `${procFd(dirFd)}/${name}`;
}

/** A name the guest may use for an entry: one component, not "." or "..". */
export function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new P9Error(Errno.EINVAL, `not a single path component: ${JSON.stringify(name)}`);
  }
  if (Buffer.byteLength(name) > MAX_NAME) throw new P9Error(Errno.ENAMETOOLONG);
}

export class ConfinedRoot {
  /** The root directory, open (O_PATH) for the share's life. */
  private readonly rootFd: number;

  /** Opens `hostDir` (which must be a directory; symlinks in the path the host user gave are followed once, here). */
  constructor(readonly hostDir: string) {
    this.rootFd = openSync(hostDir, O_PATH | constants.O_DIRECTORY);
  }

  close(): void { closeSync(this.rootFd); }

  /**
   * An O_PATH descriptor of the object at `path` (components below the root),
   * every step resolved inside the last one without following symlinks. The
   * caller closes it.
   */
  open(path: readonly string[], directory = false): number {
    if (path.length > MAX_DEPTH) throw new P9Error(Errno.ENAMETOOLONG);
    if (path.length === 0) return openSync(procFd(this.rootFd), O_PATH | constants.O_DIRECTORY);
    // The first step from the root's own descriptor (held open), each next one from the last.
    let fd = this.step(this.rootFd, path[0], path.length > 1 || directory);
    try {
      for (let i = 1; i < path.length; i++) {
        const last = i === path.length - 1;
        const next = this.step(fd, path[i], !last || directory);
        closeSync(fd);
        fd = next;
      }
      return fd;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** The object `name` in the directory open as `dirFd`, opened O_PATH without following it. */
  step(dirFd: number, name: string, directory: boolean): number {
    return openSync(childPath(dirFd, name), O_PATH | constants.O_NOFOLLOW | (directory ? constants.O_DIRECTORY : 0));
  }

  /** Run `fn` on the object at `path` (an O_PATH descriptor and its attributes). */
  withNode<T>(path: readonly string[], fn: (fd: number, st: BigIntStats) => T): T {
    const fd = this.open(path);
    try {
      return fn(fd, fstatSync(fd, { bigint: true }));
    } finally {
      closeSync(fd);
    }
  }

  /** Run `fn` with the directory at `path` open (O_PATH): for operations on names in it. */
  withDir<T>(path: readonly string[], fn: (dirFd: number) => T): T {
    const fd = this.open(path, true);
    try {
      return fn(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Run `fn` on the last component of `path` as a name in its directory (the root has none: EBUSY). */
  withParent<T>(path: readonly string[], fn: (dirFd: number, name: string) => T): T {
    if (path.length === 0) throw new P9Error(Errno.EBUSY, 'the share\'s root has no name in a directory');
    return this.withDir(path.slice(0, -1), (dirFd) => fn(dirFd, path[path.length - 1]));
  }
}
