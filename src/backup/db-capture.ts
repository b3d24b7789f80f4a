// Database capture for a consistent backup: one REPEATABLE READ session per database, each exporting its snapshot.
// An exported snapshot serves only its own database, so every database gets its own session (pg docs, pg_export_snapshot).
import type pg from 'pg';
import { connect } from '../postgres/client.js';
import type { DbConn } from '../site/database.js';
import { bigTables, readDbState, type DbState } from './db-tables.js';

export interface DbSnapshot {
  db: string;
  snapshot: string;
  client: pg.Client;
  takenAt: string;
  /** The tables that get archives of their own (oids), picked when the session opened. */
  big?: number[];
  /** Read in the snapshot right after it was exported: change counters and the big tables. */
  state?: DbState;
}

/** Open one session per database, before the services stop: connecting (SCRAM) costs more than the snapshot itself. */
export async function openSessions(conn: DbConn, databases: string[], splitMinBytes: number): Promise<DbSnapshot[]> {
  const out: DbSnapshot[] = [];
  const opened = await Promise.allSettled(
    databases.map(async (db) => {
      const client = await connect({ ...conn, database: db }, { applicationName: 'qsadmin backup snapshot' });
      const s: DbSnapshot = { db, client, snapshot: '', takenAt: '' };
      out.push(s);
      s.big = await bigTables(client, splitMinBytes);
      return s;
    }),
  );
  const failed = opened.find((r) => r.status === 'rejected');
  if (failed) {
    await releaseSnapshots(out);
    throw (failed as PromiseRejectedResult).reason;
  }
  return databases.map((db) => out.find((s) => s.db === db)!);
}

/** In every open session at once: start a REPEATABLE READ transaction and export its snapshot. */
export async function takeSnapshots(sessions: DbSnapshot[], clientMajor: number): Promise<DbSnapshot[]> {
  await Promise.all(
    sessions.map(async (s) => {
      await othersGone(s.client, OTHERS_GRACE_MS);
      await s.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const r = await s.client.query<{ s: string }>('SELECT pg_export_snapshot() AS s');
      s.snapshot = r.rows[0].s;
      s.takenAt = new Date().toISOString();
      s.state = await readDbState(s.client, s.big ?? [], clientMajor);
    }),
  );
  return sessions;
}

/** How long a capture waits for the sessions of just-stopped services to leave the server. */
const OTHERS_GRACE_MS = 250;

/**
 * Wait (briefly) until no other session is connected to the client's database. A stopped service's server processes
 * leave a few milliseconds after it; until they have, their change counters may be incomplete and no table archive
 * could be reused (db-tables.ts). A session that stays (someone's psql) only costs that reuse.
 */
async function othersGone(client: pg.Client, graceMs: number): Promise<void> {
  const until = Date.now() + graceMs;
  for (;;) {
    const r = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_get_activity(NULL) a WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND a.pid <> pg_backend_pid() AND a.backend_type <> 'autovacuum worker'`,
    );
    if (Number(r.rows[0].n) === 0 || Date.now() >= until) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** End the snapshot sessions (after their pg_dump runs have started or finished). */
export async function releaseSnapshots(snaps: DbSnapshot[]): Promise<void> {
  for (const s of snaps) {
    try {
      await s.client.query('ROLLBACK');
    } catch {
      // the session may already be gone
    }
    await s.client.end().catch(() => undefined);
  }
}
