// The per-site lock: one run touches a site at a time; a lock whose process is gone is stale.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { LockedError } from './errors.js';

export interface LockInfo {
  pid: number;
  host: string;
  runId: string;
  startedAt: string;
  site: string;
}

/** true when a process with this pid exists on this machine. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockFile(stateDir: string, site: string): string {
  const key = createHash('sha256').update(site).digest('hex').slice(0, 16);
  return path.join(stateDir, 'locks', `${key}.lock`);
}

/** Take the site lock or throw LockedError naming the holder; a stale lock (dead pid on this host) is replaced. */
export function acquireLock(stateDir: string, site: string, runId: string, log?: (m: string) => void): () => void {
  const file = lockFile(stateDir, site);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const info: LockInfo = { pid: process.pid, host: os.hostname(), runId, startedAt: new Date().toISOString(), site };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o600 });
      return () => releaseLock(file, runId);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readLock(file);
    if (holder && holder.host === os.hostname() && !pidAlive(holder.pid)) {
      log?.(`removing stale lock of run ${holder.runId}: process ${holder.pid} no longer exists`);
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!holder) {
      // Torn or empty lock file: written by a process that died while writing it.
      fs.rmSync(file, { force: true });
      continue;
    }
    throw new LockedError(
      `site ${site} is locked by run ${holder.runId} (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`,
      holder.host === os.hostname()
        ? `wait for it to finish, or stop process ${holder.pid}; then 'qsadmin runs resume ${holder.runId}' if it was interrupted`
        : `the lock is held from another machine; if that run is dead, remove ${file}`,
    );
  }
  throw new LockedError(`could not take the lock ${file}`);
}

export function readLock(file: string): LockInfo | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

function releaseLock(file: string, runId: string): void {
  const holder = readLock(file);
  if (holder && holder.runId === runId && holder.pid === process.pid) fs.rmSync(file, { force: true });
}
