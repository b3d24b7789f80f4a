// Dump one database: pg_dump (custom format) → compress → sha256 → disk, in one pass.
import fs from 'node:fs';
import path from 'node:path';
import { spawnPgDump, type PgToolContext } from '../postgres/tools.js';
import type { PgTarget } from '../postgres/args.js';
import { compressor, EXTENSION, type Compression } from './compress.js';
import { writeStreamHashed, type Written } from './hashcopy.js';

export interface DumpResult extends Written {
  file: string;
}

/** Dump `db` from an exported snapshot (when given) into <dir>/<db>.dump[.zst|.gz]. */
export async function dumpDatabase(o: {
  tool: PgToolContext;
  target: PgTarget;
  db: string;
  snapshot?: string;
  dir: string;
  compress: Compression;
  onStarted?: () => void;
}): Promise<DumpResult> {
  const file = path.join(o.dir, `${o.db}.dump${EXTENSION[o.compress]}`);
  // -Z0: compression happens outside pg_dump, on all cores (zstd -T0), not inside it on one.
  const child = spawnPgDump(o.tool, { ...o.target, db: o.db, format: 'custom', compress: 0, blobs: true, snapshot: o.snapshot });
  o.onStarted?.();
  const writing = writeStreamHashed(child.stdout, file, [compressor(o.compress) as never]);
  // A pg_dump that fails midway must never look like a good dump: wait for both, report pg_dump's own error first.
  const [w, d] = await Promise.allSettled([writing, child.done]);
  if (d.status === 'rejected' || w.status === 'rejected') {
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.partial`, { force: true });
    throw d.status === 'rejected' ? d.reason : (w as PromiseRejectedResult).reason;
  }
  return { file, ...w.value };
}
