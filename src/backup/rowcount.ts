// Exact row counts of every user table of a database (or all but some), keyed "schema.table".
import type pg from 'pg';

/** Count the rows of every user table through an open client (in whatever snapshot it has). */
export async function countTables(client: pg.Client, skip: Set<string> = new Set()): Promise<Record<string, number>> {
  const all = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'
     ORDER BY 1, 2`,
  );
  const tables = { rows: all.rows.filter((t) => !skip.has(`${t.schema}.${t.name}`)) };
  if (!tables.rows.length) return {};
  // One statement for all tables: a round trip per table would dominate on a 150-table QSR.
  const q = tables.rows
    .map((t, i) => `SELECT ${i} AS i, count(*)::bigint AS n FROM "${t.schema.replace(/"/g, '""')}"."${t.name.replace(/"/g, '""')}"`)
    .join(' UNION ALL ');
  const r = await client.query<{ i: number; n: string }>(q);
  const counts: Record<string, number> = {};
  for (const row of r.rows) {
    const t = tables.rows[row.i];
    counts[`${t.schema}.${t.name}`] = Number(row.n);
  }
  return counts;
}
