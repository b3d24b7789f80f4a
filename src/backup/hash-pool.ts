// sha256 of files on worker threads, one per core: hashing is the CPU-bound part of a copy (the kernel does the
// copying), and on one thread it would cap a backup at a single core's hash speed.
import os from 'node:os';
import { Worker } from 'node:worker_threads';

// The worker's code, evaluated as CommonJS so that it loads the same way from sources (tests) and from dist.
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ id, file }) => {
  let fd;
  try {
    const h = createHash('sha256');
    fd = fs.openSync(file, 'r');
    let n, bytes = 0;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) { h.update(buf.subarray(0, n)); bytes += n; }
    parentPort.postMessage({ id, bytes, sha256: h.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id, error: e.message, code: e.code });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});`;

interface Job {
  resolve: (v: { bytes: number; sha256: string }) => void;
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
    worker.on('message', (m: { id: number; bytes?: number; sha256?: string; error?: string; code?: string }) => {
      const job = jobs.get(m.id);
      jobs.delete(m.id);
      if (--slot.busy === 0) worker.unref(); // idle workers never keep the process alive
      if (!job) return;
      if (m.error) job.reject(Object.assign(new Error(m.error), { code: m.code }));
      else job.resolve({ bytes: m.bytes!, sha256: m.sha256! });
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

/** sha256 and size of a file, computed on a worker thread. */
export function hashOnWorker(file: string): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const slot = pick();
    const id = nextId++;
    jobs.set(id, { resolve, reject });
    if (slot.busy++ === 0) slot.worker.ref();
    slot.worker.postMessage({ id, file });
  });
}
