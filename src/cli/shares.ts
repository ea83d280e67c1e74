// --share HOSTDIR[:TAG][,ro]: a host directory the guest mounts at /mnt/TAG
// over virtio-9p. Checked here, before the guest boots: the directory must
// exist and be a directory, and each tag must be unique.
import { statSync, accessSync, constants } from 'node:fs';
import { basename, resolve } from 'node:path';
import { UsageError } from './usage-error.js';
import type { VmShare } from '../vmm.js';

/** What a tag may hold: a file name in the guest's /mnt and a mount source, so nothing a shell or mount treats specially. */
const TAG = /^[A-Za-z0-9_.-]{1,64}$/;
const TAG_HELP = '1 to 64 letters, digits, "_", "." or "-"';

/** The default tag: the directory's base name, other characters as "_", at most 64 of them. */
export function defaultTag(hostDir: string): string {
  const tag = basename(resolve(hostDir)).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return tag === '' || tag === '.' || tag === '..' ? 'share' : tag;
}

/** One --share value. */
export function parseShare(spec: string): VmShare {
  let rest = spec;
  let readOnly = false;
  const comma = rest.lastIndexOf(',');
  if (comma >= 0 && /^(ro|rw)$/.test(rest.slice(comma + 1))) {
    readOnly = rest.slice(comma + 1) === 'ro';
    rest = rest.slice(0, comma);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && !rest.slice(colon + 1).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag) || tag === '.' || tag === '..') throw new UsageError(`--share ${spec}: the tag "${tag}" is not ${TAG_HELP}`);
  }
  if (rest === '') throw new UsageError(`--share ${spec}: no directory (--share HOSTDIR[:TAG][,ro])`);
  const hostDir = resolve(rest);
  let isDir: boolean;
  try {
    isDir = statSync(hostDir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--share ${spec}: ${code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  if (!isDir) throw new UsageError(`--share ${spec}: not a directory`);
  try {
    accessSync(hostDir, constants.R_OK | constants.X_OK | (readOnly ? 0 : constants.W_OK));
  } catch {
    throw new UsageError(`--share ${spec}: permission denied (the directory must be readable${readOnly ? '' : ' and writable; add ,ro to share it read-only'})`);
  }
  return { hostDir, tag: tag ?? defaultTag(hostDir), readOnly };
}

/** Every --share value; two shares with one tag are an error. */
export function parseShares(specs: readonly string[]): VmShare[] {
  const shares = specs.map(parseShare);
  const seen = new Map<string, string>();
  for (const [i, s] of shares.entries()) {
    const other = seen.get(s.tag);
    if (other !== undefined) throw new UsageError(`--share ${specs[i]}: the tag "${s.tag}" is already used by --share ${other} (name one: --share DIR:TAG)`);
    seen.set(s.tag, specs[i]);
  }
  return shares;
}
