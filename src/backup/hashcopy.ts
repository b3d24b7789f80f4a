// Streaming copies that hash while they write: one read of the source, no second read of what was written.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';

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
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.partial`;
  const tap = hashingTap();
  await pipeline([src, ...extra, tap, fs.createWriteStream(tmp, { mode: 0o600, highWaterMark: 1 << 20 })] as never);
  fs.renameSync(tmp, dest);
  fs.chmodSync(dest, 0o444);
  return tap.result();
}

/** Copy one file with its hash computed from the bytes read (1 MiB buffers). */
export async function copyFileHashed(src: string, dest: string): Promise<Written> {
  return writeStreamHashed(fs.createReadStream(src, { highWaterMark: 1 << 20 }), dest);
}

/** Hash a file (verification). */
export async function hashFile(file: string): Promise<Written> {
  const tap = hashingTap();
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), tap, async function* (source) {
    for await (const _ of source) {
      // drain
    }
  });
  return tap.result();
}

/** Hard-link a file of an older set into the new one (same filesystem); false when linking is impossible. */
export function linkFrom(existing: string, dest: string): boolean {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
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

/** Run async jobs with at most `n` at a time. */
export async function mapLimit<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}
