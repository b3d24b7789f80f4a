// Share side of a restore: where each backed-up share folder goes (the recorded path, or under --share-root), the
// guide's copied share put back, and pointing QSR at a new share root. A set's files are staged and swapped: stage.ts.
import fs from 'node:fs';
import path from 'node:path';
import { copyFileHashed, mapLimit } from '../backup/hashcopy.js';
import { insideOrThrow, joinRel } from '../backup/safe-path.js';
import type { ManifestShareFolder } from '../backup/manifest.js';
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

import { joinLike } from '../host/paths.js';

export { joinLike };

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
    return { role: f.role, stored: f.stored, from: joinRel(setDir, f.stored), dest };
  });
}

/**
 * Copy a plain folder (the guide's copied share) over the share root; returns how many files. A live file that would
 * be overwritten is first moved (renamed, same filesystem) to the same place under `oldDir`, the share's safety copy,
 * removed only once the restore is verified. Safe to run again: a file already moved aside is not moved twice.
 */
export async function copyPlainFolder(from: string, destLocal: string, parallel: number, oldDir: string): Promise<{ files: number; replaced: number }> {
  const list = listTree(from);
  let replaced = 0;
  await mapLimit(list, parallel, async (x) => {
    const parts = x.rel.split('/');
    const dest = insideOrThrow(destLocal, x.rel, `${path.join(from, ...parts)}:`);
    const aside = insideOrThrow(oldDir, x.rel);
    if (fs.lstatSync(dest, { throwIfNoEntry: false }) && !fs.lstatSync(aside, { throwIfNoEntry: false })) {
      fs.mkdirSync(path.dirname(aside), { recursive: true });
      fs.renameSync(dest, aside);
      replaced++;
    }
    // Folders of the live share take the share's permissions (copyFileHashed would make missing ones private, as in a set).
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    await copyFileHashed(path.join(from, ...parts), dest);
    // copyFileHashed leaves files read-only (as a backup set keeps them): the live share must stay writable for Qlik.
    fs.chmodSync(dest, 0o644);
    fs.utimesSync(dest, new Date(), new Date(x.mtimeMs));
  });
  return { files: list.length, replaced };
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

/** The share root QSR names in a database (the restored copy, before it is swapped in). */
export async function shareRootIn(conn: DbConn, database: string): Promise<string> {
  return withClient({ ...conn, database }, async (c) => {
    const r = await c.query<{ RootFolder: string }>('SELECT "RootFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties" LIMIT 2');
    if (r.rows.length !== 1) throw new Error(`${database} has ${r.rows.length} rows in ServiceClusterSettingsSharedPersistenceProperties (expected 1)`);
    return r.rows[0].RootFolder;
  });
}

/** The nodes a QSR database names (ServerNodeConfigurations): hostname and whether it is the central node. */
export async function nodesIn(conn: DbConn, database: string): Promise<Array<{ hostname: string; central: boolean }>> {
  return withClient({ ...conn, database }, async (c) => {
    const r = await c.query<{ HostName: string; IsCentral: boolean }>('SELECT "HostName", "IsCentral" FROM "ServerNodeConfigurations"');
    return r.rows.map((x) => ({ hostname: x.HostName, central: !!x.IsCentral }));
  });
}
