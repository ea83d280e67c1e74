// Booting from a root disk: with `root=/dev/vdX` on the kernel command line
// (the CLI adds it for `--disk debian`; `--append root=/dev/vda` for any other
// image), the default initramfs loads the disk and ext4 drivers, mounts that
// disk, brings busybox, xmhf-hypercall and the command script along on a
// tmpfs at /run/xmhf, and switch_roots into it; the command script then runs
// there under the root's own /bin/sh, as it runs in the initramfs otherwise.

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
  for fs in /dev /proc /sys; do mount --move $fs /newroot$fs; done
  export PATH=${ROOT_PATH} HOME=/root
  [ -x /newroot/bin/bash ] && export XMHF_SHELL=/bin/bash
  exec switch_root /newroot /${ROOT_SHELL} ${ROOT_TOOLS_DIR}/command
fi
`;
}
