// Small durable-file helpers: atomic JSON writes and appends.
//
// Two levels of durability. Everything is written with a plain write() before the call returns, so a killed process
// (kill -9) never loses it: the bytes are in the operating system's cache. Surviving a power cut needs an fsync, and
// an fsync on a disk that is busy writing gigabytes of backup can take seconds (ext4 commits the dirty data with it):
// "now" (manifests) waits for it; "soon" (journal lines, outputs, backup parts: all re-checked on resume) hands it to
// the thread pool so the run never stalls on it, and the runner waits for those before it ends.
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export type Durability = 'now' | 'soon';

/** Write a file atomically: temp file in the same folder, rename; fsync'd now (default) or soon. */
export function writeFileAtomic(file: string, data: string | Buffer | Iterable<string>, mode = 0o600, durability: Durability = 'now'): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    // Chunks (an iterable) are written as they come: a large file never exists as one string and its copy in bytes.
    if (typeof data === 'string' || Buffer.isBuffer(data)) fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    else for (const chunk of data) fs.writeSync(fd, chunk);
    if (durability === 'now') fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  if (durability === 'now') fsyncDir(path.dirname(file));
  else {
    syncSoon(file);
    syncSoon(path.dirname(file));
  }
}

/** Append one line; fsync'd soon. */
export function appendLineSync(file: string, line: string): void {
  fs.appendFileSync(file, line.endsWith('\n') ? line : line + '\n', { mode: 0o600 });
  syncSoon(file);
}

const queued = new Set<string>();
let chain: Promise<void> = Promise.resolve();
let scheduled = false;

/** fsync a file or folder in the background, coalescing repeated requests for the same path. */
export function syncSoon(p: string): void {
  queued.add(p);
  if (scheduled) return;
  scheduled = true;
  chain = chain.then(async () => {
    scheduled = false;
    const batch = [...queued];
    queued.clear();
    await Promise.all(batch.map(fsyncPath));
  });
}

/** Wait until every fsync asked for with syncSoon is done. */
export async function flushSyncs(): Promise<void> {
  let c: Promise<void>;
  do {
    c = chain;
    await c;
  } while (c !== chain);
}

async function fsyncPath(p: string): Promise<void> {
  let h: fs.promises.FileHandle | undefined;
  try {
    // Windows flushes only through a handle opened for writing, and cannot open folders (NTFS renames are journaled).
    h = await fs.promises.open(p, process.platform === 'win32' ? 'r+' : 'r');
    await h.sync();
  } catch {
    // gone already (a temp folder removed), or not syncable here: durability is best effort at this level
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/** fsync a directory so a rename in it survives a crash (no-op where the OS refuses, e.g. Windows). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open a directory for fsync; NTFS renames are journaled.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The lines of a text file, read 1 MiB at a time (a large file is never one string); the last may lack its newline. */
export function* readLinesSync(file: string): Generator<string> {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    const utf8 = new StringDecoder('utf8');
    let rest = '';
    let n;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
      const lines = (rest + utf8.write(buf.subarray(0, n))).split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
    rest += utf8.end();
    if (rest) yield rest;
  } finally {
    fs.closeSync(fd);
  }
}
