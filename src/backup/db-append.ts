// Append-only tables: QSR's execution-result tables, which hold most of its bytes and to which reloads only add rows.
// A nightly backup stores only the rows added since its base set, next to the base set's archives of that table.
//
// A table's archives in a set form a chain of parts: one full part (pg_dump, as any big table) and then appended parts
// (COPY text of the rows past the previous part's high-water mark), each part with its row count and an additive
// content hash (the sum over its rows of a 64-bit hash of each row's text: hashtextextended, PostgreSQL's own hash of
// hash partitioning, from 11 on; a 60-bit md5 prefix before, about half as fast). The table's rows at capture are the union of the
// parts, so the table's hash is the sum of the parts' hashes. The next backup reuses the chain only when, in its own
// snapshot, the rows at or below the chain's high-water mark are exactly the chain's rows (same count, same hash):
// that holds on every PostgreSQL version (unlike the change counters of db-tables.ts, which 14 and older can lose),
// and also catches a row that committed late with an old CreatedDate, an update, a delete, or a reload of the table.
// Anything else (the check fails, a part cannot be linked, the chain is long, the columns changed) dumps the table
// whole again, which starts a new chain. Parts are hard links into each set: every set is restorable alone, and
// removing the base set (prune) leaves the linked archive in every set that holds it.
import type pg from 'pg';
import { ident, literal } from '../postgres/client.js';
import type { ManifestFile } from './manifest.js';
import { tableKey, type TableState } from './db-tables.js';

/** Tables that only grow, and the column that orders their rows by when they were added (Qlik's entity base). */
export const APPEND_ONLY_TABLES: ReadonlyArray<{ schema: string; name: string; column: string }> = [
  { schema: 'public', name: 'ExecutionResults', column: 'CreatedDate' },
  { schema: 'public', name: 'ExecutionResultDetails', column: 'CreatedDate' },
  { schema: 'public', name: 'ExecutionResultDetailExecutionResults', column: 'CreatedDate' },
];

/** Past this many parts a table is dumped whole again (a restore loads every part; a chain must not grow forever). */
export const MAX_APPEND_PARTS = 31;

/** What one part of a table's chain holds. */
export interface AppendPart {
  /** The column rows are ordered by. */
  column: string;
  /** Rows with column > after (null: the full part, every row up to upTo). */
  after: string | null;
  /** The highest value of the column among the part's rows (and below, for the full part). */
  upTo: string;
  rows: number;
  /** Sum over the part's rows of a hash of the row's text (by hashFn), as a decimal integer. */
  hash: string;
  hashFn: RowHash;
  /** For an appended part: the columns of its COPY text, in order. */
  columns?: string[];
}

/** The column an append-only table is tracked by, or null when the table is not one. */
export function appendColumn(t: { schema: string; name: string }): string | null {
  return APPEND_ONLY_TABLES.find((a) => a.schema === t.schema && a.name === t.name)?.column ?? null;
}

// Settings that make a row's text (and so its hash) and the high-water mark's text the same in every session.
const STABLE_TEXT = [`SET LOCAL DateStyle TO 'ISO, YMD'`, `SET LOCAL TimeZone TO 'UTC'`, `SET LOCAL IntervalStyle TO 'postgres'`, `SET LOCAL extra_float_digits TO 3`, `SET LOCAL bytea_output TO 'hex'`];

/** Column types a high-water mark may be kept in (text that casts back exactly). */
const ORDERED_TYPES = ['timestamp without time zone', 'timestamp with time zone', 'bigint', 'integer'];

/** The part of the rows in a chain at or below `upTo`, and the part above it, counted in the client's snapshot. */
export interface RowSplit {
  below: { rows: number; hash: string };
  above: { rows: number; hash: string; upTo: string | null };
  /** The highest value of the column over all rows (null: no rows). */
  max: string | null;
  /** The table's columns in order (for a COPY of the rows above), and the type of the tracked column. */
  columns: string[];
  type: string;
  hashFn: RowHash;
}

/** How a row's text is hashed: only sums made the same way compare. */
export type RowHash = 'hashtextextended' | 'md5-60';

const ROW_HASH_SQL: Record<RowHash, string> = {
  hashtextextended: 'hashtextextended(x::text, 0)',
  'md5-60': `('x' || substr(md5(x::text), 1, 15))::bit(60)::bigint`,
};

/** The row hash a server offers: hashtextextended exists from PostgreSQL 11 on. */
async function rowHashOf(client: pg.Client): Promise<RowHash> {
  const v = await client.query<{ n: string }>(`SELECT current_setting('server_version_num') AS n`);
  return Number(v.rows[0].n) >= 110000 ? 'hashtextextended' : 'md5-60';
}

/**
 * Why the table cannot be tracked by its column (type, NULLs allowed, missing), or null. Run in the snapshot's
 * transaction, like everything here.
 */
export async function whyNotTrackable(client: pg.Client, t: { schema: string; name: string }, column: string): Promise<string | null> {
  const r = await client.query<{ type: string; notnull: boolean }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull FROM pg_attribute a
      WHERE a.attrelid = (${literal(`${ident(t.schema)}.${ident(t.name)}`)})::regclass AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped`,
    [column],
  );
  const c = r.rows[0];
  if (!c) return `it has no column ${column}`;
  if (!c.notnull) return `its column ${column} allows NULL`;
  if (!ORDERED_TYPES.includes(c.type)) return `its column ${column} is ${c.type}, not one of ${ORDERED_TYPES.join(', ')}`;
  return null;
}

/** Count and hash the table's rows at or below `upTo` (all rows when null) and above it, in one scan. */
export async function splitRows(client: pg.Client, t: { schema: string; name: string }, column: string, upTo: string | null): Promise<RowSplit> {
  return scanRows(client, t, column, upTo, 'both');
}

/**
 * Count and hash only the rows above `upTo`; the rows at or below it are taken to be `below` (the chain's, when the
 * change counters say so: see insertedOnly in db-tables.ts). Each row below the mark is still read by the scan, but
 * no row text is built or hashed for it: that is most of splitRows's cost on a big table.
 */
export async function rowsAbove(client: pg.Client, t: { schema: string; name: string }, column: string, upTo: string, below: { rows: number; hash: string }): Promise<RowSplit> {
  const s = await scanRows(client, t, column, upTo, 'above');
  return { ...s, below, max: s.above.upTo ?? upTo };
}

async function scanRows(client: pg.Client, t: { schema: string; name: string }, column: string, upTo: string | null, which: 'both' | 'above'): Promise<RowSplit> {
  for (const s of STABLE_TEXT) await client.query(s);
  const hashFn = await rowHashOf(client);
  const rel = `${ident(t.schema)}.${ident(t.name)}`;
  const c = ident(column);
  const cols = await client.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = (${literal(rel)})::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
  );
  // The bound is cast to the column's own type, so the comparison is the column's ordering, not text's.
  const type = await columnType(client, rel, column);
  const below = upTo === null ? 'true' : `x.${c} <= CAST(${literal(upTo)} AS ${type})`;
  const r = await client.query<{ brows: string; bhash: string; arows: string; ahash: string; amax: string | null; max: string | null }>(
    which === 'both'
      ? `SELECT count(*) FILTER (WHERE b) AS brows, coalesce(sum(h) FILTER (WHERE b), 0)::text AS bhash,
            count(*) FILTER (WHERE NOT b) AS arows, coalesce(sum(h) FILTER (WHERE NOT b), 0)::text AS ahash,
            max(v) FILTER (WHERE NOT b)::text AS amax, max(v)::text AS max
       FROM (SELECT ${below} AS b, x.${c} AS v, ${ROW_HASH_SQL[hashFn]} AS h FROM ${rel} x) s`
      : `SELECT 0 AS brows, '0' AS bhash, count(*) AS arows, coalesce(sum(${ROW_HASH_SQL[hashFn]}), 0)::text AS ahash,
            max(x.${c})::text AS amax, max(x.${c})::text AS max
       FROM ${rel} x WHERE NOT (${below})`,
  );
  const row = r.rows[0];
  return {
    below: { rows: Number(row.brows), hash: row.bhash },
    above: { rows: Number(row.arows), hash: row.ahash, upTo: row.amax },
    max: row.max,
    columns: cols.rows.map((x) => x.name),
    type,
    hashFn,
  };
}

async function columnType(client: pg.Client, rel: string, column: string): Promise<string> {
  const r = await client.query<{ type: string }>(
    `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = (${literal(rel)})::regclass AND attname = $1`,
    [column],
  );
  return r.rows[0].type;
}

/** The COPY statement that writes the rows above `after` (what an appended part holds). */
export function copyAboveSql(t: { schema: string; name: string }, column: string, type: string, after: string, columns: string[]): string {
  const rel = `${ident(t.schema)}.${ident(t.name)}`;
  return `COPY (SELECT ${columns.map(ident).join(', ')} FROM ${rel} WHERE ${ident(column)} > CAST(${literal(after)} AS ${type})) TO STDOUT`;
}

/** The COPY statement that loads an appended part into the table. */
export function copyInSql(t: { schema: string; name: string }, columns: string[]): string {
  return `COPY ${ident(t.schema)}.${ident(t.name)} (${columns.map(ident).join(', ')}) FROM STDIN`;
}

/** The settings a COPY of an appended part runs under (the same text as the hash saw). */
export const COPY_SETTINGS = STABLE_TEXT;

/** A table's chain in a set (its full part first), or why it is not a usable one. */
export function chainOf(files: ManifestFile[], t: { schema: string; name: string }): { parts: ManifestFile[] } | { why: string } {
  const mine = files.filter((f) => f.kind === 'db' && f.table && tableKey(f.table) === tableKey(t));
  if (!mine.length) return { why: 'no archive of it in the base set' };
  if (mine.some((f) => !f.append)) return { why: 'the base set dumped it without its row hash' };
  const full = mine.filter((f) => f.append!.after === null);
  if (full.length !== 1) return { why: `the base set has ${full.length} full archives of it` };
  const parts = [full[0]];
  const rest = mine.filter((f) => f.append!.after !== null);
  while (rest.length) {
    const i = rest.findIndex((f) => f.append!.after === parts[parts.length - 1].append!.upTo);
    if (i < 0) return { why: 'the base set\'s appended archives of it do not follow each other' };
    parts.push(...rest.splice(i, 1));
  }
  return { parts };
}

/** The rows and hash of a whole chain (the table as the base set captured it). */
export function chainTotals(parts: ManifestFile[]): { rows: number; hash: string; upTo: string; hashFn: RowHash | null } {
  let hash = 0n;
  let rows = 0;
  for (const p of parts) {
    rows += p.append!.rows;
    hash += BigInt(p.append!.hash);
  }
  const fns = new Set(parts.map((p) => p.append!.hashFn));
  return { rows, hash: hash.toString(), upTo: parts[parts.length - 1].append!.upTo, hashFn: fns.size === 1 ? [...fns][0] : null };
}

/** Problems of a set's chains, for verify: parts that do not follow each other, or whose rows do not add up to the table's count. */
export function chainProblems(files: ManifestFile[], rowCounts: Record<string, number> | undefined, db: string): string[] {
  const out: string[] = [];
  const tables = new Map<string, TableState>();
  for (const f of files) if (f.kind === 'db' && f.database === db && f.table && f.append) tables.set(tableKey(f.table), f.table);
  for (const [key, t] of tables) {
    const c = chainOf(files.filter((f) => f.database === db), t);
    if ('why' in c) out.push(`${db}: table ${key}: ${c.why.replace('the base set', 'this set')}`);
    else if (rowCounts?.[key] !== undefined && chainTotals(c.parts).rows !== rowCounts[key]) {
      out.push(`${db}: table ${key}: its archives hold ${chainTotals(c.parts).rows} rows, the manifest counts ${rowCounts[key]}`);
    }
  }
  return out;
}

/** A table state's key fields compared, for a chain: the same columns (a part's COPY text must load into the table). */
export function sameColumns(a: TableState | undefined, b: TableState): boolean {
  return !!a && a.columns === b.columns;
}
