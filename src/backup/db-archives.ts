// One database as a set of pg_dump archives, from an exported snapshot: its big tables' rows in archives of their own
// (hard-linked from a base set while PostgreSQL counts no change to them, see db-tables.ts), everything else in the
// main archive; all dumped at once, each checked with pg_restore --list, rows counted in the same snapshot meanwhile.
// Used by backups (db/ of a set) and by restore's safety dumps.
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { PgToolContext } from '../postgres/tools.js';
import type { PgTarget } from '../postgres/args.js';
import { faultPoint } from '../runbook/fault.js';
import { EXTENSION, type Compression } from './compress.js';
import type { DbSnapshot } from './db-capture.js';
import { dumpArchive, type ArchiveSelection } from './db-dump.js';
import { archiveEntries } from './db-load.js';
import { exactTablePattern, tableKey, whyContentsNotReusable, whyNotReusable, type ContentsState, type DbStamp, type TableState } from './db-tables.js';
import { linkFrom, mapLimit } from './hashcopy.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { countTables } from './rowcount.js';
import { listDump } from './pg-archive.js';

export interface ArchiveSetResult {
  /** Main archive first, then the table archives (dumped or linked). */
  files: ManifestFile[];
  rowCounts: Record<string, number>;
}

/**
 * Write the archives of `snap.db` under `dir` (paths in the result are relative to it, `prefix` first, e.g. "db").
 * `base` is an earlier set (folder and manifest) whose unchanged table archives are linked instead of dumped.
 */
export async function dumpArchiveSet(o: {
  tool: PgToolContext;
  target: PgTarget;
  snap: DbSnapshot;
  dir: string;
  prefix: string;
  compress: Compression;
  parallel: number;
  base?: { id: string; dir: string; manifest: Pick<Manifest, 'files' | 'databases'> } | null;
  log: (line: string) => void;
}): Promise<ArchiveSetResult> {
  const { snap } = o;
  const db = snap.db;
  if (!snap.state) throw new Error(`the snapshot of ${db} was taken without reading its tables' state`);
  const { stamp, tables } = snap.state;
  const baseDb = o.base?.manifest.databases.find((d) => d.name === db);
  const baseTables = new Map((o.base ? (archiveEntries(o.base.manifest, db)?.tables ?? []) : []).map((f) => [tableKey(f.table!), f]));
  const rel = (p: string) => (o.prefix ? `${o.prefix}/${p}` : p);
  const linked: ManifestFile[] = [];
  const reusedCounts: Record<string, number> = {};
  const toDump: TableState[] = [];
  for (const t of tables) {
    const prev = baseTables.get(tableKey(t));
    const why = whyNotReusable(prev ? { stamp: baseDb?.stamp, table: prev.table } : undefined, stamp, t);
    const count = baseDb?.rowCounts?.[tableKey(t)];
    const stored = rel(`${db}.tables/${path.posix.basename(prev?.path ?? tableFileName(t))}`);
    if (!why && prev && count !== undefined && linkFrom(path.join(o.base!.dir, ...prev.path.split('/')), path.join(o.dir, ...stored.split('/')))) {
      linked.push({ ...prev, path: stored, table: t, reused: true });
      reusedCounts[tableKey(t)] = count;
      o.log(`${db}: ${tableKey(t)} unchanged since set ${o.base!.id}: archive linked`);
    } else {
      toDump.push(t);
      if (prev) o.log(`${db}: ${tableKey(t)} dumped again: ${why ?? 'its archive could not be linked'}`);
    }
  }
  // A small database (no big tables) that PostgreSQL counts unchanged since the base set: its one archive is linked.
  const whole = reuseWhole(o, baseDb, stamp, snap.state.contents);
  if (whole) return whole;
  const ext = EXTENSION[o.compress];
  const jobs: Array<{ stored: string; table?: TableState; select?: ArchiveSelection; main?: boolean }> = [
    { stored: rel(`${db}.dump${ext}`), select: tables.length ? { excludeTableData: tables.map(exactTablePattern) } : undefined, main: true },
    ...toDump.map((t) => ({ stored: rel(`${db}.tables/${tableFileName(t)}.dump${ext}`), table: t, select: { dataOnly: true, tables: [exactTablePattern(t)] } })),
  ];
  const counting = countTables(snap.client, new Set(Object.keys(reusedCounts)));
  // Awaited after the dumps; when a dump fails first (the server went away), the count's own failure must not be an
  // unhandled rejection that kills the process before the step can fail and the run be journaled.
  counting.catch(() => undefined);
  const dumped = await mapLimit(jobs, o.parallel, async (j) => {
    const file = path.join(o.dir, ...j.stored.split('/'));
    const r = await dumpArchive({ tool: o.tool, target: o.target, db, snapshot: snap.snapshot, file, compress: o.compress, select: j.select });
    // Check the archive as pg_restore sees it before it counts as written (linked ones were checked when first made).
    const entries = await listDump(o.tool, file, o.compress);
    if (entries === 0) throw new Error(`pg_restore --list found no entries in ${j.stored}`);
    faultPoint('backup.db.archive-written');
    const contents = j.main ? snap.state!.contents : undefined;
    return { path: j.stored, bytes: r.bytes, sha256: r.sha256, kind: 'db', database: db, compression: o.compress, table: j.table, ...(contents ? { contents } : {}) } satisfies ManifestFile;
  });
  const rowCounts = { ...(await counting), ...reusedCounts };
  o.log(`dumped ${db} (each archive checked with pg_restore --list): ${dumped.reduce((a, f) => a + f.bytes, 0)} bytes in ${dumped.length} archives, ${linked.length} table archives linked, ${Object.keys(rowCounts).length} tables counted`);
  return { files: [...dumped, ...linked], rowCounts };
}

/** The base set's one archive of a small database, linked when whyContentsNotReusable allows it; null to dump it. */
function reuseWhole(
  o: Parameters<typeof dumpArchiveSet>[0],
  baseDb: Pick<Manifest, 'databases'>['databases'][number] | undefined,
  stamp: DbStamp,
  contents: ContentsState | undefined,
): ArchiveSetResult | null {
  if (!contents || !o.base || !baseDb) return null;
  const db = o.snap.db;
  const prev = archiveEntries(o.base.manifest, db);
  if (!prev || prev.tables.length) return null;
  const why = whyContentsNotReusable({ stamp: baseDb.stamp, contents: prev.main.contents }, stamp, contents);
  const counts = baseDb.rowCounts;
  const missing = contents.tables.find((t) => counts?.[tableKey(t)] === undefined);
  const stored = o.prefix ? `${o.prefix}/${path.posix.basename(prev.main.path)}` : path.posix.basename(prev.main.path);
  if (why || missing || !linkFrom(path.join(o.base.dir, ...prev.main.path.split('/')), path.join(o.dir, ...stored.split('/')))) {
    o.log(`${db}: dumped again: ${why ?? (missing ? `no row count of ${tableKey(missing)} in the base set` : 'its archive could not be linked')}`);
    return null;
  }
  o.log(`${db}: unchanged since set ${o.base.id} (every table, its catalogs and sequences): archive linked`);
  return { files: [{ ...prev.main, path: stored, reused: true, contents }], rowCounts: { ...counts } };
}

/** A file name for a table's archive: readable, and unique even when names differ only in odd characters. */
function tableFileName(t: TableState): string {
  const readable = tableKey(t).replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${readable}-${createHash('sha256').update(tableKey(t)).digest('hex').slice(0, 8)}`;
}
