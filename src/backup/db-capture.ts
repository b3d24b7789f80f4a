// Database capture for a consistent backup: one REPEATABLE READ session per database, each exporting its snapshot.
// An exported snapshot serves only its own database, so every database gets its own session (pg docs, pg_export_snapshot).
import type pg from 'pg';
import { connect } from '../postgres/client.js';
import type { DbConn } from '../site/database.js';

export interface DbSnapshot {
  db: string;
  snapshot: string;
  client: pg.Client;
  takenAt: string;
}

/** Open one session per database, before the services stop: connecting (SCRAM) costs more than the snapshot itself. */
export async function openSessions(conn: DbConn, databases: string[]): Promise<DbSnapshot[]> {
  const out: DbSnapshot[] = [];
  try {
    for (const db of databases) {
      const client = await connect({ ...conn, database: db }, { applicationName: 'qsadmin backup snapshot' });
      out.push({ db, client, snapshot: '', takenAt: '' });
    }
  } catch (e) {
    await releaseSnapshots(out);
    throw e;
  }
  return out;
}

/** In every open session at once: start a REPEATABLE READ transaction and export its snapshot. */
export async function takeSnapshots(sessions: DbSnapshot[]): Promise<DbSnapshot[]> {
  await Promise.all(
    sessions.map(async (s) => {
      await s.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const r = await s.client.query<{ s: string }>('SELECT pg_export_snapshot() AS s');
      s.snapshot = r.rows[0].s;
      s.takenAt = new Date().toISOString();
    }),
  );
  return sessions;
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
