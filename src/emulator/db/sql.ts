// Small SQL helpers for the emulated repository: multi-row inserts with quoted, case-exact names.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ident } from '../../postgres/client.js';

export type Row = Record<string, unknown>;

// Insert rows into a table, many per statement (all rows must have the same keys); returns the count.
export async function insertRows(c: pg.ClientBase, table: string, rows: Row[]): Promise<number> {
  if (rows.length === 0) return 0;
  const cols = Object.keys(rows[0]);
  const perStatement = Math.floor(60_000 / cols.length); // the protocol allows 65535 parameters
  for (let start = 0; start < rows.length; start += perStatement) {
    const params: unknown[] = [];
    const tuples = rows.slice(start, start + perStatement).map((r) => {
      const slots = cols.map((k) => {
        params.push(r[k]);
        return `$${params.length}`;
      });
      return `(${slots.join(', ')})`;
    });
    await c.query(`INSERT INTO ${ident(table)} (${cols.map(ident).join(', ')}) VALUES ${tuples.join(', ')}`, params);
  }
  return rows.length;
}

// A UUID derived from a text key, the same as PostgreSQL's md5(key)::uuid (deterministic test data).
export function md5Uuid(key: string): string {
  const h = createHash('md5').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Run fn in one transaction, optionally as another role (objects created then belong to that role).
export async function inTransaction<T>(c: pg.ClientBase, fn: () => Promise<T>, role?: string): Promise<T> {
  await c.query('BEGIN');
  try {
    if (role) await c.query(`SET LOCAL ROLE ${ident(role)}`);
    const out = await fn();
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

// Run SQL statements one after another.
export async function runAll(c: pg.Client, statements: readonly string[]): Promise<void> {
  for (const s of statements) await c.query(s);
}

// Run fn with the primary keys and indexes of some tables dropped, then rebuild them (sorting once beats
// inserting random UUIDs into a B-tree row by row: about 2x faster for a large QSR). Call inside a transaction;
// the tables must not be referenced by foreign keys.
export async function withIndexesDeferred<T>(c: pg.Client, tables: readonly string[], fn: () => Promise<T>): Promise<T> {
  const rels = tables.map(ident);
  const constraints = await c.query<{ tbl: string; conname: string; def: string }>(
    `SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid = ANY($1::regclass[])`,
    [rels],
  );
  const indexes = await c.query<{ relname: string; def: string }>(
    `SELECT ic.relname, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = ANY($1::regclass[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
    [rels],
  );
  for (const k of constraints.rows) await c.query(`ALTER TABLE ${k.tbl} DROP CONSTRAINT ${ident(k.conname)}`);
  for (const i of indexes.rows) await c.query(`DROP INDEX ${ident(i.relname)}`);
  const out = await fn();
  for (const k of constraints.rows) await c.query(`ALTER TABLE ${k.tbl} ADD CONSTRAINT ${ident(k.conname)} ${k.def}`);
  for (const i of indexes.rows) await c.query(i.def);
  return out;
}
