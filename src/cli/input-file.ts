// Reading a file a flag names: only regular files (a character device such as
// /dev/zero or a FIFO would be read without end, or block), and only up to a
// size the caller can use, checked before anything is read.
import { openSync, fstatSync, readSync, closeSync, constants } from 'node:fs';
import { UsageError } from './usage-error.js';
import { fileKind, openFailure } from '../host-file.js';

const MiB = 1024 * 1024;

function sizeText(bytes: number): string {
  return bytes >= MiB ? `${Math.floor(bytes / MiB)} MiB` : `${bytes} bytes`;
}

/** Open `path` (named by `flag`) for reading once it is known to be a regular file of at most `maxBytes`. */
function openChecked(flag: string, path: string, maxBytes: number, limit: string): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO without a writer would block; the type check below then refuses it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: ${openFailure(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`${flag} ${path}: ${fileKind(st)}, not a regular file`);
    if (st.size > maxBytes) throw new UsageError(`${flag} ${path}: ${sizeText(st.size)}, more than ${limit} (${sizeText(maxBytes)})`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Check that `path` could be read as an input file without reading it (for files another reader loads). */
export function checkInputFile(flag: string, path: string, maxBytes: number, limit = 'the limit'): void {
  closeSync(openChecked(flag, path, maxBytes, limit).fd);
}

/**
 * The contents of `path`, named on the command line by `flag`. `limit` says
 * what bigger files would not fit ("the guest RAM (--mem)").
 */
export function readInputFile(flag: string, path: string, maxBytes: number, limit = 'the limit'): Uint8Array {
  const { fd, size } = openChecked(flag, path, maxBytes, limit);
  try {
    const data = new Uint8Array(size);
    let done = 0;
    // A file that grows while it is read is cut at the size it had when checked.
    while (done < size) {
      const n = readSync(fd, data, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? data : data.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}
