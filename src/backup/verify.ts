// Verification of a backup set: every checksum, every dump's table of contents, the versions, and with --deep a
// restore of every dump into a scratch PostgreSQL cluster with row counts compared to the manifest.
import fs from 'node:fs';
import path from 'node:path';
import type { PgToolContext } from '../postgres/tools.js';
import { parsePgVersion } from '../postgres/version.js';
import { checkDbFile } from './pg-archive.js';
import { chainProblems } from './db-append.js';
import { hashFile, mapLimit } from './hashcopy.js';
import { archiveEntries, archivesOf, loadArchives } from './db-load.js';
import { FORMAT, IN_PROGRESS, MANIFEST, VERIFIED, readManifest, type Manifest } from './manifest.js';
import { manifestPathProblems } from './manifest-check.js';
import { scanSet, type SetScan } from './set-files.js';
import { joinRel } from './safe-path.js';

export interface VerifyOptions {
  tool?: PgToolContext;
  deep?: boolean;
  parallel?: number;
  onProgress?: (msg: string) => void;
}

export interface VerifyResult {
  ok: boolean;
  level: 'full' | 'deep';
  problems: string[];
  checkedFiles: number;
  checkedBytes: number;
  dumps: Array<{ path: string; entries: number }>;
  rowCountsCompared?: number;
}

/** Verify a set folder: checksums, dumps' TOCs, versions; --deep restores into a scratch cluster. */
export async function verifySet(setDir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const problems: string[] = [];
  const result: VerifyResult = { ok: false, level: opts.deep ? 'deep' : 'full', problems, checkedFiles: 0, checkedBytes: 0, dumps: [] };
  const m = readManifest(setDir);
  if (!m) {
    problems.push(`${path.join(setDir, MANIFEST)} is missing: the backup is incomplete${fs.existsSync(path.join(setDir, IN_PROGRESS)) ? ' (its run did not finish; resume it with qsadmin runs resume)' : ''}`);
    return result;
  }
  if (m.format !== FORMAT) problems.push(`manifest format ${m.format} is not supported by this qsadmin (expects ${FORMAT})`);
  // Paths first: a manifest whose paths leave the set is refused before any file it names is opened.
  const pathProblems = manifestPathProblems(m);
  if (pathProblems.length) {
    problems.push(...pathProblems);
    return result;
  }
  const bad = new Set<string>();
  problems.push(...layoutProblems(setDir, m, bad));

  // Every file present with its size: same sha256 (the others are named already).
  await mapLimit(m.files, opts.parallel ?? 4, async (f) => {
    if (bad.has(f.path)) return;
    const w = await hashFile(joinRel(setDir, f.path));
    result.checkedFiles++;
    result.checkedBytes += w.bytes;
    if (w.bytes !== f.bytes) problems.push(`${f.path}: ${w.bytes} bytes, manifest says ${f.bytes}`);
    else if (w.sha256 !== f.sha256) problems.push(`${f.path}: sha256 ${w.sha256} does not match the manifest (${f.sha256})`);
    if (result.checkedFiles % 500 === 0) opts.onProgress?.(`${result.checkedFiles}/${m.files.length} files checked`);
  });

  // Qlik Alerting's mongodump: every .bson reads, with the document counts recorded at backup time.
  if (m.files.some((f) => f.kind.startsWith('alerting-'))) problems.push(...(await import('../alerting/backup.js')).alertingSetProblems(setDir, m.files.filter((f) => !bad.has(f.path))));

  // Versions: this machine's client tools must read dumps made by the recorded pg_dump.
  const dumps = m.files.filter((f) => f.kind === 'db');
  if (opts.tool) {
    const made = parsePgVersion(m.site.database.clientVersion);
    const here = await clientMajor(opts.tool);
    if (here < made.major) problems.push(`the dumps were made by pg_dump ${m.site.database.clientVersion}; pg_restore here is ${here}: use client tools ${made.major} or newer`);
    for (const d of dumps) {
      const p = joinRel(setDir, d.path);
      if (!fs.existsSync(p)) continue;
      try {
        result.dumps.push({ path: d.path, entries: await checkDbFile(opts.tool, p, d) });
      } catch (e) {
        problems.push(`${d.path}: ${(e as Error).message}`);
      }
    }
    for (const db of m.databases.filter((x) => x.dumped)) {
      if (!archiveEntries(m, db.name)) problems.push(`database ${db.name} is marked dumped but has no dump file in the manifest`);
      problems.push(...chainProblems(m.files, db.rowCounts, db.name));
    }
  }

  if (opts.deep && problems.length === 0) {
    if (!opts.tool) throw new Error('--deep needs the PostgreSQL client tools');
    result.rowCountsCompared = await deepVerify(setDir, m, opts.tool, problems, opts.onProgress);
  }
  result.ok = problems.length === 0;
  return result;
}

async function clientMajor(tool: PgToolContext): Promise<number> {
  const { clientVersion } = await import('../postgres/bin.js');
  return (await clientVersion(tool.binDir, 'pg_restore')).major;
}

/** Restore every dump into a throwaway cluster and compare row counts with the manifest. */
async function deepVerify(setDir: string, m: Manifest, tool: PgToolContext, problems: string[], progress?: (s: string) => void): Promise<number> {
  const { PgCluster } = await import('../postgres/cluster.js');
  const { withClient } = await import('../postgres/client.js');
  const { countTables } = await import('./rowcount.js');
  const scratch = await PgCluster.scratch({});
  let compared = 0;
  try {
    const conn = scratch.conn();
    const t: PgToolContext = { binDir: tool.binDir, password: conn.password };
    for (const db of m.databases.filter((x) => x.dumped)) {
      const archives = archivesOf(setDir, m, db.name)!;
      const dump = archiveEntries(m, db.name)!.main;
      progress?.(`restoring ${db.name} into a scratch cluster`);
      await withClient(conn, (c) => c.query(`CREATE DATABASE "${db.name.replace(/"/g, '""')}" TEMPLATE template0 ENCODING '${db.encoding.replace(/'/g, "''")}'`));
      try {
        await loadArchives(t, { host: conn.host, port: conn.port, user: conn.user }, db.name, archives, { noOwner: true });
      } catch (e) {
        problems.push(`${dump.path}: restore into a scratch cluster failed: ${(e as Error).message}`);
        continue;
      }
      const counts = await withClient({ ...conn, database: db.name }, (c) => countTables(c));
      for (const [table, n] of Object.entries(db.rowCounts ?? {})) {
        compared++;
        if (counts[table] !== n) problems.push(`${dump.path}: table ${table} has ${counts[table] ?? 'no'} rows after restore, the manifest says ${n}`);
      }
      for (const table of Object.keys(counts)) if (!(table in (db.rowCounts ?? {}))) problems.push(`${dump.path}: table ${table} is not in the manifest's row counts`);
    }
  } finally {
    await scratch.destroy();
  }
  return compared;
}

/**
 * What a set folder holds against its manifest, without reading file contents: every listed file present as a regular
 * file with its recorded size, nothing else in the set (a leftover temp file included), no links or devices. The
 * check a backup writes into verified.json as "quick" is this one, so it never passes a set `backup verify` fails.
 */
export function layoutProblems(setDir: string, m: Manifest, bad = new Set<string>(), scan: SetScan = scanSet(setDir)): string[] {
  const problems: string[] = [];
  problems.push(...scan.refused);
  const onDisk = new Set(scan.files);
  for (const f of m.files) {
    if (!onDisk.has(f.path)) {
      problems.push(`${f.path}: missing`);
      bad.add(f.path);
      continue;
    }
    const size = fs.statSync(joinRel(setDir, f.path)).size;
    if (size !== f.bytes) {
      problems.push(`${f.path}: ${size} bytes, manifest says ${f.bytes}`);
      bad.add(f.path);
    }
  }
  const listed = new Set(m.files.map((f) => f.path));
  for (const extra of scan.files) {
    if (!listed.has(extra) && ![MANIFEST, VERIFIED].includes(extra)) problems.push(`${extra}: in the set but not in the manifest`);
  }
  return problems;
}
