// Finding the PostgreSQL client tools (pg_dump, pg_restore, psql) that match the site's database server.
// Windows locations: the Qlik-bundled server (guide §2.5: %ProgramFiles%\Qlik\Sense\Repository\PostgreSQL\<version>)
// and a QPI or dedicated EnterpriseDB install (§2.6: C:\Program Files\PostgreSQL\<version>).
import { constants as fsc } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { childEnv } from '../runbook/children.js';
import { parsePgVersion, type PgVersion } from './version.js';

export interface PgBinDir extends PgVersion {
  dir: string;
}

export interface FindPgBinOptions {
  /** The site's own folder of client tools (DatabaseConfig.binDir): when given, only it is used. */
  hint?: string;
  /** Major version of the server the tools must work with; older clients are refused. */
  serverMajor?: number;
  /** Full server version, only for messages ("14.17"). */
  serverVersion?: string;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
}

type ListDir = (dir: string) => Promise<string[]>;

// Name of a PostgreSQL tool's executable on a platform.
export function toolFile(dir: string, tool: string, platform: NodeJS.Platform = process.platform): string {
  const p = platform === 'win32' ? path.win32 : path.posix;
  return p.join(dir, platform === 'win32' ? `${tool}.exe` : tool);
}

// Sort version-named folders ("9.6", "12.5", "14") newest first.
function newestFirst(names: string[]): string[] {
  const key = (n: string) => n.split('.').map((x) => Number(x));
  return names
    .filter((n) => /^\d+(\.\d+)*$/.test(n))
    .sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
        const d = (kb[i] ?? 0) - (ka[i] ?? 0);
        if (d !== 0) return d;
      }
      return 0;
    });
}

// List a folder's entries, or none when it does not exist.
async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

// Folders whose <version>\bin subfolders hold PostgreSQL installs: Qlik's bundled one and QPI's (Windows), Debian's.
function versionParents(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform === 'win32') {
    const programFiles = env.ProgramFiles ?? env.PROGRAMFILES ?? 'C:\\Program Files';
    return [path.win32.join(programFiles, 'Qlik', 'Sense', 'Repository', 'PostgreSQL'), path.win32.join(programFiles, 'PostgreSQL')];
  }
  return platform === 'linux' ? ['/usr/lib/postgresql'] : [];
}

// The folders to look in for client tools, most likely first (without the hint).
export async function candidateBinDirs(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  listDir: ListDir = listOrEmpty,
): Promise<string[]> {
  const out: string[] = [];
  const p = platform === 'win32' ? path.win32 : path.posix;
  for (const parent of versionParents(platform, env)) {
    for (const v of newestFirst(await listDir(parent))) out.push(p.join(parent, v, 'bin'));
  }
  const delimiter = platform === 'win32' ? ';' : ':';
  for (const d of (env.PATH ?? env.Path ?? '').split(delimiter)) if (d && !out.includes(d)) out.push(d);
  return out;
}

// Whether a tool executable exists in a folder.
async function hasTool(dir: string, tool: string, platform: NodeJS.Platform): Promise<boolean> {
  try {
    await access(toolFile(dir, tool, platform), platform === 'win32' ? fsc.F_OK : fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

// Version of a client tool in a folder, from `<tool> --version`.
export async function clientVersion(dir: string, tool = 'pg_dump', platform: NodeJS.Platform = process.platform): Promise<PgVersion> {
  const file = toolFile(dir, tool, platform);
  const r = await execa(file, ['--version'], { reject: false, timeout: 15_000, stdin: 'ignore', env: childEnv(), extendEnv: false });
  if (r.exitCode !== 0) throw new Error(`${file} --version failed (exit ${r.exitCode}): ${String(r.stderr || r.stdout).trim()}`);
  return parsePgVersion(String(r.stdout));
}

// Refuse a client older than the server, with the guide's advice.
function tooOld(best: PgBinDir, found: PgBinDir[], opts: FindPgBinOptions): Error {
  const server = opts.serverVersion ?? String(opts.serverMajor);
  const list = found.map((f) => `${f.dir} (${f.version})`).join(', ');
  return new Error(`pg_dump ${best.version} cannot dump a ${server} server: use the client tools of the server (found: ${list})`);
}

// Find the folder of pg_dump/pg_restore/psql to use against a server of the given major version.
export async function findPgBinDir(opts: FindPgBinOptions = {}): Promise<PgBinDir> {
  const platform = opts.platform ?? process.platform;
  const serverMajor = opts.serverMajor ?? (opts.serverVersion ? parsePgVersion(opts.serverVersion).major : undefined);
  const o = { ...opts, serverMajor };
  if (opts.hint) {
    if (!(await hasTool(opts.hint, 'pg_dump', platform))) {
      throw new Error(`the database bin folder "${opts.hint}" has no ${path.basename(toolFile(opts.hint, 'pg_dump', platform))}: fix database.binDir in the site config, or remove it to let qsadmin find the client tools`);
    }
    const found = { dir: opts.hint, ...(await clientVersion(opts.hint, 'pg_dump', platform)) };
    if (serverMajor !== undefined && found.major < serverMajor) throw tooOld(found, [found], o);
    return found;
  }
  const dirs = await candidateBinDirs(platform, opts.env ?? process.env);
  const found: PgBinDir[] = [];
  for (const dir of dirs) {
    if (!(await hasTool(dir, 'pg_dump', platform))) continue;
    try {
      found.push({ dir, ...(await clientVersion(dir, 'pg_dump', platform)) });
    } catch {
      // a broken or foreign pg_dump on PATH is skipped; the error below lists what was usable
    }
  }
  if (found.length === 0) {
    const sep = platform === 'win32' ? '\\' : '/';
    const where = [...versionParents(platform, opts.env ?? process.env).map((d) => `${d}${sep}<version>${sep}bin`), 'PATH'].join(', ');
    throw new Error(`no PostgreSQL client tools (pg_dump) found in ${where} (folders checked: ${dirs.join(', ') || 'none'}): install the client tools of the server's version or set database.binDir in the site config`);
  }
  if (serverMajor === undefined) return found[0];
  const exact = found.find((f) => f.major === serverMajor);
  if (exact) return exact;
  const newer = found.find((f) => f.major > serverMajor);
  if (newer) return newer;
  const best = [...found].sort((a, b) => b.major - a.major)[0];
  throw tooOld(best, found, o);
}

// Find a folder holding the server programs (initdb, pg_ctl, postgres) for an emulated or scratch cluster.
export async function findServerBinDir(hint?: string, platform: NodeJS.Platform = process.platform): Promise<PgBinDir> {
  const dirs = hint ? [hint] : await candidateBinDirs(platform);
  for (const dir of dirs) {
    const all = await Promise.all(['initdb', 'pg_ctl', 'postgres'].map((t) => hasTool(dir, t, platform)));
    if (all.every(Boolean)) return { dir, ...(await clientVersion(dir, 'postgres', platform)) };
  }
  throw new Error(`no PostgreSQL server programs (initdb, pg_ctl, postgres) found; looked in: ${dirs.join(', ')}: install postgresql (Debian: apt-get install -y postgresql) or pass binDir`);
}
