// The Linux errno values Rlerror carries (9P2000.L sends the guest's own
// errno numbers; x86-64 Linux's values), and the one place a host error
// becomes one.

export const Errno = {
  EPERM: 1, ENOENT: 2, EIO: 5, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EBUSY: 16, EEXIST: 17, EXDEV: 18,
  ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, EFBIG: 27, ENOSPC: 28, EROFS: 30,
  ENAMETOOLONG: 36, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40, ENODATA: 61, EPROTO: 71, EMSGSIZE: 90, EOPNOTSUPP: 95,
} as const;

/** A 9P operation failed with this errno (answered with Rlerror). */
export class P9Error extends Error {
  constructor(readonly errno: number, message?: string) { super(message ?? `errno ${errno}`); }
}

/**
 * The errno of a failed host call. Node's system errors carry libuv's code,
 * which on Linux is the negated errno; anything else (a bug here) is EIO.
 */
export function errnoOf(e: unknown): number {
  if (e instanceof P9Error) return e.errno;
  const n = (e as { errno?: unknown } | null)?.errno;
  return typeof n === 'number' && n < 0 && n > -4096 ? -n : Errno.EIO;
}
