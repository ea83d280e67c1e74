// --disk names that mean a cached image (`--disk debian`: the image `xmhf
// image debian` built last), and the root disk's check before boot. A named
// image is attached as a snapshot, so runs never change the cache (copy the
// file for a disk that keeps its changes); it becomes the guest's root
// through root=/dev/vdX on the kernel command line, which the default
// initramfs follows (--append root=/dev/vdX does the same for any image).
import { currentDebianImage } from '../guest/debian-image.js';
import { checkLinuxRoot, RootDiskError } from '../guest/root-disk.js';
import { UsageError } from './usage-error.js';

/** virtio-blk disks appear as /dev/vda, /dev/vdb, ... in --disk order. */
const diskDevice = (index: number) => `/dev/vd${String.fromCharCode(0x61 + index)}`;
const ROOT_ARG = /(?:^|\s)root=(\S*)/;

export interface ResolvedDisks {
  /** The --disk values with cached image names replaced by FILE,snapshot (or FILE,ro). */
  disks: string[];
  /** root= (and ro) for a named image, when --append does not choose a root itself. */
  append?: string;
}

/** Replace names of cached images among `disks` by their files; a root= for the first one. */
export function resolveDiskNames(disks: readonly string[], append: string | undefined): ResolvedDisks {
  let rootArgs: string | undefined;
  const resolved = disks.map((spec, index) => {
    const [name, ...flags] = spec.split(',');
    if (name !== 'debian') return spec;
    const path = currentDebianImage();
    if (path === undefined) throw new UsageError('--disk debian: no Debian image has been built yet; run "xmhf image debian" first (it downloads about 40 MB of packages with apt)');
    const ro = flags.includes('ro');
    const unknown = flags.filter((f) => f !== 'ro' && f !== 'snapshot');
    if (unknown.length > 0) throw new UsageError(`--disk ${spec}: the cached image takes only ro or snapshot (it is always used as a snapshot; copy ${path} for a disk that keeps its changes)`);
    rootArgs ??= `root=${diskDevice(index)}${ro ? ' ro' : ''}`;
    return `${path},${ro ? 'ro' : 'snapshot'}`;
  });
  const chosen = append !== undefined && ROOT_ARG.test(append);
  return { disks: resolved, append: chosen ? undefined : rootArgs };
}

/**
 * When the command line makes a virtio disk the root (root=/dev/vdX), check
 * that disk before boot: an ext4 Linux root, or an error naming what it is not.
 */
export function checkRootDisk(disks: readonly string[], cmdline: string): void {
  const root = ROOT_ARG.exec(cmdline)?.[1];
  const m = root === undefined ? null : /^\/dev\/vd([a-z])$/.exec(root);
  if (!m) return;
  const index = m[1].charCodeAt(0) - 0x61;
  if (index >= disks.length) {
    throw new UsageError(`root=${root}: there ${disks.length === 1 ? 'is one --disk' : `are ${disks.length} --disk flags`}, so no ${root}`);
  }
  const file = disks[index].split(',')[0];
  try {
    checkLinuxRoot(file, `--disk ${file} (root=${root})`);
  } catch (e) {
    if (e instanceof RootDiskError) throw new UsageError(e.message);
    throw e;
  }
}
