// Moving the repository databases from one PostgreSQL cluster into another of a newer major: roles first (with their
// password hashes, so that qliksenserepository keeps its password), then each database dumped in custom format and
// restored with parallel jobs into a database made like the old one. Used by `db upgrade --engine native` and by the emulated QPI.
//
// Why dump/restore and not pg_upgrade: pg_upgrade needs the old major's server programs and the new major's
// pg_upgrade side by side on one machine (on Windows, both EDB installs), and leaves the new cluster linked to or
// copied from the old files; dump/restore works between any two majors the client tools support, reads the old
// cluster without changing it (it stays untouched until the new one is verified), and is what stack-notes measured
// here (12 -> 14: a 310 MB QSR in about 3 s).
import fs from 'node:fs';
import path from 'node:path';
import { connect, ident, literal, withClient, type PgConn } from './client.js';
import { countTables } from '../backup/rowcount.js';
import { pgDump, pgDumpall, pgRestore, psql, type PgToolContext } from './tools.js';

export interface MoveOptions {
  from: PgConn;
  to: PgConn;
  /** Client tools that work against both servers (Debian 15's for 12 and 14). */
  tool: PgToolContext;
  /** Folder for the dumps (0700; the globals file holds password hashes and is removed after loading). */
  workDir: string;
  databases: string[];
  jobs?: number;
  log?: (line: string) => void;
}

/** The databases of a cluster that are not templates or the maintenance database. */
export async function userDatabases(conn: PgConn): Promise<string[]> {
  return withClient(conn, async (c) =>
    (await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1")).rows.map((r) => r.datname),
  );
}

/** Exact row counts of every table of each database, keyed "DB:schema.table". */
export async function rowCounts(conn: PgConn, databases: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const db of databases) {
    const c = await connect({ ...conn, database: db });
    try {
      for (const [t, n] of Object.entries(await countTables(c))) out[`${db}:${t}`] = n;
    } finally {
      await c.end();
    }
  }
  return out;
}

/** Lines naming each table whose count differs (or that is missing) between two countings; empty when equal. */
export function countDifferences(before: Record<string, number>, after: Record<string, number>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) if (before[k] !== after[k]) out.push(`${k}: ${before[k] ?? 'missing'} before, ${after[k] ?? 'missing'} after`);
  return out;
}

// pg_dumpall -g writes CREATE ROLE for the superuser it connects as; the new cluster's initdb made that role already.
function globalsForNewCluster(sql: string, superuser: string): string {
  const own = new RegExp(`^CREATE ROLE ${ident(superuser).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};$`, 'm');
  return sql.replace(own, `-- ${superuser} exists already (initdb)`);
}

/** Copy roles and the databases into the new cluster; a database already there is dropped first (a re-run). */
export async function moveDatabases(o: MoveOptions): Promise<void> {
  fs.mkdirSync(o.workDir, { recursive: true, mode: 0o700 });
  const globals = path.join(o.workDir, 'globals.sql');
  try {
    await pgDumpall(o.tool, { ...target(o.from), globalsOnly: true, file: globals });
    fs.writeFileSync(globals, globalsForNewCluster(fs.readFileSync(globals, 'utf8'), o.to.user), { mode: 0o600 });
    // A re-run after a kill: the roles may exist already; the script's ALTER ROLE lines set them again.
    const existing = await withClient(o.to, async (c) => (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname));
    const script = fs.readFileSync(globals, 'utf8').replace(/^CREATE ROLE ("?)([^;"]+)\1;$/gm, (line, _q, name: string) => (existing.includes(name) ? `-- ${name} exists already` : line));
    fs.writeFileSync(globals, script, { mode: 0o600 });
    await psql(o.tool, { ...target(o.to), db: 'postgres', file: globals });
    o.log?.('roles copied (with their password hashes)');
  } finally {
    fs.rmSync(globals, { force: true });
  }
  for (const db of o.databases) {
    const file = path.join(o.workDir, `${db}.dump`);
    await pgDump(o.tool, { ...target(o.from), db, format: 'custom', file });
    // The database is made here, not by pg_restore --create: a newer pg_dump writes CREATE DATABASE options
    // (LOCALE_PROVIDER from 15) that an older target server refuses. Owner, encoding and collation as the old one has.
    const info = await withClient(o.from, async (c) =>
      (await c.query<{ owner: string; enc: string; collate: string; ctype: string }>(
        'SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS enc, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = $1', [db],
      )).rows[0]);
    await withClient(o.to, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${ident(db)}`);
      await c.query(`CREATE DATABASE ${ident(db)} OWNER ${ident(info.owner)} ENCODING ${literal(info.enc)} LC_COLLATE ${literal(info.collate)} LC_CTYPE ${literal(info.ctype)} TEMPLATE template0`);
    });
    // Each restored object commits on its own; waiting for each commit's flush is what makes a restore slow. A crash
    // here loses only this restore, which the row counts would catch and a re-run redoes; a CHECKPOINT follows.
    await pgRestore({ ...o.tool, env: { ...o.tool.env, PGOPTIONS: '-c synchronous_commit=off' } }, { ...target(o.to), db, file, jobs: o.jobs ?? 2, exitOnError: true });
    o.log?.(`${db}: dumped (${fs.statSync(file).size} bytes) and restored`);
  }
  await withClient(o.to, async (c) => c.query('CHECKPOINT'));
}

function target(c: PgConn): { host: string; port: number; user: string } {
  return { host: c.host, port: c.port, user: c.user };
}
