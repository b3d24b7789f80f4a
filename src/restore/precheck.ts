// What a restore checks of a backup set before it plans anything, without reading the big files: the manifest, every
// file it will restore present with its recorded size, the dumps' tables of contents and the client tools' version.
// The big files' sha256 are checked where the restore reads them anyway (a dump beside its load, a share file while
// it is copied into staging), before anything live is swapped; only the small files with no such read (certificates,
// configs, supporting content, globals.sql) are hashed here. Every byte restored is checked once.
import fs from 'node:fs';
import path from 'node:path';
import { clientVersion } from '../postgres/bin.js';
import type { PgToolContext } from '../postgres/tools.js';
import { parsePgVersion } from '../postgres/version.js';
import { hashFile, mapLimit } from '../backup/hashcopy.js';
import { FORMAT, type FileKind, type Manifest } from '../backup/manifest.js';
import { checkDbFile } from '../backup/pg-archive.js';
import { joinRel } from '../backup/safe-path.js';

/** Kinds whose bytes are checked later, on the read that restores them. */
const CHECKED_ON_USE: FileKind[] = ['db', 'share', 'share-outside'];

/** Problems that make a set unusable for restoring these kinds of files (empty when it is fine). */
export async function precheckSet(dir: string, m: Manifest, kinds: Set<FileKind>, tool: PgToolContext): Promise<string[]> {
  const problems: string[] = [];
  if (m.format !== FORMAT) problems.push(`manifest format ${m.format} is not supported by this qsadmin (expects ${FORMAT})`);
  const used = m.files.filter((f) => kinds.has(f.kind));
  await mapLimit(used, 4, async (f) => {
    const p = joinRel(dir, f.path);
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) return void problems.push(`${f.path}: missing`);
    if (st.size !== f.bytes) return void problems.push(`${f.path}: ${st.size} bytes, manifest says ${f.bytes}`);
    if (CHECKED_ON_USE.includes(f.kind)) return;
    const w = await hashFile(p);
    if (w.sha256 !== f.sha256) problems.push(`${f.path}: sha256 ${w.sha256} does not match the manifest (${f.sha256})`);
  });
  const dumps = used.filter((f) => f.kind === 'db');
  if (!dumps.length) return problems;
  const made = parsePgVersion(m.site.database.clientVersion);
  const here = (await clientVersion(tool.binDir, 'pg_restore')).major;
  if (here < made.major) problems.push(`the dumps were made by pg_dump ${m.site.database.clientVersion}; pg_restore here is ${here}: use client tools ${made.major} or newer`);
  for (const db of m.databases.filter((x) => x.dumped)) {
    if (!dumps.some((d) => d.database === db.name)) problems.push(`database ${db.name} is marked dumped but has no dump file in the manifest`);
  }
  // pg_restore --list reads only the head of a dump: cheap, and it proves this pg_restore can read the format.
  await Promise.all(
    dumps.map(async (d) => {
      if (problems.some((p) => p.startsWith(`${d.path}:`))) return;
      try {
        await checkDbFile(tool, joinRel(dir, d.path), d);
      } catch (e) {
        problems.push(`${d.path}: ${(e as Error).message}`);
      }
    }),
  );
  return problems.sort();
}
