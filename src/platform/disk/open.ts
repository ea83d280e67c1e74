// Opening the image behind `--disk FILE[,ro][,snapshot]` once, before the
// guest boots: a file that is missing, unreadable, not a regular file, too
// small to be a disk, or locked by another VM is a DiskError naming it.
import { closeSync, fstatSync, openSync, realpathSync, constants } from 'node:fs';
import { DiskError, type DiskImage, type DiskSpec } from './image.js';
import { RawFileImage } from './raw-file.js';
import { SnapshotImage } from './snapshot.js';
import { ImageLock } from './lock.js';
import { fileKind, openFailure } from '../../host-file.js';

/** The unit of a disk's size: the guest sees the image's size rounded down to whole sectors. */
export const SECTOR_SIZE = 512;

const WRITE_HINT = ' (add ,ro or ,snapshot to use it without writing)';

export async function openDisk(spec: DiskSpec): Promise<DiskImage> {
  const { path } = spec;
  const writable = !spec.readOnly && !spec.snapshot;
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO without a writer would block; the type check below refuses it.
    fd = openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = writable && (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') ? WRITE_HINT : '';
    throw new DiskError(`disk image ${path}: ${code === 'EROFS' ? 'on a read-only file system' : openFailure(e)}${hint}`);
  }
  let lock: ImageLock | undefined;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new DiskError(`disk image ${path}: ${fileKind(st)}, not a regular file`);
    const size = Math.floor(st.size / SECTOR_SIZE) * SECTOR_SIZE;
    if (size === 0) throw new DiskError(`disk image ${path}: ${st.size} bytes, smaller than one ${SECTOR_SIZE}-byte sector`);
    lock = await ImageLock.acquire(`disk image ${path}`, st, writable ? 'write' : 'read');
    const release = lock.release.bind(lock);
    const raw = new RawFileImage(fd, path, size, !writable, `${realpathSync(path)}:${st.dev}:${st.ino}`, release);
    return spec.snapshot && !spec.readOnly ? SnapshotImage.create(raw) : raw;
  } catch (e) {
    lock?.release();
    closeSync(fd);
    throw e;
  }
}
