// Reading a pg_dump archive through the client tools: its table of contents (pg_restore --list) and a restore into
// a database (pg_restore reads a compressed archive on its stdin, from zstd).
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { toolFile } from '../postgres/bin.js';
import { pgToolEnv, type PgToolContext } from '../postgres/tools.js';
import { connArgs, type PgTarget } from '../postgres/args.js';
import { decompressor, type Compression } from './compress.js';
import { childEnv, ownGroup, track } from '../runbook/children.js';
import type { ManifestFile } from './manifest.js';

/**
 * Run a client tool on a dump; returns stdout. The dump's bytes never pass through this process, whose event loop
 * serves every other step of a parallel group (a spawn elsewhere blocks it for tens of milliseconds under load, and a
 * load relayed through it would stall with it): an uncompressed archive is named on the tool's command line, a zstd
 * one is read by zstd, whose stdout is handed to the tool as its stdin. Only gzip (no zstd binary) is decompressed here.
 */
async function runOnDump(tool: PgToolContext, name: 'pg_restore' | 'psql', args: string[], file: string, compression: Compression): Promise<string> {
  let feeder: ChildProcess | undefined;
  let stdin: StdioNull | StdioPipe | Readable = 'ignore';
  if (compression === 'zstd') {
    feeder = track(spawn('zstd', ['-dcq', '--', file], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(), ...ownGroup() }));
    stdin = feeder.stdout!;
  } else if (compression === 'gzip' || name === 'psql') stdin = 'pipe'; // psql reads COPY data on stdin only
  const named = compression === 'none' && name === 'pg_restore';
  const child = track(spawn(toolFile(tool.binDir, name), named ? [...args, file] : args, { env: pgToolEnv(tool), stdio: [stdin, 'pipe', 'pipe'], ...ownGroup() }));
  // Our copy of the pipe's reading end must go, or zstd would block instead of failing if the tool died.
  feeder?.stdout!.destroy();
  let out = '';
  let err = '';
  let feederErr = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  feeder?.stderr!.on('data', (d: Buffer) => (feederErr += d.toString()));
  const closed = (p: ChildProcess) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      p.on('error', reject);
      p.on('close', (code, signal) => resolve({ code, signal }));
    });
  const feeding = stdin === 'pipe'
    ? pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), decompressor(compression === 'gzip' ? 'gzip' : 'none'), child.stdin!).catch((e: NodeJS.ErrnoException) => {
      // pg_restore may stop reading early when it fails; its own error is the one to report
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e;
    })
    : Promise.resolve();
  const fed = feeder ? closed(feeder).then((r) => ({ ...r, error: undefined }), (e: Error) => ({ code: null, signal: null, error: e })) : null;
  const [t, f] = await Promise.all([closed(child), fed, feeding.catch(() => undefined)]);
  if (t.code !== 0) throw new Error(`${name} ${args.filter((a) => !a.startsWith('-') || a === '--list').join(' ')} failed on ${path.basename(file)} (exit ${t.code ?? t.signal}): ${err.trim().split('\n').slice(-3).join(' | ')}${feederErr.trim() ? ` (zstd: ${feederErr.trim()})` : ''}`);
  // The tool stops reading once it has what it needs (--list: the table of contents; --table: its rows), and zstd
  // then finds its output closed: SIGPIPE, or a write error (Windows), or "Connection reset by peer", since Node's
  // child pipes are socket pairs on Linux. The tool succeeded: not a failure. Anything else zstd reports is one.
  if (f && (f.code !== 0 || f.error) && f.signal !== 'SIGPIPE' && !/write error|broken pipe|connection reset/i.test(feederErr)) {
    throw new Error(`zstd could not read ${path.basename(file)} (${f.error ? f.error.message : `exit ${f.code ?? f.signal}`}): ${feederErr.trim()}`);
  }
  return out;
}

/** pg_restore --list on a dump: how many table-of-contents entries it has (0 means unusable). */
export async function listDump(tool: PgToolContext, file: string, compression: Compression): Promise<number> {
  const out = await runOnDump(tool, 'pg_restore', ['--list'], file, compression);
  return out.split('\n').filter((l) => l.trim() && !l.startsWith(';')).length;
}

/** Restore a dump into an existing database (single job, from the decompressed stream). */
export async function restoreDump(tool: PgToolContext, target: PgTarget, db: string, file: string, compression: Compression, opts: { noOwner?: boolean; extra?: string[] } = {}): Promise<void> {
  const args = [...connArgs(target), '-d', db, '--exit-on-error', ...(opts.extra ?? [])];
  if (opts.noOwner) args.push('--no-owner', '--no-privileges');
  await runOnDump(tool, 'pg_restore', args, file, compression);
}

/** The rows of some tables of a dump as pg_restore prints them (SQL with COPY ... FROM stdin blocks); nothing is restored. */
export async function tableDataText(tool: PgToolContext, file: string, compression: Compression, tables: string[]): Promise<string> {
  return runOnDump(tool, 'pg_restore', ['--data-only', ...tables.map((t) => `--table=${t}`), '-f', '-'], file, compression);
}

/** Load an appended table part (COPY text, db-append.ts) into a table of `db`: psql runs `copySql` (COPY ... FROM STDIN) on the decompressed stream. */
export async function loadCopy(tool: PgToolContext, target: PgTarget, db: string, file: string, compression: Compression, copySql: string): Promise<void> {
  await runOnDump(tool, 'psql', [...connArgs(target), '-d', db, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', copySql], file, compression);
}

/** The rows of an appended table part: its lines (COPY text escapes newlines inside values, so one line is one row). */
export async function countCopyRows(file: string, compression: Compression): Promise<number> {
  let lines = 0;
  const count = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      cb();
    },
  });
  if (compression === 'zstd') {
    const z = track(spawn('zstd', ['-dcq', '--', file], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(), ...ownGroup() }));
    let err = '';
    z.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve, reject) => {
      z.on('error', reject);
      z.on('close', resolve);
    });
    await pipeline(z.stdout!, count);
    const code = await closed;
    if (code !== 0) throw new Error(`zstd could not read ${path.basename(file)} (exit ${code}): ${err.trim()}`);
  } else await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), decompressor(compression), count);
  return lines;
}

/**
 * Check that a database file of a set reads as what the manifest says it is: a pg_dump archive with a table of
 * contents (how many entries), or an appended table part (db-append.ts) with as many rows as recorded. Throws otherwise.
 */
export async function checkDbFile(tool: PgToolContext, file: string, f: Pick<ManifestFile, 'path' | 'compression' | 'append'>): Promise<number> {
  if (f.append && f.append.after !== null) {
    const rows = await countCopyRows(file, f.compression ?? 'none');
    if (rows !== f.append.rows) throw new Error(`it holds ${rows} rows, the manifest says ${f.append.rows}`);
    return rows;
  }
  const entries = await listDump(tool, file, f.compression ?? 'none');
  if (entries === 0) throw new Error('pg_restore --list shows no entries');
  return entries;
}
