// The share's folders as QSR records them (ServiceClusterSettingsSharedPersistenceProperties): they may lie outside the root.
import path from 'node:path';
import { withClient } from '../postgres/client.js';
import type { DbConn } from './database.js';

export interface ShareFolders {
  root: string;
  apps: string;
  staticContent: string;
  archivedLogs: string;
}

export interface ShareFolderEntry {
  role: 'RootFolder' | 'AppFolder' | 'StaticContentRootFolder' | 'ArchivedLogsRootFolder';
  path: string;
  outsideRoot: boolean;
}

/** Read the share folders from QSR. */
export async function readShareFolders(conn: DbConn): Promise<ShareFolders> {
  return withClient({ ...conn, database: 'QSR' }, async (c) => {
    const r = await c.query<{ RootFolder: string; AppFolder: string; StaticContentRootFolder: string; ArchivedLogsRootFolder: string }>(
      'SELECT "RootFolder", "AppFolder", "StaticContentRootFolder", "ArchivedLogsRootFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties" LIMIT 2',
    );
    if (r.rows.length !== 1) throw new Error(`QSR has ${r.rows.length} rows in ServiceClusterSettingsSharedPersistenceProperties (expected 1): is this a Qlik Sense repository?`);
    const x = r.rows[0];
    return { root: x.RootFolder, apps: x.AppFolder, staticContent: x.StaticContentRootFolder, archivedLogs: x.ArchivedLogsRootFolder };
  });
}

/** Is `p` inside `root`? Windows paths compare case-insensitively. */
export function isInside(root: string, p: string): boolean {
  const win = /^[A-Za-z]:\\|^\\\\/.test(root);
  const lib = win ? path.win32 : path.posix;
  const norm = (s: string) => (win ? lib.normalize(s).toLowerCase() : lib.normalize(s)).replace(/[\\/]+$/, '');
  const rel = lib.relative(norm(root), norm(p));
  return rel === '' || (!rel.startsWith('..') && !lib.isAbsolute(rel));
}

/** The folders to back up: the root, and every QSR folder that lies outside it. */
export function foldersToCapture(f: ShareFolders): ShareFolderEntry[] {
  const all: ShareFolderEntry[] = [
    { role: 'RootFolder', path: f.root, outsideRoot: false },
    { role: 'AppFolder', path: f.apps, outsideRoot: !isInside(f.root, f.apps) },
    { role: 'StaticContentRootFolder', path: f.staticContent, outsideRoot: !isInside(f.root, f.staticContent) },
    { role: 'ArchivedLogsRootFolder', path: f.archivedLogs, outsideRoot: !isInside(f.root, f.archivedLogs) },
  ];
  return all.filter((e) => e.role === 'RootFolder' || e.outsideRoot);
}
