// The backup sets in a target folder: complete, incomplete, verified, and which one an incremental builds on.
import fs from 'node:fs';
import path from 'node:path';
import { InputError, VerificationError } from '../runbook/errors.js';
import { manifestPathProblems } from './manifest-check.js';
import { IN_PROGRESS, MANIFEST, readManifest, readVerified, type Manifest, type VerifyRecord } from './manifest.js';

export interface BackupSetInfo {
  id: string;
  dir: string;
  created: string;
  complete: boolean;
  verified: VerifyRecord | null;
  bytes: number;
  writtenBytes: number;
  files: number;
  base: string | null;
  single: boolean;
  /** Why its manifest cannot be read, when it has one that is damaged. */
  damaged?: string;
}

/** A backup id: the UTC time it was started, sortable. */
export function newBackupId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z');
}

/** Every set under a target folder (directories with a manifest or an in-progress marker, and .tar files), newest first. */
export function listSets(target: string): BackupSetInfo[] {
  if (!fs.existsSync(target)) return [];
  const out: BackupSetInfo[] = [];
  for (const e of fs.readdirSync(target, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue; // a set being deleted (deleteSet), or anything else hidden
    const dir = path.join(target, e.name);
    if (e.isDirectory()) {
      const hasManifest = fs.existsSync(path.join(dir, MANIFEST));
      const inProgress = fs.existsSync(path.join(dir, IN_PROGRESS));
      if (!hasManifest && !inProgress) continue;
      let m: Manifest | null = null;
      let damaged: string | undefined;
      try {
        m = hasManifest ? readManifest(dir) : null;
      } catch (e) {
        damaged = (e as Error).message;
      }
      const started = m?.created ?? readStarted(dir) ?? new Date(fs.statSync(dir).mtimeMs).toISOString();
      out.push({
        id: e.name,
        dir,
        created: started,
        complete: !!m,
        damaged,
        verified: readVerified(dir),
        bytes: m?.totals.bytes ?? 0,
        writtenBytes: m?.totals.writtenBytes ?? 0,
        files: m?.totals.files ?? 0,
        base: m?.base ?? null,
        single: false,
      });
    } else if (e.isFile() && e.name.endsWith('.tar')) {
      const st = fs.statSync(dir);
      const id = e.name.slice(0, -4);
      const sidecar = path.join(target, `${id}.verified.json`);
      out.push({
        id,
        dir,
        created: idToDate(id) ?? new Date(st.mtimeMs).toISOString(),
        complete: true,
        verified: readSidecar(sidecar),
        bytes: st.size,
        writtenBytes: st.size,
        files: 0,
        base: null,
        single: true,
      });
    }
  }
  return out.sort((a, b) => b.created.localeCompare(a.created) || b.id.localeCompare(a.id));
}

/** The newest complete, verified directory set: what the next incremental links unchanged files from. */
export function incrementalBase(target: string, excludeId?: string): { id: string; dir: string; manifest: Manifest } | null {
  if (!fs.existsSync(target)) return null;
  // Set ids are start times, so the newest comes first by name; only the chosen set's (big) manifest is read.
  const ids = fs
    .readdirSync(target, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== excludeId && idToDate(e.name))
    .map((e) => e.name)
    .sort()
    .reverse();
  for (const id of ids) {
    const dir = path.join(target, id);
    if (!readVerified(dir)?.ok) continue;
    let m: Manifest | null = null;
    try {
      m = readManifest(dir);
    } catch {
      continue; // a damaged manifest: not a base to link from
    }
    // A base whose paths leave the set is never linked from (its files could be anywhere).
    if (m && manifestPathProblems(m).length === 0) return { id, dir, manifest: m };
  }
  return null;
}

/** The verification record beside a packed set; a damaged one counts as none. */
function readSidecar(file: string): VerifyRecord | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as VerifyRecord;
  } catch {
    return null;
  }
}

function readStarted(dir: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, IN_PROGRESS), 'utf8')) as { created?: string }).created ?? null;
  } catch {
    return null;
  }
}

function idToDate(id: string): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z` : null;
}

/** True for a name of the form backup ids have (see newBackupId). */
export function looksLikeBackupId(s: string): boolean {
  return idToDate(s) !== null && !/[\\/]/.test(s);
}

/**
 * A set given as a path (folder or .tar) or as an id that `backup list` prints, looked up in the given backup folders
 * in order (--to, then the default folder): the set's path. Anything else is bad input naming where it looked.
 */
export function resolveSetRef(ref: string, folders: Array<string | undefined>): string {
  const abs = path.resolve(ref);
  if (fs.existsSync(abs)) return abs;
  const where = [...new Set(folders.filter((f): f is string => !!f).map((f) => path.resolve(f)))];
  if (looksLikeBackupId(ref)) {
    for (const f of where) {
      for (const p of [path.join(f, ref), path.join(f, `${ref}.tar`)]) if (fs.existsSync(p)) return p;
    }
  }
  throw new InputError(
    `no backup set ${ref}: ${looksLikeBackupId(ref) ? `no set with that id in ${where.join(' or ') || 'any backup folder'}` : `${abs} does not exist`}`,
    'give a set folder, a .tar, or an id from `qsadmin backup list` (with --to for a set outside the default backup folder)',
  );
}

/** The set folder of a listed id in a target, or bad input naming the target. */
export function findListedSet(target: string, id: string): BackupSetInfo {
  const s = listTarget(target).find((x) => x.id === id);
  if (!s) throw new InputError(`no backup set ${id} in ${target}`, 'see the ids with qsadmin backup list (and --to for another folder)');
  return s;
}

/** listSets for a folder that must exist: a missing one is bad input (a typo in a monitoring job must not look like "no backups"). */
export function listTarget(target: string): BackupSetInfo[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    throw new InputError(`the backup folder ${target} does not exist`, 'pass --to with the folder that holds the sets (or set QSADMIN_BACKUP_DIR)');
  }
  if (!st.isDirectory()) throw new InputError(`the backup folder ${target} is not a folder`, 'pass --to with the folder that holds the sets');
  return listSets(target);
}

/** The manifest of a set folder, or of a packed set (read from the .tar's last entries, nothing unpacked). */
export async function manifestOfSet(setPath: string): Promise<Manifest> {
  if (fs.statSync(setPath).isDirectory()) {
    const m = readManifest(setPath);
    if (!m) throw new InputError(`${setPath} is an incomplete backup set (no ${MANIFEST}; its run did not finish)`, 'resume the backup run, or pick another set (qsadmin backup list)');
    return m;
  }
  const { checkLooksLikeSetTar } = await import('./set-tar.js');
  await checkLooksLikeSetTar(setPath);
  const tar = await import('tar');
  const chunks: Buffer[] = [];
  await tar.list({ file: setPath, filter: (p) => p === MANIFEST, onReadEntry: (e) => e.on('data', (c: Buffer) => chunks.push(c)) });
  if (!chunks.length) throw new VerificationError(`${setPath} is a damaged backup set: it has no ${MANIFEST}`, 'use another set (qsadmin backup list)');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
  } catch (e) {
    throw new VerificationError(`${setPath} is a damaged backup set: its ${MANIFEST} is not JSON (${(e as Error).message})`, 'use another set (qsadmin backup list)');
  }
}

/**
 * Remove one set. Other sets share its unchanged files through hard links, which keep their data, so removing a set
 * never breaks another. A folder is first renamed to a hidden name (one atomic step: it never looks half there),
 * then removed.
 */
export function deleteSet(target: string, s: BackupSetInfo): void {
  if (s.single) {
    fs.rmSync(s.dir, { force: true });
    fs.rmSync(path.join(target, `${s.id}.verified.json`), { force: true });
    return;
  }
  const doomed = path.join(target, `.${s.id}.deleting-${process.pid}`);
  fs.renameSync(s.dir, doomed);
  fs.rmSync(doomed, { recursive: true, force: true, maxRetries: 2 });
}

/** Why a set must not be removed without --force, or null. */
export function deleteRefusal(sets: BackupSetInfo[], s: BackupSetInfo): string | null {
  const newestVerified = sets.find((x) => x.complete && x.verified?.ok);
  if (newestVerified?.id === s.id) return `${s.id} is the newest verified set (the one a restore and the next incremental use)`;
  if (!s.complete) return `${s.id} is incomplete: its run may still be writing it, or be resumed`;
  return null;
}
