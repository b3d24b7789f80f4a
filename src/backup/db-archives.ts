// One database as a set of pg_dump archives, from an exported snapshot: its big tables' rows in archives of their own
// (hard-linked from a base set while PostgreSQL counts no change to them, see db-tables.ts), everything else in the
// main archive; all dumped at once, each checked with pg_restore --list, rows counted in the same snapshot meanwhile.
// Used by backups (db/ of a set) and by restore's safety dumps.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { PgToolContext } from '../postgres/tools.js';
import type { PgTarget } from '../postgres/args.js';
import { faultPoint } from '../runbook/fault.js';
import { EXTENSION, type Compression } from './compress.js';
import type { DbSnapshot } from './db-capture.js';
import { dumpArchive, dumpCopy, type ArchiveSelection } from './db-dump.js';
import { appendColumn, chainOf, chainTotals, copyAboveSql, COPY_SETTINGS, MAX_APPEND_PARTS, rowsAbove, sameColumns, splitRows, whyNotTrackable, type AppendPart, type RowSplit } from './db-append.js';
import { archiveEntries } from './db-load.js';
import { exactTablePattern, insertedOnly, tableKey, whyContentsNotReusable, whyNotReusable, type ContentsState, type DbStamp, type TableState } from './db-tables.js';
import { linkFrom, mapLimit } from './hashcopy.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { countTables } from './rowcount.js';
import { countCopyRows, listDump } from './pg-archive.js';
import { joinRel } from './safe-path.js';

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
  const baseFiles = o.base ? (archiveEntries(o.base.manifest, db)?.tables ?? []) : [];
  const rel = (p: string) => (o.prefix ? `${o.prefix}/${p}` : p);
  const linked: ManifestFile[] = [];
  const reusedCounts: Record<string, number> = {};
  const toDump: TableState[] = [];
  const appendOnly: Array<{ t: TableState; column: string }> = [];
  for (const t of tables) {
    // Every archive of the table in the base set: one, or the parts of an append-only table's chain.
    const prev = baseFiles.filter((f) => tableKey(f.table!) === tableKey(t));
    const why = whyNotReusable(prev.length ? { stamp: baseDb?.stamp, table: prev[0].table } : undefined, stamp, t);
    const count = baseDb?.rowCounts?.[tableKey(t)];
    if (!why && prev.length && count !== undefined && linkParts(o, prev, t, linked)) {
      reusedCounts[tableKey(t)] = count;
      o.log(`${db}: ${tableKey(t)} unchanged since set ${o.base!.id}: ${prev.length > 1 ? `its ${prev.length} archives` : 'archive'} linked`);
      continue;
    }
    const column = appendColumn(t);
    if (column) appendOnly.push({ t, column });
    else toDump.push(t);
    if (prev.length && !column) o.log(`${db}: ${tableKey(t)} dumped again: ${why ?? 'its archive could not be linked'}`);
  }
  // A small database (no big tables) that PostgreSQL counts unchanged since the base set: its one archive is linked.
  const whole = reuseWhole(o, baseDb, stamp, snap.state.contents);
  if (whole) return whole;
  const ext = EXTENSION[o.compress];
  const tableFile = (t: TableState, suffix = '') => rel(`${db}.tables/${tableFileName(t)}${suffix}.dump${ext}`);
  // Append-only tables first, on the snapshot's session: the rows past the base set's chain, or the whole table.
  const plans: AppendPlan[] = [];
  for (const a of appendOnly) plans.push(await planAppend(o, a.t, a.column, baseFiles, linked));
  type Job = { stored: string; table?: TableState; select?: ArchiveSelection; main?: boolean; copy?: AppendPlan['delta']; append?: AppendPart };
  const jobs: Job[] = [
    { stored: rel(`${db}.dump${ext}`), select: tables.length ? { excludeTableData: tables.map(exactTablePattern) } : undefined, main: true },
    ...toDump.map((t) => ({ stored: tableFile(t), table: t, select: { dataOnly: true, tables: [exactTablePattern(t)] } })),
    ...plans.flatMap((p): Job[] => {
      if (p.delta) return [{ stored: tableFile(p.t, `-after-${partStamp(p.delta.part.after!)}`), table: p.t, copy: p.delta }];
      if (p.linked) return [];
      return [{ stored: tableFile(p.t), table: p.t, select: { dataOnly: true, tables: [exactTablePattern(p.t)] }, append: p.full }];
    }),
  ];
  const counted = Object.fromEntries(plans.filter((p) => p.rows !== undefined).map((p) => [tableKey(p.t), p.rows!]));
  const counting = countTables(snap.client, new Set([...Object.keys(reusedCounts), ...Object.keys(counted)]));
  // Awaited after the dumps; when a dump fails first (the server went away), the count's own failure must not be an
  // unhandled rejection that kills the process before the step can fail and the run be journaled.
  counting.catch(() => undefined);
  const dumped = await mapLimit(jobs, o.parallel, async (j) => {
    const file = joinRel(o.dir, j.stored);
    if (j.copy) {
      const { sql, part } = j.copy;
      const r = await dumpCopy({ tool: o.tool, target: o.target, db, snapshot: snap.snapshot, file, compress: o.compress, settings: COPY_SETTINGS, sql });
      // Checked before it counts as written: one line per row, as many as the snapshot counted.
      const lines = await countCopyRows(file, o.compress);
      if (lines !== part.rows) throw new Error(`${j.stored}: ${lines} rows written, the snapshot counts ${part.rows} rows past ${part.after}`);
      faultPoint('backup.db.archive-written');
      return { path: j.stored, bytes: r.bytes, sha256: r.sha256, kind: 'db', database: db, compression: o.compress, table: j.table, append: part } satisfies ManifestFile;
    }
    const r = await dumpArchive({ tool: o.tool, target: o.target, db, snapshot: snap.snapshot, file, compress: o.compress, select: j.select });
    // Check the archive as pg_restore sees it before it counts as written (linked ones were checked when first made).
    const entries = await listDump(o.tool, file, o.compress);
    if (entries === 0) throw new Error(`pg_restore --list found no entries in ${j.stored}`);
    faultPoint('backup.db.archive-written');
    const contents = j.main ? snap.state!.contents : undefined;
    return { path: j.stored, bytes: r.bytes, sha256: r.sha256, kind: 'db', database: db, compression: o.compress, table: j.table, ...(j.append ? { append: j.append } : {}), ...(contents ? { contents } : {}) } satisfies ManifestFile;
  });
  const rowCounts = { ...(await counting), ...counted, ...reusedCounts };
  o.log(`dumped ${db} (each archive checked with pg_restore --list): ${dumped.reduce((a, f) => a + f.bytes, 0)} bytes in ${dumped.length} archives, ${linked.length} table archives linked, ${Object.keys(rowCounts).length} tables counted`);
  return { files: [...dumped, ...linked], rowCounts };
}

/**
 * What to write for an append-only table: the base chain linked and the rows past it (delta), the base chain linked
 * and nothing (no rows added), or else the whole table (with `full`, the first part of a new chain).
 */
interface AppendPlan {
  t: TableState;
  /** The table's rows in the snapshot, when the scan counted them. */
  rows?: number;
  linked?: boolean;
  full?: AppendPart;
  delta?: { sql: string; part: AppendPart };
}

/**
 * Decide, in the snapshot, how an append-only table is stored (db-append.ts): when the rows at or below the base
 * chain's high-water mark are exactly the chain's (count and hash), the chain's parts are linked (into `linked`) and
 * only the rows past it are dumped; otherwise the whole table is, with its hash, as the full part of a new chain.
 */
async function planAppend(o: Parameters<typeof dumpArchiveSet>[0], t: TableState, column: string, baseFiles: ManifestFile[], linked: ManifestFile[]): Promise<AppendPlan> {
  const db = o.snap.db;
  const client = o.snap.client;
  const untrackable = await whyNotTrackable(client, t, column);
  if (untrackable) {
    o.log(`${db}: ${tableKey(t)} dumped whole, without a chain: ${untrackable}`);
    return { t };
  }
  const chain = o.base ? chainOf(baseFiles, t) : { why: 'no base set' };
  let why: string | null = 'why' in chain ? chain.why : null;
  if (!why && 'parts' in chain) {
    const base = chainTotals(chain.parts);
    const split = await splitAppended(o, t, column, chain.parts, base);
    if (chain.parts.length >= MAX_APPEND_PARTS) why = `its chain has ${chain.parts.length} parts (at most ${MAX_APPEND_PARTS})`;
    else if (!sameColumns(chain.parts[0].table, t)) why = 'its columns changed';
    else if (base.hashFn !== split.hashFn) why = `its archives' row hash (${base.hashFn ?? 'mixed'}) is not the one this server offers (${split.hashFn})`;
    else if (split.below.rows !== base.rows) why = `${split.below.rows} rows at or below ${column} ${base.upTo}, the base set has ${base.rows}: rows were added late, or deleted`;
    else if (split.below.hash !== base.hash) why = `the rows at or below ${column} ${base.upTo} are not the base set's (their hash differs): rows were changed`;
    else if (!linkParts(o, chain.parts, t, linked)) why = 'its archives could not be linked';
    if (!why) {
      const rows = split.below.rows + split.above.rows;
      if (!split.above.rows) {
        o.log(`${db}: ${tableKey(t)}: no rows added since set ${o.base!.id}: its ${chain.parts.length} archives linked`);
        return { t, rows, linked: true };
      }
      const part: AppendPart = { column, after: base.upTo, upTo: split.above.upTo!, rows: split.above.rows, hash: split.above.hash, hashFn: split.hashFn, columns: split.columns };
      o.log(`${db}: ${tableKey(t)}: ${split.above.rows} rows added since set ${o.base!.id} (${column} past ${base.upTo}): ${chain.parts.length} archives linked, the added rows dumped`);
      return { t, rows, linked: true, delta: { sql: copyAboveSql(t, column, split.type, base.upTo, split.columns), part } };
    }
    if (o.base) o.log(`${db}: ${tableKey(t)} dumped whole: ${why}`);
    return { t, rows: split.below.rows + split.above.rows, ...fullPart(column, split) };
  }
  if (o.base) o.log(`${db}: ${tableKey(t)} dumped whole: ${why}`);
  const all = await splitRows(client, t, column, null);
  return { t, rows: all.below.rows, ...fullPart(column, all) };
}

/**
 * The table's rows split at the chain's mark. When PostgreSQL counts only inserts since the base set (under the rule
 * of its reused archives: 15 and newer, no other session at either capture) and exactly that many rows lie past the
 * mark, the rows at or below it are the chain's and only the added ones are hashed; otherwise every row is.
 */
async function splitAppended(o: Parameters<typeof dumpArchiveSet>[0], t: TableState, column: string, parts: ManifestFile[], base: ReturnType<typeof chainTotals>): Promise<RowSplit> {
  const client = o.snap.client;
  const baseDb = o.base?.manifest.databases.find((d) => d.name === o.snap.db);
  const counted = insertedOnly({ stamp: baseDb?.stamp, table: parts[0].table }, o.snap.state!.stamp, t);
  if ('inserted' in counted) {
    const above = await rowsAbove(client, t, column, base.upTo, { rows: base.rows, hash: base.hash });
    if (above.above.rows === counted.inserted && above.hashFn === base.hashFn) {
      o.log(`${o.snap.db}: ${tableKey(t)}: PostgreSQL counts ${counted.inserted} rows inserted since set ${o.base!.id} and nothing else, all past ${column} ${base.upTo}: the rows below it were not hashed again`);
      return above;
    }
    o.log(`${o.snap.db}: ${tableKey(t)}: PostgreSQL counts ${counted.inserted} rows inserted since set ${o.base!.id}, ${above.above.rows} lie past ${column} ${base.upTo}: every row is checked`);
  }
  return splitRows(client, t, column, base.upTo);
}

/** The full part of a new chain from a split of the whole table (none for an empty table: nothing to track). */
function fullPart(column: string, s: RowSplit): { full?: AppendPart } {
  if (s.max === null) return {};
  const hash = (BigInt(s.below.hash) + BigInt(s.above.hash)).toString();
  return { full: { column, after: null, upTo: s.max, rows: s.below.rows + s.above.rows, hash, hashFn: s.hashFn } };
}

/** Hard-link a table's archives from the base set into this one (into `linked`, with the table's state now); false when any cannot be. */
function linkParts(o: Parameters<typeof dumpArchiveSet>[0], prev: ManifestFile[], t: TableState, linked: ManifestFile[]): boolean {
  const db = o.snap.db;
  const rel = (p: string) => (o.prefix ? `${o.prefix}/${p}` : p);
  const out: ManifestFile[] = [];
  for (const f of prev) {
    const stored = rel(`${db}.tables/${path.posix.basename(f.path)}`);
    if (!linkFrom(joinRel(o.base!.dir, f.path), joinRel(o.dir, stored))) {
      // None or all: a part linked before one that could not be would be a file the manifest does not name.
      for (const done of out) fs.rmSync(joinRel(o.dir, done.path), { force: true });
      return false;
    }
    out.push({ ...f, path: stored, table: t, reused: true });
  }
  linked.push(...out);
  return true;
}

/** A file-name-safe form of a high-water mark (an appended part's name says where it starts). */
function partStamp(v: string): string {
  return `${v.replace(/[^0-9A-Za-z]/g, '')}-${createHash('sha256').update(v).digest('hex').slice(0, 6)}`;
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
  if (why || missing || !linkFrom(joinRel(o.base.dir, prev.main.path), joinRel(o.dir, stored))) {
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
