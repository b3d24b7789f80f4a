// Open the site's hosts and find the log files of a window (shared by `logs collect` and `doctor`).
import type { Host } from '../host/types.js';
import { hostPool } from '../runbooks/service-steps.js';
import { databasePassword, superuserConn } from '../site/database.js';
import { readShareFolders } from '../site/share.js';
import type { SiteConfig } from '../site/model.js';
import { listLogFiles, type LogFile } from './collect.js';

/** The log files since `since`, and a close() for the hosts; ArchivedLogs is found through QSR (null, with why, when it cannot be). */
export async function gatherLogs(site: SiteConfig, since: Date, interactive: boolean): Promise<{ files: LogFile[]; archivedLogs: string | null; notes: string[]; close(): Promise<void> }> {
  const { openHost } = await import('../host/index.js');
  const pool = hostPool(site, openHost);
  const notes: string[] = [];
  let archivedLogs: string | null = null;
  try {
    try {
      archivedLogs = (await readShareFolders(superuserConn(site, await databasePassword(site, interactive)))).archivedLogs;
    } catch (e) {
      notes.push(`ArchivedLogs left out: its path is read from QSR, which did not answer (${(e as Error).message})`);
    }
    const files = await listLogFiles(site, (n: string): Promise<Host> => pool.host(n), archivedLogs, since);
    return { files, archivedLogs, notes, close: () => pool.closeAll() };
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
}
