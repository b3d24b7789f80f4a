// Share side of a restore: where each backed-up share folder goes (the recorded path, or under --share-root), copying
// the files back with their checksums checked, and pointing QSR at a new share root.
import fs from 'node:fs';
import path from 'node:path';
import { copyFileHashed, hashFile, mapLimit } from '../backup/hashcopy.js';
import type { ManifestFile, ManifestShareFolder } from '../backup/manifest.js';
import { listTree } from '../backup/tree.js';
import { withClient } from '../postgres/client.js';
import type { DbConn } from '../site/database.js';
import { readShareFolders, type ShareFolders } from '../site/share.js';

/** One share folder to restore: files stored under `stored` in the set go to `dest` (a path as the site knows it). */
export interface ShareTarget {
  role: string;
  stored: string;
  from: string;
  dest: string;
}

/** Default sub-folder of each QSR share role under a root (guide §2.3 / spc defaults). */
const ROLE_DIR: Record<string, string> = { AppFolder: 'Apps', StaticContentRootFolder: 'StaticContent', ArchivedLogsRootFolder: 'ArchivedLogs' };

/** Join for a path in the style of its root (UNC/drive paths with backslashes, local paths as they are). */
export function joinLike(root: string, ...parts: string[]): string {
  if (/^[A-Za-z]:\\|^\\\\/.test(root)) return path.win32.join(root, ...parts);
  return path.posix.join(root, ...parts);
}

/** The QSR share folders after the restore: as backed up, or all four under the new root (--share-root). */
export function newShareFolders(recorded: ShareFolders, shareRoot?: string): ShareFolders {
  if (!shareRoot) return recorded;
  return { root: shareRoot, apps: joinLike(shareRoot, 'Apps'), staticContent: joinLike(shareRoot, 'StaticContent'), archivedLogs: joinLike(shareRoot, 'ArchivedLogs') };
}

/** Where each backed-up folder of a set goes: the RootFolder to the (new) root, outside folders to their (new) role path. */
export function shareTargets(setDir: string, folders: ManifestShareFolder[], shareRoot?: string): ShareTarget[] {
  return folders.map((f) => {
    let dest = f.path;
    if (shareRoot) dest = f.role === 'RootFolder' ? shareRoot : joinLike(shareRoot, ROLE_DIR[f.role] ?? f.role);
    return { role: f.role, stored: f.stored, from: path.join(setDir, ...f.stored.split('/')), dest };
  });
}

/** Copy the set's files of one folder into place, checking each file's sha256 against the manifest; returns counts. */
export async function restoreFolder(files: ManifestFile[], t: ShareTarget, destLocal: string, parallel: number, onBytes?: (n: number) => void): Promise<{ files: number; bytes: number; extra: string[] }> {
  const mine = files.filter((f) => f.path.startsWith(`${t.stored}/`));
  fs.mkdirSync(destLocal, { recursive: true });
  let bytes = 0;
  await mapLimit(mine, parallel, async (f) => {
    const rel = f.path.slice(t.stored.length + 1);
    const dest = path.join(destLocal, ...rel.split('/'));
    if (fs.existsSync(dest)) {
      const st = fs.statSync(dest);
      if (st.size === f.bytes && (await hashFile(dest)).sha256 === f.sha256) return; // already right: resume and re-runs skip it
      fs.rmSync(dest, { force: true }); // a file in the set may be a hard link: never write through it
    }
    const w = await copyFileHashed(path.join(t.from, ...rel.split('/')), dest);
    if (w.sha256 !== f.sha256) throw new Error(`${f.path}: sha256 ${w.sha256} after the copy, the manifest says ${f.sha256}`);
    if (f.mtimeMs) fs.utimesSync(dest, new Date(), new Date(f.mtimeMs));
    bytes += w.bytes;
    onBytes?.(bytes);
  });
  const wanted = new Set(mine.map((f) => f.path.slice(t.stored.length + 1)));
  const extra = listTree(destLocal).map((x) => x.rel).filter((r) => !wanted.has(r));
  return { files: mine.length, bytes, extra };
}

/** Copy a plain folder (the guide's copied share) over the share root; returns how many files. */
export async function copyPlainFolder(from: string, destLocal: string, parallel: number): Promise<number> {
  const list = listTree(from);
  await mapLimit(list, parallel, async (x) => {
    const dest = path.join(destLocal, ...x.rel.split('/'));
    fs.rmSync(dest, { force: true });
    await copyFileHashed(path.join(from, ...x.rel.split('/')), dest);
    fs.utimesSync(dest, new Date(), new Date(x.mtimeMs));
  });
  return list.length;
}

/** Files whose content differs from the set (or are missing), for the checks and the dry-run. */
export async function mismatchedFiles(files: ManifestFile[], t: ShareTarget, destLocal: string): Promise<string[]> {
  const out: string[] = [];
  // Several files at once: hashing is CPU-bound and the machine has more than one core.
  await mapLimit(files.filter((x) => x.path.startsWith(`${t.stored}/`)), 4, async (f) => {
    const p = path.join(destLocal, ...f.path.slice(t.stored.length + 1).split('/'));
    if (!fs.existsSync(p) || fs.statSync(p).size !== f.bytes || (await hashFile(p)).sha256 !== f.sha256) out.push(p);
  });
  return out.sort();
}

/**
 * Point QSR at the new share folders: AppFolder, ArchivedLogsRootFolder, StaticContentRootFolder and RootFolder of
 * ServiceClusterSettingsSharedPersistenceProperties; the connector columns are left alone. (The guide changes them with
 * QlikSenseUtil's "Service cluster" page; this SQL route is not the guide's.)
 */
export async function updateShareFolders(conn: DbConn, f: ShareFolders): Promise<void> {
  await withClient({ ...conn, database: 'QSR' }, async (c) => {
    const r = await c.query(
      'UPDATE "ServiceClusterSettingsSharedPersistenceProperties" SET "RootFolder" = $1, "AppFolder" = $2, "StaticContentRootFolder" = $3, "ArchivedLogsRootFolder" = $4',
      [f.root, f.apps, f.staticContent, f.archivedLogs],
    );
    if (r.rowCount !== 1) throw new Error(`QSR has ${r.rowCount} rows in ServiceClusterSettingsSharedPersistenceProperties (expected 1)`);
  });
}

/** True when QSR already names these share folders. */
export async function shareFoldersAre(conn: DbConn, f: ShareFolders): Promise<boolean> {
  const now = await readShareFolders(conn);
  return now.root === f.root && now.apps === f.apps && now.staticContent === f.staticContent && now.archivedLogs === f.archivedLogs;
}
