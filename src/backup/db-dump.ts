// Dump one pg_dump archive: pg_dump (custom format) → compress → disk, with the sha256 of what was written.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { spawnPgDump, spawnPsqlOut, type PgDumpStream, type PgToolContext } from '../postgres/tools.js';
import type { PgDumpArgs, PgTarget } from '../postgres/args.js';
import { compressor, runZstd, type Compression } from './compress.js';
import { hashFile, writeStreamHashed, type Written } from './hashcopy.js';
import { mkdirPrivateSync, openPrivateSync } from '../host/private-files.js';

export interface DumpResult extends Written {
  file: string;
}

export type ArchiveSelection = Pick<PgDumpArgs, 'tables' | 'excludeTableData' | 'dataOnly'>;

/** Dump `db` (or a selection of it) from an exported snapshot (when given) into `file`. */
export async function dumpArchive(o: {
  tool: PgToolContext;
  target: PgTarget;
  db: string;
  snapshot?: string;
  file: string;
  compress: Compression;
  select?: ArchiveSelection;
}): Promise<DumpResult> {
  // -Z0: compression happens outside pg_dump, on all cores (zstd -T0), not inside it on one.
  const child = spawnPgDump(o.tool, { ...o.target, db: o.db, format: 'custom', compress: 0, blobs: !o.select?.dataOnly, snapshot: o.snapshot, ...o.select });
  return writeOutput(child, o.file, o.compress);
}

/**
 * Write the output of one SQL statement (a COPY ... TO STDOUT) run by psql in the exported snapshot into `file`,
 * compressed: the rows an appended table part holds (db-append.ts). `settings` run first, in the same transaction.
 */
export async function dumpCopy(o: { tool: PgToolContext; target: PgTarget; db: string; snapshot: string; file: string; compress: Compression; settings: string[]; sql: string }): Promise<DumpResult> {
  const child = spawnPsqlOut(o.tool, { ...o.target, db: o.db }, [
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    `SET TRANSACTION SNAPSHOT '${o.snapshot.replace(/'/g, "''")}'`,
    ...o.settings,
    o.sql,
    'COMMIT',
  ]);
  return writeOutput(child, o.file, o.compress);
}

/** A child's stdout, compressed, into `file`; a child that fails midway leaves no file. */
async function writeOutput(child: PgDumpStream, file: string, compress: Compression): Promise<DumpResult> {
  mkdirPrivateSync(path.dirname(file));
  const writing = compress === 'zstd' ? zstdToFile(child.stdout, file) : writeStreamHashed(child.stdout, file, [compressor(compress)]);
  // A dump that fails midway must never look like a good dump: wait for both, report the tool's own error first.
  const [w, d] = await Promise.allSettled([writing, child.done]);
  if (d.status === 'rejected' || w.status === 'rejected') {
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.partial`, { force: true });
    throw d.status === 'rejected' ? d.reason : (w as PromiseRejectedResult).reason;
  }
  return { file, ...w.value };
}

/**
 * pg_dump's stdout goes straight into zstd's stdin (the pipe itself is handed over) and zstd writes the file: no byte
 * passes through this process, whose event loop serves the other steps of a parallel group (relayed here, a dump
 * stalled whenever a spawn or a copy held it). The file is hashed once written, on a worker thread, from the page cache.
 */
async function zstdToFile(dumpOut: Readable, dest: string): Promise<Written> {
  const tmp = `${dest}.partial`;
  // zstd writes to a file opened 0600 here: with -o it would create it 0666 minus the umask.
  const fd = openPrivateSync(tmp);
  const done = runZstd(['-1', '-T0', '-q', '-c'], dumpOut, fd);
  fs.closeSync(fd);
  // Our copy of the pipe's reading end must go, or pg_dump would block instead of failing if zstd died.
  dumpOut.destroy();
  await done;
  const written = await hashFile(tmp);
  fs.renameSync(tmp, dest);
  fs.chmodSync(dest, 0o400);
  return written;
}
