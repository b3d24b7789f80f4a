// The private-file writer: files and folders that hold a key, a dump or a password, readable by the caller only.
//
// The mode is given to open(2)/mkdir(2) themselves, so a file is 0600 and a folder 0700 from its first byte (the
// umask can only take bits away; a chmod afterwards would leave a window in which another user can open it). Only
// the folders this creates get the mode: an existing folder the user named (a --to of /tmp, say) is never changed.
// Files written into the site do not come here: they take their destination's permissions.
//
// On Windows a new folder gets an ACL for the caller and SYSTEM (icacls, while it is still empty) that every file
// created in it inherits; files on another node are written by the Windows driver with their ACL set at creation
// (src/host/windows/ps/private.ts).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { InputError } from '../runbook/errors.js';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** What the Host drivers implement (HostFiles extends it): the one way to create private files and folders. */
export interface PrivateFiles {
  /** Create a folder and its missing parents, each 0700 (an ACL for the caller and SYSTEM on Windows). */
  mkdirPrivate(dir: string): Promise<void>;
  /** Write a whole file 0600 through a temporary name and a rename, creating its folder private. */
  writePrivate(file: string, data: Buffer | string): Promise<void>;
  /** Open a new file 0600 for writing (a leftover of a killed run at that name is removed first). */
  openPrivate(file: string): Promise<fs.promises.FileHandle>;
}

/** The error of a target that cannot be a private folder, as bad input naming the path and the fix. */
function targetError(dir: string, e: NodeJS.ErrnoException, at: string): InputError {
  const why: Record<string, string> = {
    ENOTDIR: `${at} is a file, not a folder`,
    EEXIST: `${at} is a file, not a folder`,
    EACCES: `${at} is not writable by this account`,
    EPERM: `${at} is not writable by this account`,
    EROFS: `${at} is on a read-only file system`,
    ENOENT: `${at} cannot hold folders`,
    ENOSPC: `no space left to create ${at}`,
  };
  const reason = why[e.code ?? ''] ?? `${at}: ${e.message}`;
  return new InputError(`cannot create the folder ${dir}: ${reason}`, 'choose a folder this account can write (an existing folder, or a new path under one)');
}

/** The first existing path of `dir` and the missing components below it, top first. */
function missingBelow(dir: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let p = path.resolve(dir);
  for (;;) {
    try {
      fs.lstatSync(p);
      return { existing: p, missing: missing.reverse() };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw targetError(dir, e as NodeJS.ErrnoException, `a part of ${p}`);
      if (code !== 'ENOENT') throw targetError(dir, e as NodeJS.ErrnoException, p);
    }
    missing.push(p);
    const up = path.dirname(p);
    if (up === p) return { existing: p, missing: missing.reverse() };
    p = up;
  }
}

/**
 * Check, creating nothing, that `dir` is a folder or can be created as one: the nearest existing path is a folder
 * this account can write. For --dry-run and for a command's checks before its run starts.
 */
export function checkFolderTarget(dir: string): void {
  const { existing } = missingBelow(dir);
  if (!fs.statSync(existing).isDirectory()) throw targetError(dir, Object.assign(new Error('not a folder'), { code: 'ENOTDIR' }), existing);
  try {
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw targetError(dir, e as NodeJS.ErrnoException, existing);
  }
}

/**
 * Create `dir` and its missing parents one mkdir(2) at a time with mode 0700 (never Node's recursive mkdir, which
 * loops forever on /proc in Node 20). An existing folder is left as it is; a file in the way is bad input.
 */
export function mkdirPrivateSync(dir: string): void {
  const { existing, missing } = missingBelow(dir);
  if (!fs.statSync(existing).isDirectory()) throw targetError(dir, Object.assign(new Error('not a folder'), { code: 'ENOTDIR' }), existing);
  for (const p of missing) {
    try {
      fs.mkdirSync(p, { mode: PRIVATE_DIR_MODE });
      if (process.platform === 'win32') restrictFolderAcl(p);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // A concurrent run may have made it in between: a folder is fine, anything else is not.
      if (err.code === 'EEXIST' && fs.statSync(p).isDirectory()) continue;
      throw targetError(dir, err, p);
    }
  }
}

/**
 * The icacls call that makes a new, still empty folder private on Windows (mode bits mean nothing there): inherited
 * entries removed, full control for the caller and SYSTEM, inherited by everything later created inside. A file
 * needs no call of its own: it is created in such a folder and inherits the two entries.
 */
export function privateAclArgs(dir: string, user: string): string[] {
  return [dir, '/inheritance:r', '/grant:r', `${user}:(OI)(CI)F`, '*S-1-5-18:(OI)(CI)F', '/q'];
}

function restrictFolderAcl(dir: string): void {
  const user = process.env.USERDOMAIN ? `${process.env.USERDOMAIN}\\${process.env.USERNAME}` : String(process.env.USERNAME);
  const r = spawnSync('icacls.exe', privateAclArgs(dir, user), { windowsHide: true, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw Object.assign(new Error(`icacls could not make ${dir} private: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`), { code: 'EPERM' });
  }
}

/** Async form of mkdirPrivateSync. */
export async function mkdirPrivate(dir: string): Promise<void> {
  mkdirPrivateSync(dir);
}

/** Write a whole file 0600 through a temporary name in the same folder and a rename; the folder is made private when missing. */
export async function writePrivate(file: string, data: Buffer | string): Promise<void> {
  mkdirPrivateSync(path.dirname(file));
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const h = await fs.promises.open(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    try {
      await h.writeFile(data);
    } finally {
      await h.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    // A failed write (a full disk, a folder in the way) must not leave its temporary file where a set is checked.
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/** Sync form of writePrivate (for writers that are synchronous). */
export function writePrivateSync(file: string, data: Buffer | string): void {
  mkdirPrivateSync(path.dirname(file));
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Open a new file 0600 for writing. A file already at that name (a .partial of a killed run) is removed first:
 * open(2) applies the mode only to a file it creates, so reusing one would keep whatever mode it had.
 */
export async function openPrivate(file: string): Promise<fs.promises.FileHandle> {
  mkdirPrivateSync(path.dirname(file));
  await fs.promises.rm(file, { force: true });
  return fs.promises.open(file, 'wx', PRIVATE_FILE_MODE);
}

/** Sync form of openPrivate: a file descriptor (for a child's stdout, or a write stream's fd). */
export function openPrivateSync(file: string): number {
  mkdirPrivateSync(path.dirname(file));
  fs.rmSync(file, { force: true });
  return fs.openSync(file, 'wx', PRIVATE_FILE_MODE);
}

/** A write stream onto a new 0600 file (see openPrivate). */
export function createPrivateWriteStream(file: string, opts: { highWaterMark?: number } = {}): fs.WriteStream {
  return fs.createWriteStream(file, { fd: openPrivateSync(file), ...opts });
}

/** The local implementation of PrivateFiles (the emulated driver's, and the machine qsadmin runs on). */
export const localPrivateFiles: PrivateFiles = { mkdirPrivate, writePrivate, openPrivate };
