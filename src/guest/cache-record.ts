// Small files in the guest cache that record a choice (which kernel package)
// or a finished step (a package unpacked): written atomically, so a reader
// never sees one half written, and only when they change, so a cache that is
// complete can be read-only.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

/** The record at `path`, or undefined when there is none. */
export function readCacheRecord(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Make `path` hold `text`: unchanged if it does, else a temporary file renamed over it. Returns whether it wrote. */
export function writeCacheRecord(path: string, text: string): boolean {
  if (readCacheRecord(path) === text) return false;
  // The process id keeps concurrent writers (several runs sharing the cache) off each other's temporary file.
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* it was never created */ }
    throw e;
  }
  return true;
}
