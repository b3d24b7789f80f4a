// Reading a pg_dump archive through the client tools: its table of contents (pg_restore --list) and a restore into
// a database, both from the decompressed stream (pg_restore reads the archive on its stdin).
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { toolFile } from '../postgres/bin.js';
import { pgToolEnv, type PgToolContext } from '../postgres/tools.js';
import type { PgTarget } from '../postgres/args.js';
import { decompressor, type Compression } from './compress.js';

/** Run a client tool reading the (decompressed) dump on its stdin; returns stdout. */
async function pipeDumpInto(tool: PgToolContext, name: 'pg_restore', args: string[], file: string, compression: Compression): Promise<string> {
  const child = spawn(toolFile(tool.binDir, name), args, { env: pgToolEnv(tool), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const decompress = decompressor(compression);
  const feeding = pipeline(source, decompress, child.stdin).catch((e: NodeJS.ErrnoException) => {
    // pg_restore may stop reading early when it fails; its own error is the one to report
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e;
  });
  const code = await exited;
  // The tool may have stopped reading before the end: tear the feeding side down so nothing stays blocked.
  source.destroy();
  decompress.destroy();
  child.stdin.destroy();
  await feeding.catch(() => undefined);
  if (code !== 0) throw new Error(`${name} ${args.filter((a) => !a.startsWith('-') || a === '--list').join(' ')} failed on ${path.basename(file)} (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`);
  return out;
}

/** pg_restore --list on a dump: how many table-of-contents entries it has (0 means unusable). */
export async function listDump(tool: PgToolContext, file: string, compression: Compression): Promise<number> {
  const out = await pipeDumpInto(tool, 'pg_restore', ['--list'], file, compression);
  return out.split('\n').filter((l) => l.trim() && !l.startsWith(';')).length;
}

/** Restore a dump into an existing database (single job, from the decompressed stream). */
export async function restoreDump(tool: PgToolContext, target: PgTarget, db: string, file: string, compression: Compression, opts: { noOwner?: boolean; extra?: string[] } = {}): Promise<void> {
  const args = ['-h', target.host, '-p', String(target.port), '-U', target.user, '-w', '-d', db, '--exit-on-error', ...(opts.extra ?? [])];
  if (opts.noOwner) args.push('--no-owner', '--no-privileges');
  await pipeDumpInto(tool, 'pg_restore', args, file, compression);
}
