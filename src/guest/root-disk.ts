// Booting from a root disk: with `root=/dev/vdX` on the kernel command line
// (the CLI adds it for `--disk debian`; `--append root=/dev/vda` for any other
// image), the default initramfs loads the disk and ext4 drivers, mounts that
// disk, brings busybox, xmhf-hypercall and the command script along on a
// tmpfs at /run/xmhf, and switch_roots into it; the command script then runs
// there under the root's own /bin/sh, as it runs in the initramfs otherwise.
import { closeSync, openSync, readSync } from 'node:fs';
import { Ext4Image, Ext4FormatError, isDirectory, isExecutableFile } from './ext4-reader.js';

/** What mounting an ext4 root on virtio-blk needs beyond the virtio modules: ext4's checksums use crc32c, which the kernel asks modprobe for (a softdep). */
export const ROOT_MODULES = ['virtio_blk', 'crc32c_generic', 'ext4'] as const;

/** Where the initramfs's tools and the command script are in the new root (Debian mounts a tmpfs at /run too). */
export const ROOT_TOOLS_DIR = '/run/xmhf';
/** The command script in the initramfs. */
export const COMMAND_SCRIPT = '/command';

/** What the root must have for the command script to run there. */
export const ROOT_SHELL = 'bin/sh';

/** The search path in the new root: Debian's, then what the initramfs brought. */
const ROOT_PATH = `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${ROOT_TOOLS_DIR}/bin`;

/**
 * The part of /init that switches to a root disk when the command line names
 * one; `modules` are the initramfs paths of ROOT_MODULES and their
 * dependencies, in load order. A root that cannot be used ends the boot with
 * a line saying why (the CLI shows it: the command never started).
 */
export function rootSwitchScript(modules: readonly string[]): string {
  const insmod = modules.map((m) => `  insmod /${m} 2>/dev/null\n`).join('');
  return `root=
rootmode=rw
for arg in $(cat /proc/cmdline); do
  case "$arg" in root=/dev/*) root="\${arg#root=}";; ro) rootmode=ro;; rw) rootmode=rw;; esac
done
if [ -n "$root" ]; then
  fail() { echo "xmhf: root disk $root: $*"; poweroff -f; }
${insmod}  [ -b "$root" ] || fail "no such block device (is a --disk attached?)"
  mkdir -p /newroot
  mount -t ext4 -o "$rootmode" "$root" /newroot || fail "cannot mount it as ext4"
  [ -x /newroot/${ROOT_SHELL} ] || fail "it has no /${ROOT_SHELL}: not a Linux root"
  mount -t tmpfs -o mode=755 tmpfs /newroot/run || fail "cannot mount a tmpfs on its /run"
  mkdir -p /newroot${ROOT_TOOLS_DIR}/bin
  cp /bin/busybox /newroot${ROOT_TOOLS_DIR}/bin/
  [ -x /bin/xmhf-hypercall ] && cp /bin/xmhf-hypercall /newroot${ROOT_TOOLS_DIR}/bin/
  cp ${COMMAND_SCRIPT} /newroot${ROOT_TOOLS_DIR}/command
  # Shares the initramfs mounted at /mnt/TAG stay there in the new root.
  for m in /mnt/*; do
    grep -q " $m " /proc/mounts && mkdir -p /newroot$m && mount --move $m /newroot$m
  done
  for fs in /dev /proc /sys; do mount --move $fs /newroot$fs; done
  [ -r /newroot/etc/hostname ] && hostname -F /newroot/etc/hostname
  export PATH=${ROOT_PATH} HOME=/root
  [ -x /newroot/bin/bash ] && export XMHF_SHELL=/bin/bash
  exec switch_root /newroot /${ROOT_SHELL} ${ROOT_TOOLS_DIR}/command
fi
`;
}

export class RootDiskError extends Error {}

/** Directories the switch above mounts on or moves to. */
const ROOT_MOUNT_POINTS = ['dev', 'proc', 'sys', 'run'] as const;

/**
 * Check before boot that `path` holds a Linux root the initramfs can switch
 * to: an ext4 file system (not a partitioned disk) with an executable
 * /bin/sh and the directories it mounts on. Throws RootDiskError naming what is wrong.
 */
export function checkLinuxRoot(path: string, what = path): void {
  let fs: Ext4Image;
  try {
    fs = new Ext4Image(path);
  } catch (e) {
    if (!(e instanceof Ext4FormatError)) throw new RootDiskError(`${what}: cannot read it (${(e as Error).message})`);
    const mbr = hasBootSignature(path) ? '; it has a partition table or boot sector, and the root must be a whole-disk ext4 image' : '';
    throw new RootDiskError(`${what} is not an ext4 disk image: ${e.message}${mbr}`);
  }
  try {
    const shell = fs.lookup(`/${ROOT_SHELL}`);
    if (!shell || !isExecutableFile(shell)) throw new RootDiskError(`${what} has no Linux root: no executable /${ROOT_SHELL} in its ext4 file system`);
    const missing = ROOT_MOUNT_POINTS.filter((d) => { const ino = fs.lookup(`/${d}`); return !ino || !isDirectory(ino); });
    if (missing.length > 0) throw new RootDiskError(`${what} has no Linux root: no ${missing.map((d) => `/${d}`).join(', ')} director${missing.length > 1 ? 'ies' : 'y'}`);
  } catch (e) {
    if (e instanceof Ext4FormatError) throw new RootDiskError(`${what}: its ext4 file system is damaged (${e.message})`);
    throw e;
  } finally {
    fs.close();
  }
}

/** An MBR's (or a boot sector's) 0x55 0xAA at bytes 510-511. */
function hasBootSignature(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 510) === 2 && b[0] === 0x55 && b[1] === 0xaa;
  } finally {
    closeSync(fd);
  }
}
