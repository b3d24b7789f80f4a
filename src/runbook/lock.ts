// The site lock: one run touches a site at a time, whichever state dir or user it runs with.
//
// - It belongs to the site, not to a state dir: its name is a hash of the site's identity (the runbooks use the
//   central hostname and the database endpoint, so two config files or two state dirs for one site still exclude
//   each other), in one machine-wide folder: %ProgramData%\qsadmin\locks on Windows, /run/lock/qsadmin elsewhere
//   (QSADMIN_LOCK_DIR overrides it).
// - Taking it is atomic: the complete content is written to a temp file, which is then hard-linked to the lock's
//   name. link(2) fails with EEXIST when the name exists, and never replaces it (a rename would), so nobody ever
//   reads a lock that is half written and there is at most one holder.
// - A stale lock (its process gone) is removed only under a second, short-lived lock (<lock>.reap), after reading it
//   again: while a process holds .reap nobody else can remove the lock, so what it removes is what it judged stale.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { LockedError } from './errors.js';

export interface LockInfo {
  pid: number;
  host: string;
  runId: string;
  startedAt: string;
  site: string;
  /** Held by the guard of a killed run while it starts that run's services again (kill-recovery.ts): seconds. */
  guard?: true;
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

/** The machine-wide folder of site locks. */
export function lockDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.QSADMIN_LOCK_DIR) return path.resolve(env.QSADMIN_LOCK_DIR);
  if (platform === 'win32') return path.win32.join(env.ProgramData ?? 'C:\\ProgramData', 'qsadmin', 'locks');
  return fs.existsSync('/run/lock') ? '/run/lock/qsadmin' : path.join(os.tmpdir(), 'qsadmin-locks');
}

/** The lock file of a site identity. */
export function lockFile(site: string, dir: string = lockDir()): string {
  const key = createHash('sha256').update(site).digest('hex').slice(0, 16);
  return path.join(dir, `${key}.lock`);
}

// The folder is shared by every user who runs qsadmin on this machine (like /tmp: sticky, so nobody removes another
// user's lock); a lock holds nothing secret (pid, host, run id, site).
function ensureDir(dir: string): void {
  if (fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { recursive: true });
  if (process.platform !== 'win32') fs.chmodSync(dir, 0o1777);
}

/** Create `file` with `content`, complete, or return false when it exists: write a temp file, link it into place. */
function createComplete(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readRaw(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function parse(raw: string | null): LockInfo | null {
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as LockInfo;
    return typeof v.pid === 'number' && typeof v.runId === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** The lock's process is gone: same machine, no such pid. */
const isStale = (h: { pid: number; host: string } | null): boolean => !!h && h.host === os.hostname() && !pidAlive(h.pid);

function pidHost(raw: string | null): { pid: number; host: string } | null {
  try {
    const v = raw === null ? null : (JSON.parse(raw) as { pid: number; host: string });
    return v && typeof v.pid === 'number' ? v : null;
  } catch {
    return null;
  }
}

/** Remove `file` if it still holds exactly `judged` (the content seen stale), under the reap lock. */
function removeStale(file: string, judged: string): void {
  const reap = `${file}.reap`;
  if (!createComplete(reap, JSON.stringify({ pid: process.pid, host: os.hostname() }))) {
    breakDeadReaper(reap);
    return; // another process is on it: look again
  }
  try {
    if (readRaw(file) === judged) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(reap, { force: true });
  }
}

// A reap lock outlives its process only if it died inside removeStale's few lines. Move it aside under a unique name
// (a rename, so that two processes cannot both remove it) and drop it only if it is still the dead one; a live one
// is linked back.
function breakDeadReaper(reap: string): void {
  const seen = readRaw(reap);
  if (seen === null || !isStale(pidHost(seen))) return;
  const aside = `${reap}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(reap, aside);
  } catch {
    return; // gone meanwhile
  }
  if (readRaw(aside) !== seen) {
    try {
      fs.linkSync(aside, reap);
    } catch {
      // another reaper took its place; the one moved aside was live and has finished by the time it looks
    }
  }
  fs.rmSync(aside, { force: true });
}

export interface LockOptions {
  /** The lock folder (tests); default lockDir(). */
  dir?: string;
  log?: (m: string) => void;
  /** Take it as a killed run's guard (others wait for it rather than being refused). */
  guard?: boolean;
  /** How long to wait for a guard's lock to be released; default 180 s (a guard starts services, then lets go). */
  guardWaitMs?: number;
  /**
   * A pid known to have died (the guard saw its pipe close): its lock for this run is stale even while the pid still
   * exists as a zombie that its parent has not reaped yet, which a signal-0 probe counts as alive.
   */
  deadPid?: number;
}

// A synchronous pause: taking the lock is synchronous (link(2)), and a guard holds it for seconds only.
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Take the site lock or throw LockedError naming the holder; a stale lock (dead pid on this host) is replaced. */
export function acquireLock(site: string, runId: string, opts: LockOptions = {}): () => void {
  const dir = opts.dir ?? lockDir();
  const file = lockFile(site, dir);
  ensureDir(dir);
  const info: LockInfo = { pid: process.pid, host: os.hostname(), runId, startedAt: new Date().toISOString(), site, ...(opts.guard ? { guard: true as const } : {}) };
  const content = JSON.stringify(info) + '\n';
  const guardDeadline = Date.now() + (opts.guardWaitMs ?? 180_000);
  let waitedFor: string | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createComplete(file, content)) return () => releaseLock(file, content);
    const raw = readRaw(file);
    if (raw === null) continue; // released meanwhile
    const holder = parse(raw);
    if (holder?.guard && !isStale(holder) && Date.now() < guardDeadline) {
      if (waitedFor !== raw) opts.log?.(`waiting for the guard of killed run ${holder.runId} (pid ${holder.pid}) to start its services again`);
      waitedFor = raw;
      pause(200);
      attempt--; // waiting for a guard is not the lock changing hands
      continue;
    }
    const knownDead = !!holder && holder.pid === opts.deadPid && holder.runId === runId && holder.host === os.hostname();
    if (holder && (isStale(holder) || knownDead)) {
      opts.log?.(`removing stale lock of run ${holder.runId}: process ${holder.pid} no longer exists`);
      removeStale(file, raw);
      continue;
    }
    if (!holder) {
      // link(2) never shows a half-written lock: this one was damaged or written by hand.
      throw new LockedError(`the lock ${file} of site ${site} is unreadable`, `if no qsadmin run is active on this site, remove ${file}`);
    }
    throw new LockedError(
      `site ${site} is locked by run ${holder.runId} (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`,
      holder.host === os.hostname()
        ? `wait for it to finish, or stop process ${holder.pid}; then 'qsadmin runs resume ${holder.runId}' if it was interrupted`
        : `the lock is held from another machine; if that run is dead, remove ${file}`,
    );
  }
  throw new LockedError(`could not take the lock ${file} of site ${site}: it changed hands 20 times`, 'try again');
}

export function readLock(file: string): LockInfo | null {
  try {
    return parse(readRaw(file));
  } catch {
    return null;
  }
}

// Only the holder removes a live lock, and only its own (same bytes).
function releaseLock(file: string, content: string): void {
  if (readRaw(file) === content) fs.rmSync(file, { force: true });
}
