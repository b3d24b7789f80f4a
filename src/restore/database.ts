// Database side of a restore: safety dumps, missing roles from globals.sql, restore into a new name and swap.
//
// Choice (documented in the plan): each database is restored into "<DB>__qsadmin_restore" (createdb -T template0 with
// the recorded owner and encoding, then pg_restore), its row counts are compared with the manifest, and only then, in
// one short step, "<DB>" is renamed to "<DB>__qsadmin_old" and the new one to "<DB>". The old one is dropped at the very
// end, after QRS answered and the share was checked. Until then a rollback is two renames.
import fs from 'node:fs';
import path from 'node:path';
import { countTables } from '../backup/rowcount.js';
import { archiveEntries, loadArchives, type ArchiveFile } from '../backup/db-load.js';
import { dumpArchiveSet } from '../backup/db-archives.js';
import { openSessions, releaseSnapshots, takeSnapshots } from '../backup/db-capture.js';
import { DEFAULT_SPLIT_MIN_BYTES, MAX_SPLIT_TABLES } from '../backup/db-tables.js';
import { zstdAvailable, type Compression } from '../backup/compress.js';
import type { Manifest } from '../backup/manifest.js';
import { clientVersion } from '../postgres/bin.js';
import { writeFileAtomic } from '../runbook/fsutil.js';
import { ident, literal, withClient, type PgConn } from '../postgres/client.js';
import { pgDump, pgRestoreList, psql, runPgTool, type PgToolContext } from '../postgres/tools.js';
import { faultPoint } from '../runbook/fault.js';
import type { DbConn } from '../site/database.js';

import { oldName, restoreName } from './names.js';

export { OLD_SUFFIX, RESTORE_SUFFIX, oldName, restoreName } from './names.js';
export const REPOSITORY_ROLE = 'qliksenserepository';

/** The databases of the server with owner and encoding, by name. */
export async function databasesOf(conn: DbConn): Promise<Map<string, { owner: string; encoding: string; oid: number }>> {
  return withClient({ ...conn, database: 'postgres' }, async (c) => {
    const r = await c.query<{ name: string; owner: string; encoding: string; oid: string }>(
      `SELECT d.datname AS name, r.rolname AS owner, pg_encoding_to_char(d.encoding) AS encoding, d.oid::text AS oid FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE NOT d.datistemplate`,
    );
    return new Map(r.rows.map((x) => [x.name, { owner: x.owner, encoding: x.encoding, oid: Number(x.oid) }]));
  });
}

/** Roles that exist on the server. */
export async function existingRoles(conn: DbConn): Promise<Set<string>> {
  return withClient({ ...conn, database: 'postgres' }, async (c) => new Set((await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname)));
}

/** Parse the role statements of a pg_dumpall globals file: CREATE ROLE, ALTER ROLE and GRANT role TO role, per role. */
export function parseGlobals(sql: string): { roles: Map<string, string[]>; grants: Array<{ sql: string; roles: string[] }> } {
  const roles = new Map<string, string[]>();
  const grants: Array<{ sql: string; roles: string[] }> = [];
  const name = `("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
  const unq = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s);
  for (const line of sql.split('\n')) {
    const create = new RegExp(`^CREATE ROLE ${name};`).exec(line);
    const alter = new RegExp(`^ALTER ROLE ${name} WITH (.*);$`).exec(line);
    const grant = new RegExp(`^GRANT ${name} TO ${name}`).exec(line);
    if (create) roles.set(unq(create[1]), [...(roles.get(unq(create[1])) ?? []), line]);
    else if (alter) {
      // Never touch passwords: drop any PASSWORD clause (a --no-role-passwords dump has none).
      const opts = alter[2].replace(/\s*(ENCRYPTED\s+)?PASSWORD\s+('(?:[^']|'')*'|NULL)/gi, '');
      roles.set(unq(alter[1]), [...(roles.get(unq(alter[1])) ?? []), `ALTER ROLE ${alter[1]} WITH ${opts};`]);
    } else if (grant) grants.push({ sql: line.replace(/ GRANTED BY .*;$/, ';'), roles: [unq(grant[1]), unq(grant[2])] });
  }
  return { roles, grants };
}

/** Create the roles of a globals file that do not exist yet (no password is set or changed); returns their names. */
export async function createMissingRoles(conn: DbConn, globalsSql: string): Promise<string[]> {
  const { roles, grants } = parseGlobals(globalsSql);
  const have = await existingRoles(conn);
  const created: string[] = [];
  await withClient({ ...conn, database: 'postgres' }, async (c) => {
    for (const [role, stmts] of roles) {
      if (have.has(role)) continue;
      for (const s of stmts) await c.query(s);
      created.push(role);
    }
    for (const g of grants) if (g.roles.some((r) => created.includes(r))) await c.query(g.sql).catch(() => undefined);
  });
  return created;
}

/** End every other session on a database; returns how many. */
export async function endSessions(conn: DbConn, db: string): Promise<number> {
  return withClient({ ...conn, database: 'postgres' }, async (c) => {
    const r = await c.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
    return r.rows.filter((x) => x.ok).length;
  });
}

/**
 * Create "<DB>__qsadmin_restore" afresh for each database to load, on one connection (what an interrupted attempt
 * left under that name is dropped first): createdb -T template0 -E <encoding> -O <owner> (the guide's command), then
 * the §2.5 database grants. Done before the loads start rather than inside each: four CREATE DATABASE at once, among
 * the dumps and copies of the parallel group, took 3 s where one after another on an idle server take 0.2 s.
 */
export async function createForLoad(conn: DbConn, dbs: Array<{ name: string; owner: string; encoding: string }>, serverMajor: number): Promise<void> {
  await dropAll(conn, dbs.map((d) => restoreName(d.name)), serverMajor);
  await withClient({ ...conn, database: 'postgres' }, async (c) => {
    const repo = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [REPOSITORY_ROLE])).rows.length > 0;
    for (const d of dbs) {
      const name = restoreName(d.name);
      await c.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0 ENCODING ${literal(d.encoding)} OWNER ${ident(d.owner)}`);
      await c.query(`GRANT ALL ON DATABASE ${ident(name)} TO ${ident(conn.user)}`);
      if (repo) await c.query(`GRANT CREATE, CONNECT, TEMPORARY ON DATABASE ${ident(name)} TO ${ident(REPOSITORY_ROLE)}`);
    }
  });
}

/** A dump to load: a compressed custom-format dump of a backup set, or a pg_dump -F t file of the guide's procedure. */
export interface DumpFile {
  db: string;
  file: string;
  compression: Compression;
  /** 'sql': a script of a split pg_dumpall file, run through psql (it connects to the restore name itself). */
  format?: 'archive' | 'sql';
  /** The data archives of its big tables (backup sets since table archives; see backup/db-load.ts). */
  tables?: ArchiveFile[];
}

/** Restore a dump into its "<DB>__qsadmin_restore", just made by createForLoad (owners kept: the roles exist). */
export async function loadIntoNewName(tool: PgToolContext, conn: DbConn, d: DumpFile): Promise<string> {
  const target = restoreName(d.db);
  if (d.format === 'sql') await runSqlFile(tool, conn, d.file);
  else await loadArchives(tool, { host: conn.host, port: conn.port, user: conn.user }, target, { db: d.db, main: { file: d.file, compression: d.compression }, tables: d.tables ?? [] });
  return target;
}

/** Exact row counts of a database's tables ("schema.table"). */
export async function rowCounts(conn: DbConn, db: string): Promise<Record<string, number>> {
  return withClient({ ...conn, database: db }, (c) => countTables(c));
}

/** Differences between counted rows and the expected ones (empty when they match). */
export function compareCounts(db: string, got: Record<string, number>, want: Record<string, number>): string[] {
  const out: string[] = [];
  for (const [t, n] of Object.entries(want)) if (got[t] !== n) out.push(`${db}: table ${t} has ${got[t] ?? 'no'} rows, the backup has ${n}`);
  for (const t of Object.keys(got)) if (!(t in want)) out.push(`${db}: table ${t} is not in the backup`);
  return out;
}

/**
 * Swap every restored database in, in one transaction on one connection: "<DB>" → "<DB>__qsadmin_old",
 * "<DB>__qsadmin_restore" → "<DB>". PostgreSQL allows ALTER DATABASE RENAME in a transaction block, so the swap is
 * all or nothing: a crash (or a session that would not end) leaves every database as it was, and running it again
 * finishes it. Databases already swapped by an earlier attempt are reported as 'done'.
 */
export async function swapAll(conn: DbConn, dbs: string[]): Promise<Record<string, 'swapped' | 'renamed' | 'done'>> {
  const have = await databasesOf(conn);
  const result: Record<string, 'swapped' | 'renamed' | 'done'> = {};
  const renames: Array<[string, string]> = [];
  for (const db of dbs) {
    const fresh = restoreName(db);
    if (!have.has(fresh)) {
      if (!have.has(db)) throw new Error(`neither ${db} nor ${fresh} exists: load the database again (resume the run)`);
      result[db] = 'done';
      continue;
    }
    if (have.has(db)) {
      if (have.has(oldName(db))) throw new Error(`${oldName(db)} already exists from an earlier restore: drop it (dropdb "${oldName(db)}") or rename it back, then resume`);
      renames.push([db, oldName(db)]);
    }
    renames.push([fresh, db]);
    result[db] = have.has(db) ? 'swapped' : 'renamed';
  }
  if (!renames.length) return result;
  const busy = renames.map(([from]) => from);
  await withClient({ ...conn, database: 'postgres' }, async (c) => {
    // A terminated backend takes a moment to exit, and a rename fails while it is there: retry for a few seconds.
    for (let attempt = 1; ; attempt++) {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()', [busy]);
      try {
        await c.query('BEGIN');
        for (const [from, to] of renames) {
          await c.query(`ALTER DATABASE ${ident(from)} RENAME TO ${ident(to)}`);
          faultPoint('restore.db.swap:in-transaction');
        }
        await c.query('COMMIT');
        return;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        if ((e as { code?: string }).code !== '55006' || attempt >= 20) throw e; // 55006: object_in_use
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  });
  return result;
}

/**
 * A CHECKPOINT on its own connection, for the caller to await later. Every DROP DATABASE makes PostgreSQL checkpoint
 * (immediate, waiting); the first one after the loads would write out everything they left dirty. Started right after
 * the swap, that write overlaps the service start and the checks instead of lengthening the cleanup.
 */
export function checkpointSoon(conn: DbConn): Promise<void> {
  return withClient({ ...conn, database: 'postgres' }, async (c) => void (await c.query('CHECKPOINT')));
}

/** Drop databases (if they exist) over one connection: WITH (FORCE) ends their sessions on PostgreSQL 13 and newer. */
export async function dropAll(conn: DbConn, dbs: string[], serverMajor: number): Promise<void> {
  await withClient({ ...conn, database: 'postgres' }, async (c) => {
    for (const db of dbs) {
      if (serverMajor >= 13) {
        await c.query(`DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`);
        continue;
      }
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
      await c.query(`DROP DATABASE IF EXISTS ${ident(db)}`);
    }
  });
}

/** What a safety dump wrote (its record, written last: the dump is complete when the record exists). */
export interface SafetyRecord {
  db: string;
  /** Archive files relative to the safety folder: main first, then table archives. */
  files: Array<{ path: string; table?: string; reused?: boolean; compression: Compression }>;
  rowCounts?: Record<string, number>;
}

/** The record of a database's safety dump (zstd-compressed archives where the zstd program exists, else one file). */
export function safetyDumpPath(dir: string, db: string): string {
  return path.join(dir, zstdAvailable() ? `${db}.safety.json` : `${db}.dump`);
}

/** The safety dump's archives as the rollback loads them. */
export function readSafetyRecord(dir: string, db: string): SafetyRecord | null {
  const record = path.join(dir, `${db}.safety.json`);
  if (fs.existsSync(record)) return JSON.parse(fs.readFileSync(record, 'utf8')) as SafetyRecord;
  if (fs.existsSync(path.join(dir, `${db}.dump`))) return { db, files: [{ path: `${db}.dump`, compression: 'none' }] };
  return null;
}

/**
 * Dump the current database before it is replaced. With zstd: from an exported snapshot, as a backup's archives
 * (db-archives.ts); big tables that PostgreSQL counts unchanged since `base` (the set being restored, when it is
 * this site's) are hard-linked from it instead of dumped again. Without zstd: one pg_dump -Fc -Z 1 file.
 */
export async function safetyDump(tool: PgToolContext, conn: DbConn, db: string, dir: string, base?: { id: string; dir: string; manifest: Manifest } | null, log: (l: string) => void = () => undefined): Promise<{ file: string; entries: number }> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = safetyDumpPath(dir, db);
  if (file.endsWith('.safety.json')) {
    const sessions = await openSessions(conn, [db], DEFAULT_SPLIT_MIN_BYTES);
    try {
      // The tables the set keeps archives of are split here too, so that the unchanged ones can be linked from it.
      const inSet = (base ? (archiveEntries(base.manifest, db)?.tables ?? []) : []).map((f) => `${f.table!.schema}.${f.table!.name}`);
      if (inSet.length) {
        const r = await sessions[0].client.query<{ oid: number }>(
          `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname || '.' || c.relname = ANY($1::text[])`,
          [inSet],
        );
        sessions[0].big = [...new Set([...r.rows.map((x) => Number(x.oid)), ...(sessions[0].big ?? [])])].slice(0, MAX_SPLIT_TABLES);
      }
      const [snap] = await takeSnapshots(sessions, (await clientVersion(tool.binDir, 'pg_dump')).major);
      const r = await dumpArchiveSet({ tool, target: { host: conn.host, port: conn.port, user: conn.user }, snap, dir, prefix: '', compress: 'zstd', parallel: 3, base, log });
      const record: SafetyRecord = { db, files: r.files.map((f) => ({ path: f.path, table: f.table ? `${f.table.schema}.${f.table.name}` : undefined, reused: f.reused, compression: 'zstd' })), rowCounts: r.rowCounts };
      writeFileAtomic(file, JSON.stringify(record, null, 1) + '\n');
      return { file, entries: r.files.length };
    } finally {
      await releaseSnapshots(sessions);
    }
  }
  const tmp = `${file}.partial`;
  // -Z 1: it runs beside the loads on the same cores, and zlib's fastest level costs a fraction of its default's CPU.
  await pgDump(tool, { host: conn.host, port: conn.port, user: conn.user, db, format: 'custom', compress: 1, file: tmp });
  const { count } = await pgRestoreList(tool, tmp);
  if (count === 0) throw new Error(`the safety dump of ${db} lists no entries: refusing to go on`);
  fs.renameSync(tmp, file);
  return { file, entries: count };
}

/** The version lines of a dump's table of contents: "Dumped from database version" and "Dumped by pg_dump version". */
export async function dumpVersions(tool: PgToolContext, file: string): Promise<{ server?: string; client?: string }> {
  const r = await runPgTool(tool, 'pg_restore', ['--list', file], { file });
  const server = /Dumped from database version:\s*([0-9.]+)/.exec(r.stdout)?.[1];
  const client = /Dumped by pg_dump version:\s*([0-9.]+)/.exec(r.stdout)?.[1];
  return { server, client };
}

/** Run a plain-SQL file through psql against the postgres database (pg_dumpall output; stops at the first error). */
export async function runSqlFile(tool: PgToolContext, conn: DbConn, file: string): Promise<void> {
  await psql(tool, { host: conn.host, port: conn.port, user: conn.user, db: 'postgres', file });
}

/**
 * The commands that load a database's safety dump into an empty "<DB>" by hand, one a line: a .zst archive is first
 * decompressed to a file beside it (a pipe of binary data between two programs breaks in Windows PowerShell 5.1),
 * and a dump with table archives loads in sections (pre-data, data, each table, post-data).
 */
export function safetyLoadLines(conn: PgConn, db: string, safetyDir: string): string[] {
  const at = `-h ${conn.host} -p ${conn.port} -U ${conn.user}`;
  const plain = (f: string) => (f.endsWith('.zst') ? f.slice(0, -4) : f);
  const unzst = (f: string) => (f.endsWith('.zst') ? [`zstd -d -f "${f}" -o "${plain(f)}"`] : []);
  const load = (f: string, extra = '') => `pg_restore ${at} ${extra ? `${extra} ` : ''}-d "${db}" "${plain(f)}"`;
  const r = readSafetyRecord(safetyDir, db);
  if (!r) {
    // Still being written when the failure happened (it runs beside other steps): not usable.
    return [`(the safety dump of ${db} in ${safetyDir} was not finished: it cannot be loaded)`];
  }
  const [main, ...tables] = r.files.map((f) => path.join(safetyDir, ...f.path.split('/')));
  const lines = [...unzst(main), ...tables.flatMap(unzst)];
  if (!tables.length) return [...lines, load(main)];
  return [...lines, load(main, '--section=pre-data'), load(main, '--section=data'), ...tables.map((t) => load(t)), load(main, '--section=post-data')];
}
