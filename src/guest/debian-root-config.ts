// The configuration a Debian root built from unpacked packages needs, which
// base-passwd's, base-files' and an installer's scripts would otherwise
// write: accounts (root with no password: the guest is single-user, reached
// only through the VMM's console), the file-system table and a host name.

/** bookworm's merged /usr: these top-level directories are symlinks into /usr. */
export const MERGED_USR_DIRS = ['bin', 'sbin', 'lib', 'lib64'] as const;

export const GUEST_HOSTNAME = 'xmhf';

/** Files written into the tree after unpacking, by path under the root. */
export const ROOT_CONFIG_FILES: Record<string, { text: string; mode: number }> = {
  'etc/passwd': { mode: 0o644, text: 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' },
  'etc/shadow': { mode: 0o640, text: 'root::19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' },
  'etc/group': { mode: 0o644, text: 'root:x:0:\ntty:x:5:\ndisk:x:6:\nstaff:x:50:\nnogroup:x:65534:\n' },
  'etc/gshadow': { mode: 0o640, text: 'root:*::\ntty:*::\ndisk:*::\nstaff:*::\nnogroup:*::\n' },
  // The initramfs mounts the root and the kernel's file systems before the root's programs run; this records what it did.
  'etc/fstab': { mode: 0o644, text: '# <file system> <mount point> <type> <options> <dump> <pass>\n/dev/root / ext4 defaults 0 1\n' },
  'etc/hostname': { mode: 0o644, text: `${GUEST_HOSTNAME}\n` },
  'etc/hosts': { mode: 0o644, text: `127.0.0.1\tlocalhost\n127.0.1.1\t${GUEST_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n` },
  'etc/resolv.conf': { mode: 0o644, text: '' },
  'root/.profile': { mode: 0o644, text: 'export PS1=\'\\h:\\w# \'\n' },
};
