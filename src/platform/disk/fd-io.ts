// Positioned reads and writes of whole ranges on a file descriptor: the
// system calls may move fewer bytes than asked, so both loop.
import { readSync, writeSync } from 'node:fs';

/** Fill `into` from the file at `position`; bytes past the end of the file read as zero. */
export function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) { into.fill(0, done); return; }
    done += n;
  }
}

/** Write all of `data` to the file at `position`. */
export function writeFully(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}
