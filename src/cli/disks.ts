// --disk FILE[,ro][,snapshot]: a raw image as the guest's next /dev/vdX. Only
// the syntax is checked here; the VM's thread opens and locks the file
// before boot and names it in any error. Names of cached images (debian)
// are resolved to files before this (root-disk.ts).
import { UsageError } from './usage-error.js';
import type { VmDisk } from '../vmm.js';

const OPTIONS = ['ro', 'snapshot'] as const;
const SYNTAX = '--disk FILE[,ro][,snapshot]';

/** One --disk value. Options are the words after the last commas; a file name may hold commas before them. */
export function parseDisk(spec: string): VmDisk {
  const parts = spec.split(',');
  const options = new Set<string>();
  while (parts.length > 1) {
    const word = parts.at(-1)!;
    if ((OPTIONS as readonly string[]).includes(word)) options.add(word);
    // A word that looks like an option but is not one (rw, snap): a mistake, not part of a file name.
    else if (word === '' || /^[a-z]+(=.*)?$/.test(word)) throw new UsageError(`--disk ${spec}: unknown option "${word}" (${SYNTAX})`);
    else break;
    parts.pop();
  }
  const path = parts.join(',');
  if (path === '') throw new UsageError(`--disk ${spec}: no file (${SYNTAX})`);
  return { path, readOnly: options.has('ro'), snapshot: options.has('snapshot') };
}

export function parseDisks(specs: readonly string[]): VmDisk[] {
  return specs.map(parseDisk);
}
