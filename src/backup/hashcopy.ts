// Streaming copies that hash while they write: one read of the source, no second read of what was written.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { copyOnWorker, DIRECT_WRITES, hashOnWorker, type CopyJob } from './hash-pool.js';
import { createPrivateWriteStream, mkdirPrivateSync } from '../host/private-files.js';
import { joinRel } from './safe-path.js';

export interface Written {
  bytes: number;
  sha256: string;
}

/** A pass-through stream that counts bytes and feeds a sha256. */
export function hashingTap(): Transform & { result(): Written } {
  const h = createHash('sha256');
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { result(): Written };
  let digest: string | undefined;
  t.result = () => ({ bytes, sha256: (digest ??= h.digest('hex')) });
  return t;
}

/** Write a stream to a file (temp + rename), hashing on the way; the file is read-only once complete. */
export async function writeStreamHashed(src: Readable, dest: string, extra: Transform[] = []): Promise<Written> {
  mkdirPrivateSync(path.dirname(dest));
  const tmp = `${dest}.partial`;
  const tap = hashingTap();
  await pipeline([src, ...extra, tap, createPrivateWriteStream(tmp, { highWaterMark: 1 << 20 })] as never);
  fs.renameSync(tmp, dest);
  fs.chmodSync(dest, 0o400);
  return tap.result();
}

/**
 * Copy one file into a set and hash it, with one read of the source; the copy is read-only, and what was written is
 * never read back. A file that changed during the copy (its size or time moved) is copied again in one pass whose hash
 * is of exactly the bytes written; the caller sees its new size.
 */
export async function copyFileHashed(src: string, dest: string, made?: Set<string>): Promise<Written> {
  mkdirOnce(path.dirname(dest), made);
  const w = await copyHashed(src, { tmp: `${dest}.partial`, mode: 0o400, rename: dest });
  if (!w.changed) return { bytes: w.bytes, sha256: w.sha256 };
  return writeStreamHashed(fs.createReadStream(src, { highWaterMark: 1 << 20 }), dest);
}

/**
 * Copy a file to job.tmp, hashing what was read for it, and give it its mode and name (CopyJob); `changed` (tmp
 * removed) when the source's size or time moved meanwhile. The copy is, by what the platform has:
 * - a reflink, where both file systems have them (XFS, Btrfs: no bytes written), with the source hashed beside it;
 * - a worker's copy (Linux: direct writes, see hash-pool.ts), the whole of it on the worker;
 * - elsewhere (Windows), a small file read whole and written here, a large one the kernel's (CopyFileEx, on the
 *   thread pool) with the source hashed beside it from the page cache.
 */
export async function copyHashed(src: string, job: CopyJob): Promise<Written & { changed?: boolean }> {
  const before = fs.statSync(src);
  let w: Written | null = null;
  if (DIRECT_WRITES) {
    if (before.size >= SMALL_BYTES) w = await reflinkHashed(src, job.tmp, before.dev);
    if (!w) return copyOnWorker(src, job);
  } else if (before.size < SMALL_BYTES) {
    const data = await fs.promises.readFile(src);
    await fs.promises.rm(job.tmp, { force: true }); // open(2) sets the mode only of a file it creates
    await fs.promises.writeFile(job.tmp, data, { mode: 0o600 });
    w = { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  } else {
    w = (await Promise.all([fs.promises.copyFile(src, job.tmp, fs.constants.COPYFILE_FICLONE), hashFile(src)]))[1];
  }
  const after = fs.statSync(src);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || w.bytes !== after.size) {
    fs.rmSync(job.tmp, { force: true });
    return { ...w, changed: true };
  }
  if (job.expect && (w.bytes !== job.expect.bytes || w.sha256 !== job.expect.sha256)) {
    fs.rmSync(job.tmp, { force: true });
    return w;
  }
  // A kernel copy or a reflink has the source's mode (libuv fchmods it); the tmp name is not the file's until renamed.
  fs.chmodSync(job.tmp, job.mode);
  if (job.mtimeMs !== undefined) fs.utimesSync(job.tmp, new Date(), new Date(job.mtimeMs));
  if (job.rename) fs.renameSync(job.tmp, job.rename);
  return w;
}

/** A reflink of a large file, hashed beside it; null where the two file systems have none (learnt once per pair). */
async function reflinkHashed(src: string, tmp: string, srcDev: number): Promise<Written | null> {
  const pair = `${srcDev}:${fs.statSync(path.dirname(tmp)).dev}`;
  if (reflinks.get(pair) === false) return null;
  try {
    await fs.promises.rm(tmp, { force: true });
    const [, w] = await Promise.all([fs.promises.copyFile(src, tmp, fs.constants.COPYFILE_FICLONE_FORCE), hashFile(src)]);
    reflinks.set(pair, true);
    return w;
  } catch (e) {
    if (reflinks.get(pair) || !CLONE_REFUSED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
    reflinks.set(pair, false);
    fs.rmSync(tmp, { force: true });
    return null;
  }
}

/** Per pair of devices (source:destination): whether a reflink worked there (unknown until tried once). */
const reflinks = new Map<string, boolean>();
/** The errors of a file system (or a pair of them) that has no reflinks. */
const CLONE_REFUSED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EPERM']);

/** Below this size a file is read whole, in one call (a stream allocates a buffer of its high-water mark per read). */
const SMALL_BYTES = 1 << 20;

/** Hash a file: large ones on a worker thread (all cores), small ones here, in one read (a message costs more). */
export async function hashFile(file: string): Promise<Written> {
  if (fs.statSync(file).size >= SMALL_BYTES) return hashOnWorker(file);
  const data = await fs.promises.readFile(file);
  return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/**
 * Link the base set's copy of a small file (a config file) when the live file has the same bytes, verified by hash:
 * a config file's time says little (installers and editors rewrite it unchanged, copies keep old times). Returns
 * what was linked, or null when the file changed, the base set has no copy, or linking is impossible (then copy it).
 */
export async function linkIfSameHash(live: string, prev: { path: string; bytes: number; sha256: string } | undefined, baseDir: string | undefined, dest: string): Promise<Written | null> {
  if (!prev || !baseDir) return null;
  const now = await hashFile(live);
  if (now.bytes !== prev.bytes || now.sha256 !== prev.sha256) return null;
  return linkFrom(joinRel(baseDir, prev.path), dest) ? now : null;
}

/** Hard-link a file of an older set into the new one (same filesystem); false when linking is impossible. */
export function linkFrom(existing: string, dest: string, made?: Set<string>): boolean {
  mkdirOnce(path.dirname(dest), made);
  try {
    fs.linkSync(existing, dest);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      fs.rmSync(dest, { force: true });
      fs.linkSync(existing, dest);
      return true;
    }
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOTSUP') return false;
    throw e;
  }
}

/** Create a folder (and its parents, 0700: a set's or a snapshot's) unless the caller's set says it was made already: one mkdir per folder, not per file. */
export function mkdirOnce(dir: string, made?: Set<string>): void {
  if (made?.has(dir)) return;
  if (made?.has(path.dirname(dir))) {
    // Its parent is a private folder made (or checked) here: one mkdir(2), 0700, no walk up the path. On Windows the
    // parent's ACL is inherited. A share's thousands of folders cost a third of an xlarge nightly's copy step without it.
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(dir).isDirectory()) throw e;
    }
  } else mkdirPrivateSync(dir);
  made?.add(dir);
}

/** Run async jobs with at most `n` at a time. */
export async function mapLimit<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  // After a failure no new item starts, and the rejection waits for the items in flight: nothing of this call goes on
  // working after it returned (an upload left running would race the resumed one over the same object).
  const workers = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  });
  const settled = await Promise.allSettled(workers);
  const first = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (first) throw first.reason;
  return out;
}
