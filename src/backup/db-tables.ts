// Big tables get their own data archive, so that a nightly backup can hard-link the archive of a table that did not
// change since the base set instead of dumping it again (QSR's execution-result tables hold most of its bytes).
//
// "Did not change" is decided from PostgreSQL's own counters, read in the snapshot session while the Qlik services
// are stopped. A table counts as unchanged only when all of these hold, else it is dumped again:
// - statistics are collected (track_counts on), the server has not restarted since the base set (counters of a
//   crashed server are discarded), the database is the same one (oid) and its statistics were not reset since
//   (any reset, also of one table, moves pg_stat_database.stats_reset in PostgreSQL 15);
// - at both captures no other session was connected to the database: a backend writes its pending counters before it
//   leaves pg_stat_activity, so with every other session gone the counters are complete;
// - the table's storage (relfilenode of the table and of its TOAST table: TRUNCATE, VACUUM FULL and rewriting ALTERs
//   change them), its columns, and its inserted/updated/deleted tuple counters are all the same. Aborted writes move
//   the counters too, which only costs a needless dump;
// - the server is PostgreSQL 15 or newer, whose counters live in shared memory and are written by a backend before it
//   leaves. Up to 14 a backend sends them to the statistics collector as UDP messages, which are dropped when the
//   collector's socket buffer is full (a busy server) and read about 0.5 s late (the collector writes its file at
//   most every 500 ms and a backend accepts a file that old): a write just before the capture, or one whose message
//   was lost, would look like no change and the base set's stale archive would be linked. So on 14 and older (the
//   bundled 9.6/12.5 and 14.x of Qlik sites) every big table is dumped again: correct first, the saving only on 15+.
import type pg from 'pg';

export interface TableState {
  schema: string;
  name: string;
  bytes: number;
  filenode: string;
  toastFilenode: string;
  inserted: string;
  updated: string;
  deleted: string;
  /** md5 of the column names, types and not-null flags. */
  columns: string;
}

/** What makes the counters of one capture comparable with another's. */
export interface DbStamp {
  databaseOid: string;
  postmasterStart: string;
  statsReset: string | null;
  trackCounts: boolean;
  /** Sessions on the database other than ours at capture time (must be 0 for reuse). */
  otherSessions: number;
  clientMajor: number;
  /** The server's major version (absent in sets made before it was recorded: then never reused). */
  serverMajor?: number;
}

/** The first major version whose statistics counters cannot miss a finished write (shared-memory statistics). */
export const LOSSLESS_COUNTERS_MAJOR = 15;

export interface DbState {
  stamp: DbStamp;
  /** Tables at least minBytes big, biggest first: each gets its own data archive. */
  tables: TableState[];
  /** For a database without big tables (SenseServices, QSMQ, Licenses): the state of everything its one archive holds. */
  contents?: ContentsState;
}

/**
 * What the one archive of a small database holds, as PostgreSQL counts it: every table's state (as for a big table)
 * and a fingerprint of the rest of the dump: the change counters and storage of the database's system catalogs (any
 * DDL, GRANT, COMMENT or large object writes them; pg_statistic, which a dump does not hold, left out), of the shared
 * catalogs a per-database dump names (roles, tablespaces, subscriptions), and every sequence's value (nextval writes no
 * counter). The archive is reused only when all of it is the same, under the rule of whyNotReusable.
 */
export interface ContentsState {
  tables: TableState[];
  catalog: string;
}

/** Past this many tables a database without big tables is dumped every time (reading its state would lengthen the downtime). */
export const MAX_CONTENTS_TABLES = 200;

/** The most tables split out of one database (each is a pg_dump process). */
export const MAX_SPLIT_TABLES = 8;
/** Default size from which a table gets its own data archive. */
export const DEFAULT_SPLIT_MIN_BYTES = 8 * 1024 * 1024;

/** The tables at least minBytes big (oids), biggest first: read before the downtime, sizes need not be exact. */
export async function bigTables(client: pg.Client, minBytes: number): Promise<number[]> {
  const r = await client.query<{ oid: number }>(
    `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        AND pg_table_size(c.oid) >= $1
      ORDER BY pg_table_size(c.oid) DESC, c.oid LIMIT ${MAX_SPLIT_TABLES}`,
    [minBytes],
  );
  return r.rows.map((x) => Number(x.oid));
}

/**
 * Read the database's stamp and the state of the given tables, in the client's current transaction (the snapshot's):
 * this runs while services are down, so it calls the statistics functions for these tables only.
 */
export async function readDbState(client: pg.Client, tableOids: number[], clientMajor: number): Promise<DbState> {
  const v = await client.query<{ num: string }>(`SELECT current_setting('server_version_num') AS num`);
  const serverMajor = Math.floor(Number(v.rows[0].num) / 10000);
  // Parallel workers of our own session are not other sessions; leader_pid exists from PostgreSQL 13 on.
  const ownWorkers = serverMajor >= 13 ? 'AND a.leader_pid IS DISTINCT FROM pg_backend_pid()' : '';
  const s = await client.query<{ oid: string; started: Date; reset: Date | null; track: string; others: string }>(
    `SELECT d.oid::text AS oid, pg_postmaster_start_time() AS started, pg_stat_get_db_stat_reset_time(d.oid) AS reset,
            current_setting('track_counts') AS track,
            (SELECT count(*) FROM pg_stat_get_activity(NULL) a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid()
               ${ownWorkers} AND a.backend_type <> 'autovacuum worker') AS others
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const row = s.rows[0];
  const stamp: DbStamp = {
    databaseOid: row.oid,
    postmasterStart: row.started.toISOString(),
    statsReset: row.reset ? row.reset.toISOString() : null,
    trackCounts: row.track === 'on',
    otherSessions: Number(row.others),
    clientMajor,
    serverMajor,
  };
  if (!tableOids.length) return { stamp, tables: [], contents: (await readContents(client)) ?? undefined };
  const t = await client.query<TableState>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_table_size(c.oid)::bigint AS bytes,
            pg_relation_filenode(c.oid)::text AS filenode, coalesce(pg_relation_filenode(NULLIF(c.reltoastrelid, 0))::text, '') AS "toastFilenode",
            pg_stat_get_tuples_inserted(c.oid)::text AS inserted, pg_stat_get_tuples_updated(c.oid)::text AS updated,
            pg_stat_get_tuples_deleted(c.oid)::text AS deleted,
            md5(coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text, ',' ORDER BY a.attnum)
                            FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')) AS columns
       FROM unnest($1::oid[]) WITH ORDINALITY AS x(oid, i) JOIN pg_class c ON c.oid = x.oid JOIN pg_namespace n ON n.oid = c.relnamespace
      ORDER BY x.i`,
    [tableOids],
  );
  return { stamp, tables: t.rows.map((r) => ({ ...r, bytes: Number(r.bytes) })) };
}

const TABLE_STATE_COLUMNS = `n.nspname AS schema, c.relname AS name, pg_table_size(c.oid)::bigint AS bytes,
            pg_relation_filenode(c.oid)::text AS filenode, coalesce(pg_relation_filenode(NULLIF(c.reltoastrelid, 0))::text, '') AS "toastFilenode",
            pg_stat_get_tuples_inserted(c.oid)::text AS inserted, pg_stat_get_tuples_updated(c.oid)::text AS updated,
            pg_stat_get_tuples_deleted(c.oid)::text AS deleted,
            md5(coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text, ',' ORDER BY a.attnum)
                            FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')) AS columns`;

/** The contents state of a database without big tables (see ContentsState), or null when it has too many tables. */
async function readContents(client: pg.Client): Promise<ContentsState | null> {
  const t = await client.query<TableState>(
    `SELECT ${TABLE_STATE_COLUMNS}
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY n.nspname, c.relname LIMIT ${MAX_CONTENTS_TABLES + 1}`,
  );
  if (t.rows.length > MAX_CONTENTS_TABLES) return null;
  const f = await client.query<{ catalog: string }>(
    `SELECT md5(coalesce((SELECT string_agg(c.relname || ':' || pg_stat_get_tuples_inserted(c.oid) || ':' || pg_stat_get_tuples_updated(c.oid) || ':'
                                  || pg_stat_get_tuples_deleted(c.oid) || ':' || coalesce(pg_relation_filenode(c.oid)::text, ''), ',' ORDER BY c.relname)
                            FROM pg_class c
                           WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r' AND c.relname <> 'pg_statistic'
                             AND (NOT c.relisshared OR c.relname IN ('pg_authid', 'pg_tablespace', 'pg_subscription'))), '')
               || '/' || coalesce((SELECT string_agg(schemaname || '.' || sequencename || '=' || coalesce(last_value::text, '-'), ',' ORDER BY schemaname, sequencename)
                                     FROM pg_sequences), '')) AS catalog`,
  );
  return { tables: t.rows.map((r) => ({ ...r, bytes: Number(r.bytes) })), catalog: f.rows[0].catalog };
}

/** Why the base set's one archive of a small database cannot be reused now, or null when it can (the rule of whyNotReusable for every table). */
export function whyContentsNotReusable(base: { stamp?: DbStamp; contents?: ContentsState } | undefined, now: DbStamp, contents: ContentsState): string | null {
  if (!base?.stamp || !base.contents) return 'the base set does not record what its archive held';
  const before = new Map(base.contents.tables.map((t) => [tableKey(t), t]));
  if (before.size !== contents.tables.length || contents.tables.some((t) => !before.has(tableKey(t)))) return 'tables were created or dropped';
  for (const t of contents.tables) {
    const why = whyNotReusable({ stamp: base.stamp, table: before.get(tableKey(t)) }, now, t);
    if (why) return `${tableKey(t)}: ${why}`;
  }
  if (base.contents.catalog !== contents.catalog) return 'its schema, privileges, comments, large objects or sequences changed';
  return null;
}

/** Why the base set's archive of a table cannot be reused now, or null when it can. */
export function whyNotReusable(base: { stamp?: DbStamp; table?: TableState } | undefined, now: DbStamp, table: TableState): string | null {
  return whyNotComparable(base, now) ?? whatChanged(base!.table!, table);
}

/**
 * For an append-only table (db-append.ts): how many rows PostgreSQL counts inserted since the base set when, under
 * whyNotReusable's rule, it counts nothing else (no update, no delete, the same storage and columns); else why not.
 * The caller still has to find exactly that many rows past the chain's mark: an insert below it, or an aborted one,
 * leaves fewer there and the table is checked row by row.
 */
export function insertedOnly(base: { stamp?: DbStamp; table?: TableState } | undefined, now: DbStamp, table: TableState): { inserted: number } | { why: string } {
  const why = whyNotComparable(base, now) ?? whatChanged(base!.table!, table, 'inserted');
  if (why) return { why };
  const inserted = Number(table.inserted) - Number(base!.table!.inserted);
  return Number.isSafeInteger(inserted) && inserted >= 0 ? { inserted } : { why: 'its insert counter went back' };
}

/** Why a table's state in the base set cannot be compared with its state now (null when it can). */
function whyNotComparable(base: { stamp?: DbStamp; table?: TableState } | undefined, now: DbStamp): string | null {
  if (!base?.stamp || !base.table) return 'no archive of it in the base set';
  return whyCountersNotComparable(base.stamp, now);
}

/** The first difference of a table's state since the base set (storage, columns, then the counters), or null. */
function whatChanged(p: TableState, table: TableState, ignore?: 'inserted'): string | null {
  for (const k of ['filenode', 'toastFilenode', 'columns', 'inserted', 'updated', 'deleted'] as const) {
    if (k !== ignore && p[k] !== table[k]) return k === 'columns' ? 'its columns changed' : k.endsWith('node') ? 'its storage was rewritten' : `rows were ${k}`;
  }
  return null;
}

/** Why the counters of two captures of a database cannot be compared (null when they can). */
function whyCountersNotComparable(b: DbStamp, now: DbStamp): string | null {
  if (b.serverMajor === undefined || now.serverMajor === undefined) return 'the base set does not record the PostgreSQL version its counters came from';
  const older = Math.min(b.serverMajor, now.serverMajor);
  if (older < LOSSLESS_COUNTERS_MAJOR) {
    return `PostgreSQL ${older} counts changes through its statistics collector, whose messages can be lost or late: only ${LOSSLESS_COUNTERS_MAJOR} and newer count every finished write`;
  }
  if (!now.trackCounts || !b.trackCounts) return 'track_counts is off: PostgreSQL does not count changes';
  if (now.otherSessions > 0 || b.otherSessions > 0) return 'another session was connected to the database during a capture';
  if (b.databaseOid !== now.databaseOid) return 'the database was re-created since the base set';
  if (b.postmasterStart !== now.postmasterStart) return 'the server restarted since the base set';
  if (b.statsReset !== now.statsReset) return 'statistics were reset since the base set';
  if (b.clientMajor !== now.clientMajor) return 'pg_dump changed major version since the base set';
  return null;
}

/** A pg_dump -t pattern that matches exactly this table (double quotes make every character literal). */
export function exactTablePattern(t: { schema: string; name: string }): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${q(t.schema)}.${q(t.name)}`;
}

/** "schema.table", the key row counts use. */
export function tableKey(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}
