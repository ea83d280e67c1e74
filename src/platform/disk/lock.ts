// Two VMs never write one image, and none reads an image another writes.
// Node has no flock, and a lock file must be checked for staleness (a pid can
// be reused). Instead a lock is a Unix socket bound in Linux's abstract
// namespace under a name made of the file's device and inode numbers: binding
// a name that is bound fails (EADDRINUSE), and the kernel unbinds it when the
// process ends however it ends (kill -9 included), so there is nothing stale
// to clean up. A writer binds ".../w" (exclusive), then makes sure no reader
// is listed in /proc/net/unix; a reader binds its own ".../r/PID.N", then
// makes sure no writer is listed. Whichever of two racing openers looks
// second sees the other, so they cannot both proceed. Names carry the owner's
// pid for the error message. The namespace is per network namespace: two
// containers with different network namespaces sharing one file do not see
// each other's locks. Hosts other than Linux have no abstract sockets: there
// images are not locked.
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { DiskError } from './image.js';

const PREFIX = 'xmhf-ts/disk';
let readers = 0;

/** The file behind a disk, as the kernel identifies it (hard links and other paths to it share its lock). */
export interface FileIdentity { dev: number; ino: number }

export class ImageLock {
  private constructor(private readonly servers: Server[]) {}

  /** Lock the file at `path` for writing (exclusive) or reading (shared with other readers); a DiskError naming the holder if taken. */
  static async acquire(path: string, id: FileIdentity, mode: 'write' | 'read'): Promise<ImageLock> {
    if (process.platform !== 'linux') return new ImageLock([]);
    const key = `${PREFIX}/${id.dev}:${id.ino}`;
    const held: Server[] = [];
    const lock = new ImageLock(held);
    try {
      if (mode === 'write') {
        const w = await bind(`${key}/w`);
        if (!w) throw writerError(path, key);
        held.push(w);
        const owner = await bind(`${key}/w-pid/${process.pid}`);
        if (owner) held.push(owner);
        const reader = boundNames(`${key}/r/`)[0];
        if (reader !== undefined) {
          throw new DiskError(`${path}: open read-only by another xmhf process (pid ${reader.split('.')[0]}); it cannot be written while another VM reads it`);
        }
      } else {
        const r = await bind(`${key}/r/${process.pid}.${++readers}`);
        if (r) held.push(r);
        if (boundNames(`${key}/w`).includes('')) throw writerError(path, key);
      }
      return lock;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  release(): void {
    for (const s of this.servers.splice(0)) s.close();
  }
}

function writerError(path: string, key: string): DiskError {
  const pid = boundNames(`${key}/w-pid/`)[0];
  return new DiskError(`${path}: in use for writing by another xmhf process${pid === undefined ? '' : ` (pid ${pid})`}; two VMs never write one image (add ,snapshot to write to a private overlay)`);
}

/** Bind the abstract socket `name`; undefined if it is bound already. */
function bind(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(undefined) : reject(e)));
    server.listen({ path: `\0${name}` }, () => {
      server.unref(); // a lock does not keep the process alive
      resolve(server);
    });
  });
}

/** What follows `prefix` in the names of the abstract sockets bound now (from /proc/net/unix, where they start with "@"). */
function boundNames(prefix: string): string[] {
  let table: string;
  try { table = readFileSync('/proc/net/unix', 'latin1'); } catch { return []; }
  const out: string[] = [];
  for (const line of table.split('\n')) {
    // Node binds the whole sun_path: the name is padded with NULs, which the table shows as "@".
    const path = line.slice(line.lastIndexOf(' ') + 1).replace(/@+$/, '');
    if (path.startsWith(`@${prefix}`)) out.push(path.slice(prefix.length + 1));
  }
  return out;
}
