// sha256 of files, and whole file copies that hash what they read, on worker threads (one per core, at most 4):
// hashing is the CPU-bound part of a copy, and on one thread it would cap a backup at a single core's hash speed.
//
// A copy reads the source once (buffered: from the page cache when it is there), hashes each chunk and writes it.
// A large file is written with O_DIRECT where the platform has it (Linux): a buffered write copies every byte into a
// new page-cache page, to be written back and fsync'd later, and on this machine that page allocation is the slowest
// part of a copy (dd: 0.64 GB/s buffered, 0.35 GB/s with its fsync, 1.3 GB/s direct); it also pushes the source out
// of the cache during a full backup. O_DIRECT wants the buffer, the offset and the length aligned: the buffer's
// offset is found once per worker by a probe write, and lengths are whole 4 KiB blocks (the last one zero-padded,
// then the file is cut to its size). A file system that refuses O_DIRECT (tmpfs, some network ones) gets buffered
// writes, as small files do (a direct write waits for the device: for a few KiB that is slower).
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

// The worker's code, evaluated as CommonJS so that it loads the same way from sources (tests) and from dist.
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const CHUNK = 4 << 20, BLOCK = 4096, DIRECT_MIN = 1 << 20;
const DIRECT = fs.constants.O_DIRECT;
// Two chunks: a direct copy reads and hashes one while the other is written.
const raw = Buffer.allocUnsafeSlow(2 * CHUNK + BLOCK);
let aligned = null; // both chunks at an offset O_DIRECT accepts, once a probe found one

function openOut(dest, direct) {
  return fs.openSync(dest, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (direct ? DIRECT : 0), 0o600);
}

// A direct-opened file and a buffer it accepts, or null (then the file is opened again for buffered writes).
function directBuffer(fd) {
  if (aligned) return aligned;
  for (let off = 0; off < BLOCK; off += 16) {
    try {
      fs.writeSync(fd, raw, off, BLOCK, 0);
      return (aligned = [raw.subarray(off, off + CHUNK), raw.subarray(off + CHUNK, off + 2 * CHUNK)]);
    } catch (e) {
      if (e.code !== 'EINVAL') throw e;
    }
  }
  return null;
}

// One file copied as a set or a restore wants it: into tmp (direct writes for a large file where possible, buffered
// where not), the source's size and time compared before and after (and what was read with what the caller
// expects, when it says), then tmp gets its mode (and a time, when given) and, when asked, is renamed to its name.
// The whole of it runs here: a small file costs a few system calls, not a dozen hops through the main thread's
// event loop.
async function copy({ file, tmp, mode, rename, mtimeMs, expect }) {
  const before = fs.statSync(file);
  let r = null;
  // A buffer offset probed on one file system may not suit another (tmpfs takes any): on a refusal, probe again once.
  for (let attempt = 0; DIRECT && before.size >= DIRECT_MIN && !r && attempt < 2; attempt++) {
    try {
      r = await copyOnce(file, tmp, true);
      if (!r) break; // this file system takes no direct writes
    } catch (e) {
      if (e.code !== 'EINVAL') throw e;
      aligned = null;
    }
  }
  r = r || (await copyOnce(file, tmp, false));
  const after = fs.statSync(file);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || r.bytes !== after.size) {
    fs.rmSync(tmp, { force: true });
    return { ...r, changed: true };
  }
  if (expect && (r.bytes !== expect.bytes || r.sha256 !== expect.sha256)) {
    fs.rmSync(tmp, { force: true });
    return r;
  }
  fs.chmodSync(tmp, mode);
  if (mtimeMs !== undefined) fs.utimesSync(tmp, new Date(), new Date(mtimeMs));
  if (rename) fs.renameSync(tmp, rename);
  return r;
}

// Write all of buf[0, len) at pos, on the thread pool.
function writeAll(fd, buf, len, pos) {
  return new Promise((resolve, reject) => {
    let w = 0;
    const more = () => fs.write(fd, buf, w, len - w, pos + w, (e, n) => (e ? reject(e) : (w += n) < len ? more() : resolve()));
    more();
  });
}

// One copy attempt; null when direct writes were asked for and this file system takes none. A direct write waits
// for the device: it is issued on the thread pool while the next chunk is read and hashed here.
async function copyOnce(file, dest, direct) {
  const h = createHash('sha256');
  let fd, out, pending, bufs = [raw.subarray(0, CHUNK)];
  try {
    fd = fs.openSync(file, 'r');
    fs.rmSync(dest, { force: true }); // a leftover of a killed run: open(2) gives the mode only to a file it creates
    try {
      out = openOut(dest, direct);
    } catch (e) {
      if (direct && e.code === 'EINVAL') return null;
      throw e;
    }
    if (direct && !(bufs = directBuffer(out))) return null;
    let n, pos = 0, k = 0;
    while ((n = fs.readSync(fd, bufs[k], 0, CHUNK, pos)) > 0) {
      const buf = bufs[k];
      h.update(buf.subarray(0, n));
      let len = n;
      if (direct && n % BLOCK) buf.fill(0, n, (len = Math.ceil(n / BLOCK) * BLOCK));
      if (direct) {
        if (pending) await pending;
        pending = writeAll(out, buf, len, pos);
        pending.catch(() => undefined); // awaited below; never an unhandled rejection in between
        k ^= 1;
      } else for (let w = 0; w < len; ) w += fs.writeSync(out, buf, w, len - w, pos + w);
      pos += n;
    }
    if (pending) await pending;
    pending = undefined;
    if (direct) fs.ftruncateSync(out, pos); // the last block's padding
    return { bytes: pos, direct, sha256: h.digest('hex') };
  } finally {
    if (pending) await pending.catch(() => undefined); // no write in flight when the file is closed
    if (fd !== undefined) fs.closeSync(fd);
    if (out !== undefined) fs.closeSync(out);
  }
}

function hash(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    let n, bytes = 0;
    while ((n = fs.readSync(fd, raw, 0, CHUNK, null)) > 0) { h.update(raw.subarray(0, n)); bytes += n; }
    return { bytes, direct: false, sha256: h.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

// Hard links from an older set: pairs of paths, "existing\0new\0..." (their folders exist). A name left by a killed
// run is replaced. Returns the pairs' indexes that cannot be linked (another volume, a link count at its limit, a
// file system without links): the caller copies those.
function links(pairs) {
  const p = pairs.split('\0');
  const failed = [];
  for (let i = 0; i + 1 < p.length; i += 2) {
    try {
      fs.linkSync(p[i], p[i + 1]);
    } catch (e) {
      if (e.code === 'EEXIST') {
        fs.rmSync(p[i + 1], { force: true });
        fs.linkSync(p[i], p[i + 1]);
      } else if (e.code === 'EXDEV' || e.code === 'EPERM' || e.code === 'EMLINK' || e.code === 'ENOTSUP') failed.push(i / 2);
      else throw e;
    }
  }
  return { failed };
}

// One job at a time, in the order given (a copy awaits its writes: the next message must not start meanwhile).
let queue = Promise.resolve();
parentPort.on('message', ({ id, file, copy: job, links: pairs }) => {
  queue = queue.then(async () => {
    try {
      parentPort.postMessage({ id, ...(pairs !== undefined ? links(pairs) : job ? await copy({ file, ...job }) : hash(file)) });
    } catch (e) {
      parentPort.postMessage({ id, error: e.message, code: e.code });
    }
  });
});`;

export interface Hashed {
  bytes: number;
  sha256: string;
}

/** A worker's copy: what it read and wrote; `changed` when the source's size or time moved meanwhile (tmp removed). */
export interface Copied extends Hashed {
  direct: boolean;
  changed?: boolean;
}

/** What a worker answers: a hash, a copy or the links it could not make. */
type Answer = Partial<Copied> & { failed?: number[] };

interface Job {
  resolve: (v: Answer) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

const slots: Slot[] = [];
const jobs = new Map<number, Job>();
let nextId = 0;

/** A worker for the next job: the least busy, starting new ones up to one per core. */
function pick(): Slot {
  const max = Math.max(1, Math.min(4, os.availableParallelism()));
  if (slots.length < max && slots.every((s) => s.busy > 0)) {
    // execArgv: [] so that no flag of ours (--input-type=module, loaders) changes how the CommonJS code is read
    const worker = new Worker(WORKER_CODE, { eval: true, execArgv: [] });
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (m: Answer & { id: number; error?: string; code?: string }) => {
      const job = jobs.get(m.id);
      jobs.delete(m.id);
      if (--slot.busy === 0) worker.unref(); // idle workers never keep the process alive
      if (!job) return;
      if (m.error) job.reject(Object.assign(new Error(m.error), { code: m.code }));
      else job.resolve(m);
    });
    worker.on('error', (e) => {
      for (const [id, job] of jobs) {
        jobs.delete(id);
        job.reject(e);
      }
    });
    worker.unref();
    slots.push(slot);
  }
  return slots.reduce((a, b) => (b.busy < a.busy ? b : a));
}

function onWorker(message: { file?: string; copy?: CopyJob; links?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const slot = pick();
    const id = nextId++;
    jobs.set(id, { resolve, reject });
    if (slot.busy++ === 0) slot.worker.ref();
    slot.worker.postMessage({ id, ...message });
  });
}

/** sha256 and size of a file, computed on a worker thread. */
export async function hashOnWorker(file: string): Promise<Hashed> {
  const { bytes, sha256 } = await onWorker({ file });
  return { bytes: bytes!, sha256: sha256! };
}

/**
 * Hard-link files of an older set into a new one on a worker thread: `pairs` of [existing, new] paths, whose folders
 * exist. Returns the indexes of the pairs that cannot be linked (see links() in the worker's code).
 * A nightly backup links tens of thousands of files: on the main thread their system calls, and the garbage of the
 * calls, held up everything else the run does beside them.
 */
export async function linkOnWorker(pairs: Array<[string, string]>): Promise<number[]> {
  const { failed } = await onWorker({ links: pairs.map((p) => `${p[0]}\0${p[1]}`).join('\0') });
  return failed ?? [];
}

/** True where a worker copy can write around the page cache (O_DIRECT: Linux). */
export const DIRECT_WRITES = fs.constants.O_DIRECT !== undefined;

export interface CopyJob {
  /** The new file written (0600 while written; a leftover at that name is replaced). */
  tmp: string;
  /** Its mode once complete. */
  mode: number;
  /** Rename it to this name once complete and unchanged (else the caller renames it). */
  rename?: string;
  /** Its modification time once complete. */
  mtimeMs?: number;
  /** What must have been read (a set's file, by its manifest): else tmp is removed, neither timed nor renamed. */
  expect?: Hashed;
}

/** Copy a file on a worker thread, hashing what it read: see copy() in the worker's code. */
export async function copyOnWorker(file: string, job: CopyJob): Promise<Copied> {
  const m = await onWorker({ file, copy: job });
  return { bytes: m.bytes!, sha256: m.sha256!, direct: !!m.direct, changed: m.changed };
}
