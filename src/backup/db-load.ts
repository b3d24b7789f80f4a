// Load one database's archives into an existing, empty database: the main archive (schema, and the rows of every
// table that has no archive of its own) and the data archives of its big tables.
//
// With table archives the load runs in pg_restore's own three sections: pre-data (tables, types, functions) from the
// main archive; then every table's rows, from the main archive and the table archives at once (no foreign keys or
// indexes exist yet, so the order does not matter); then post-data (indexes, constraints, triggers) from the main
// archive. A set without table archives (older sets, small databases) is one pg_restore, as before.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runPgTool, type PgToolContext } from '../postgres/tools.js';
import { connArgs, type PgTarget } from '../postgres/args.js';
import { decompressToFile, type Compression } from './compress.js';
import { mapLimit } from './hashcopy.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { loadCopy, restoreDump } from './pg-archive.js';
import { copyInSql } from './db-append.js';
import { joinRel } from './safe-path.js';

export interface ArchiveFile {
  file: string;
  compression: Compression;
  /** For an appended table part (COPY text, db-append.ts): the COPY ... FROM STDIN that loads it. */
  copy?: string;
}

export interface DbArchives {
  db: string;
  main: ArchiveFile;
  tables: ArchiveFile[];
}

/** The archives of a database in a set (main first), as manifest entries. */
export function archiveEntries(m: Pick<Manifest, 'files'>, db: string): { main: ManifestFile; tables: ManifestFile[] } | null {
  const mine = m.files.filter((f) => f.kind === 'db' && f.database === db);
  const main = mine.find((f) => !f.table);
  return main ? { main, tables: mine.filter((f) => f.table) } : null;
}

/** The archives of a database in a set folder, as files to load. */
export function archivesOf(setDir: string, m: Pick<Manifest, 'files'>, db: string): DbArchives | null {
  const e = archiveEntries(m, db);
  if (!e) return null;
  const file = (f: ManifestFile): ArchiveFile => ({
    file: joinRel(setDir, f.path),
    compression: f.compression ?? 'none',
    ...(f.append && f.append.after !== null && f.table ? { copy: copyInSql(f.table, f.append.columns ?? []) } : {}),
  });
  return { db, main: file(e.main), tables: e.tables.map(file) };
}

/**
 * Restore a database's archives into the database `into` (which exists and is empty).
 *
 * The loading sessions commit without waiting for their WAL to reach disk (synchronous_commit off): pg_restore commits
 * every CREATE and index on its own, hundreds of flushes that wait behind whatever else writes (measured: pre-data of
 * QSR 2.3 s beside a restore's other work, 0.3 s alone). A crash of the server before the end can lose only the last
 * of those commits, of a database that is not the site's yet and that a resumed run loads again from empty; at the
 * end one synchronous commit flushes the WAL up to there, so once this returns the whole load is durable.
 */
export async function loadArchives(tool: PgToolContext, target: PgTarget, into: string, a: DbArchives, opts: { noOwner?: boolean; parallel?: number } = {}): Promise<void> {
  const fast: PgToolContext = { ...tool, env: { ...tool.env, PGOPTIONS: `${tool.env?.PGOPTIONS ?? ''} -c synchronous_commit=off`.trim() } };
  await loadUnflushed(fast, target, into, a, opts);
  // A transaction with an xid commits synchronously (the default), flushing every WAL record before its own.
  await runPgTool(tool, 'psql', [...connArgs(target), '-d', into, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', 'SELECT txid_current()'], { db: into, target });
}

async function loadUnflushed(tool: PgToolContext, target: PgTarget, into: string, a: DbArchives, opts: { noOwner?: boolean; parallel?: number }): Promise<void> {
  const load = (f: ArchiveFile, extra: string[]) => restoreDump(tool, target, into, f.file, f.compression, { noOwner: opts.noOwner, extra });
  if (!a.tables.length) return load(a.main, []);
  // The main archive is small (its big tables' rows are elsewhere): a plain copy of it on disk lets pg_restore -j
  // build the indexes and constraints of post-data on all cores.
  const plain = path.join(os.tmpdir(), `qsadmin-${process.pid}-${randomBytes(4).toString('hex')}-${a.db.replace(/[^A-Za-z0-9_-]/g, '_')}.dump`);
  try {
    await decompressToFile(a.main.file, a.main.compression, plain);
    const fromPlain = (extra: string[]) => load({ file: plain, compression: 'none' }, extra);
    await fromPlain(['--section=pre-data']);
    // An append-only table's parts load side by side like any two tables' rows: COPY appends, and no index exists yet.
    const data: Array<() => Promise<void>> = [
      () => fromPlain(['--section=data']),
      ...a.tables.map((t) => () => (t.copy ? loadCopy(tool, target, into, t.file, t.compression, t.copy) : load(t, []))),
    ];
    // Every table's rows at once (at most 8 streams), and post-data with at least 4 jobs even on 2 cores: a restore
    // loads beside its share copy and safety dumps, and the database that takes longest is the one that decides when
    // the services can stop; more server processes give it a larger share of the CPU (measured: 2-3 s of 30 on 2 cores).
    await mapLimit(data, opts.parallel ?? Math.min(8, data.length), (job) => job());
    await runPgTool(tool, 'pg_restore', [...connArgs(target), '-d', into, '--exit-on-error', '--section=post-data', '-j', String(Math.min(8, Math.max(4, os.availableParallelism()))), ...(opts.noOwner ? ['--no-owner', '--no-privileges'] : []), plain], { db: into, target });
  } finally {
    fs.rmSync(plain, { force: true });
  }
}
