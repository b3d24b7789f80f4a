// Streaming copies that hash while they write: one read of the source, no second read of what was written.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { hashOnWorker } from './hash-pool.js';
import { createPrivateWriteStream, mkdirPrivateSync } from '../host/private-files.js';

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
 * Copy one file and hash it: the kernel copies (copy_file_range / CopyFileEx, on the thread pool) while the
 * source is read once more for its sha256 (from the page cache); what was written is never read back. About 2×
 * faster here than one userspace pass. The source's size and time are compared before and after, so a file that
 * changed during the copy is reported instead of being recorded with a hash of other bytes.
 */
export async function copyFileHashed(src: string, dest: string, made?: Set<string>): Promise<Written> {
  mkdirOnce(path.dirname(dest), made);
  const before = fs.statSync(src);
  const tmp = `${dest}.partial`;
  if (before.size < SMALL_BYTES) {
    // Small files (static content, logs): one read into memory, hashed and written from the same bytes.
    const data = await fs.promises.readFile(src);
    await fs.promises.rm(tmp, { force: true }); // open(2) sets the mode only of a file it creates
    await fs.promises.writeFile(tmp, data, { mode: 0o400 });
    const after = fs.statSync(src);
    if (after.size === data.length && after.mtimeMs === before.mtimeMs) {
      fs.renameSync(tmp, dest);
      return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    }
    fs.rmSync(tmp, { force: true });
    return writeStreamHashed(fs.createReadStream(src, { highWaterMark: 1 << 20 }), dest);
  }
  const [, written] = await Promise.all([fs.promises.copyFile(src, tmp), hashFile(src)]);
  const after = fs.statSync(src);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || written.bytes !== after.size) {
    fs.rmSync(tmp, { force: true });
    // Fall back to one pass whose hash is of exactly the bytes written.
    return writeStreamHashed(fs.createReadStream(src, { highWaterMark: 1 << 20 }), dest);
  }
  // copyFile gives the copy the source's mode (libuv fchmods it): the tmp name is inside a 0700 folder until this.
  fs.chmodSync(tmp, 0o400);
  fs.renameSync(tmp, dest);
  return written;
}

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
  return linkFrom(path.join(baseDir, ...prev.path.split('/')), dest) ? now : null;
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
  mkdirPrivateSync(dir);
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
