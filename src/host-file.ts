// How a host file named by the user is described when it cannot be used:
// shared by every reader of such files (the CLI's input files, disk images).
import type { Stats } from 'node:fs';

/** What a file that is not a regular file is, for "PATH: a directory, not a regular file". */
export function fileKind(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isCharacterDevice() ? 'a character device'
    : st.isBlockDevice() ? 'a block device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket'
      : st.isFile() ? 'a regular file' : 'something else';
}

/** Why opening a file failed, in a few words ("no such file", "permission denied", or the system's message). */
export function openFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied'
    : code === 'EISDIR' ? 'a directory, not a regular file' : (e as Error).message;
}
