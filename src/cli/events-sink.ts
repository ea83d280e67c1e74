// The --events sink: hypapps' JSON records, one a line, to a file or (with
// "-") standard output. The path is checked when the flags are read, so a
// mistake fails before the guest boots; the file is opened (and truncated)
// only once the VM starts; paths inside the guest cache are refused, since
// truncating a cached kernel would corrupt the cache.
import { closeSync, existsSync, openSync, realpathSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, resolve, sep } from 'node:path';
import { UsageError } from './usage-error.js';

/** A hypapp's record as JSON (bigints as hex strings, as the hypapp API documents). */
export function eventLine(app: string, record: Record<string, unknown>): string {
  return JSON.stringify({ hypapp: app, ...record }, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)) + '\n';
}

/** Where `path` really is: symbolic links in it and in its directory followed. */
function realTarget(path: string): string {
  const abs = resolve(path);
  if (existsSync(abs)) return realpathSync(abs);
  const dir = dirname(abs);
  if (!existsSync(dir)) throw new UsageError(`--events ${path}: no such directory ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`--events ${path}: ${dir} is not a directory`);
  return resolve(realpathSync(dir), basename(abs));
}

export class EventsSink {
  private fd: number | undefined;

  /** Check `path` ("-": standard output) as the --events flag's value; `cache` is the guest cache directory. */
  constructor(private readonly path: string, cache: string) {
    if (path === '-') return;
    const real = realTarget(path);
    if (existsSync(real) && statSync(real).isDirectory()) throw new UsageError(`--events ${path}: a directory; give a file name (or - for standard output)`);
    const cacheReal = existsSync(cache) ? realpathSync(cache) : resolve(cache);
    if (real === cacheReal || real.startsWith(cacheReal + sep)) {
      throw new UsageError(`--events ${path}: inside the guest cache ${cache}, whose files it would overwrite; write the events elsewhere`);
    }
  }

  /** Open (truncate) the file: when the VM starts. */
  open(): void {
    if (this.path === '-' || this.fd !== undefined) return;
    try {
      this.fd = openSync(this.path, 'w');
    } catch (e) {
      throw this.error('cannot open it', e);
    }
  }

  private error(what: string, e: unknown): UsageError {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (e as Error).message;
    return new UsageError(`--events ${this.path}: ${what}: ${why}`);
  }

  write(app: string, record: Record<string, unknown>): void {
    const line = eventLine(app, record);
    if (this.path === '-') { process.stdout.write(line); return; }
    this.open();
    try {
      writeSync(this.fd!, line);
    } catch (e) {
      throw this.error('cannot write to it', e);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
