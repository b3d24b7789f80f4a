// Probes of a backup target folder, each with a time limit: a hung network share or a pseudo filesystem must give a
// clear refusal (exit 2), never a run that hangs while it holds the site's lock. (Node 20's recursive mkdir loops
// forever under /proc, so folders are created one level at a time here.)
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';

export const PROBE_TIMEOUT_MS = 15_000;

/** statfs magic numbers of filesystems that are views of the kernel, not storage. */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x1cd1: 'devpts',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x73636673: 'securityfs',
  0x74726163: 'tracefs',
  0x6165676c: 'pstorefs',
  0x42494e4d: 'binfmt_misc',
  0xcafe4a11: 'bpf',
};

/** Run one probe with a time limit; a probe still running then is left to the thread pool, the run refuses. */
async function probe<T>(what: string, target: string, p: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InputError(`the backup target ${target} did not answer within ${Math.round(timeoutMs / 1000)} s (${what})`, 'check that the folder (or its network share) is reachable, or choose another --to')), timeoutMs);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The deepest folder of `to` that exists, and the ones below it that do not (top first). */
async function existingAncestor(to: string, timeoutMs: number): Promise<{ dir: string; missing: string[] }> {
  const missing: string[] = [];
  let dir = to;
  for (;;) {
    const st = await probe(`stat ${dir}`, to, fs.promises.stat(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e))), timeoutMs);
    if (st) {
      if (!st.isDirectory()) throw new InputError(`the backup target ${to} is not a folder (${dir} is a file)`, 'pass --to with a folder');
      return { dir, missing };
    }
    const up = path.dirname(dir);
    if (up === dir) return { dir, missing };
    missing.unshift(dir);
    dir = up;
  }
}

/**
 * Check a target without changing anything: its nearest existing folder is a folder on real storage and writable.
 * Returns that folder and the folders that would have to be created.
 */
export async function checkTargetReadOnly(to: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ dir: string; missing: string[] }> {
  const found = await existingAncestor(to, timeoutMs).catch((e) => {
    if (e instanceof InputError) throw e;
    throw new InputError(`the backup target ${to} cannot be used: ${(e as Error).message}`, 'choose another --to');
  });
  if (process.platform !== 'win32') {
    const st = await probe('statfs', to, fs.promises.statfs(found.dir), timeoutMs);
    const pseudo = PSEUDO_FS[Number(st.type)];
    if (pseudo) throw new InputError(`the backup target ${to} is on the ${pseudo} filesystem (${found.dir}), which holds no files`, 'choose a folder on a disk or a network share for --to');
  }
  await probe('access', to, fs.promises.access(found.dir, fs.constants.W_OK), timeoutMs).catch((e) => {
    if (e instanceof InputError) throw e;
    throw new InputError(`the backup target ${to} is not writable (${found.dir})`, 'choose another --to, or give this account write access');
  });
  return found;
}

/**
 * Make the target usable: create its missing folders one level at a time, prove a file can be written and removed
 * there, and return the free bytes. Every call has a time limit.
 */
export async function prepareTarget(to: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ freeBytes: number }> {
  const { missing } = await checkTargetReadOnly(to, timeoutMs);
  for (const d of missing) {
    await probe(`mkdir ${d}`, to, fs.promises.mkdir(d, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e))), timeoutMs).catch((e) => {
      if (e instanceof InputError) throw e;
      throw new InputError(`the backup target ${to} cannot be created: ${(e as Error).message}`, 'create the folder first, or choose another --to');
    });
  }
  const testFile = path.join(to, `.qsadmin-probe-${process.pid}`);
  await probe('write a test file', to, (async () => {
    await fs.promises.writeFile(testFile, 'probe\n', { mode: 0o600 });
    await fs.promises.rm(testFile, { force: true });
  })(), timeoutMs).catch((e) => {
    if (e instanceof InputError) throw e;
    throw new InputError(`the backup target ${to} is not writable: ${(e as Error).message}`, 'choose another --to, or give this account write access');
  });
  const st = await probe('statfs', to, fs.promises.statfs(to), timeoutMs);
  return { freeBytes: Number(st.bavail) * Number(st.bsize) };
}
