// What a restore can read: a qsadmin backup set (folder or .tar), or what the guide's manual procedures produce: a
// folder of "<DB>_backup.tar" files from `pg_dump -F t` with a copied share beside them, or a plain-SQL pg_dumpall file.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readManifest, type Manifest } from '../backup/manifest.js';
import { manifestPathProblems } from '../backup/manifest-check.js';
import { scanSet } from '../backup/set-files.js';
import { checkLooksLikeSetTar, unpackSetTar } from '../backup/set-tar.js';
import { InputError, VerificationError } from '../runbook/errors.js';

export type RestoreSource =
  | { kind: 'set'; dir: string; manifest: Manifest; packed?: string; repository?: string }
  | { kind: 'guide-tar'; dir: string; dumps: Array<{ db: string; file: string }>; shareDir?: string }
  | { kind: 'dumpall'; file: string; shareDir?: string };

const GUIDE_TAR = /^(.+)_backup\.tar$/i;
const SHARE_MARKERS = ['Apps', 'StaticContent', 'ArchivedLogs'];
const DUMPALL_HEAD = /PostgreSQL database cluster dump/;

/** A copied share beside the dumps: a sub-folder holding Apps, StaticContent or ArchivedLogs. */
function findShareDir(dir: string): string | undefined {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isDirectory()) continue;
    const sub = path.join(dir, e.name);
    if (SHARE_MARKERS.some((m) => fs.existsSync(path.join(sub, m)))) return sub;
  }
  return SHARE_MARKERS.some((m) => fs.existsSync(path.join(dir, m))) ? dir : undefined;
}

/** True when a file starts like pg_dumpall's plain-SQL output. */
function isDumpall(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return DUMPALL_HEAD.test(buf.subarray(0, n).toString('utf8'));
  } finally {
    fs.closeSync(fd);
  }
}

/** A pg_dump tar archive starts with a tar header whose first entry is toc.dat. */
function isPgDumpTar(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    fs.readSync(fd, buf, 0, 512, 0);
    return buf.subarray(0, 7).toString('latin1') === 'toc.dat';
  } finally {
    fs.closeSync(fd);
  }
}

/** Unpack a single-file backup set once into a scratch folder under the state dir (kept for resume). */
async function unpackSet(file: string, scratchBase: string): Promise<string> {
  const st = fs.statSync(file);
  const key = createHash('sha256').update(`${file}|${st.size}|${st.mtimeMs}`).digest('hex').slice(0, 12);
  const dir = path.join(scratchBase, `${path.basename(file, '.tar')}-${key}`);
  if (readManifest(dir)) return dir;
  // Not a set at all: refused before anything is written under the state dir.
  await checkLooksLikeSetTar(file);
  const tmp = `${dir}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o700 });
  await unpackSetTar(file, tmp); // removes tmp when it fails
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/** A set's manifest and files are believed only when every path stays inside the set (exit 4 otherwise). */
function checkedSet(dir: string, manifest: Manifest, packed?: string): RestoreSource {
  const problems = [...manifestPathProblems(manifest), ...scanSet(dir).refused];
  if (problems.length) {
    throw new VerificationError(`${packed ?? dir} is refused: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`, 'the set was altered or is not a qsadmin set: nothing was changed; use another set (qsadmin backup list)');
  }
  return { kind: 'set', dir, manifest, packed };
}

const REFUSED_HINT =
  'give a qsadmin backup set (folder or .tar), a folder of <DB>_backup.tar files made with `pg_dump -F t` (with the copied share in a sub-folder), or a pg_dumpall .sql file';

/** Work out what kind of backup a path is; anything else is refused with a clear message (exit 2). */
export async function detectSource(p: string, scratchBase: string, opts: { passphraseEnv?: string; log?: (l: string) => void } = {}): Promise<RestoreSource> {
  const { repositorySetRef } = await import('../backup/repo/cli.js');
  const inRepo = repositorySetRef(p, undefined);
  if (inRepo) return fromRepository(inRepo, scratchBase, opts);
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw new InputError(`no backup at ${abs}`, REFUSED_HINT);
  const st = fs.statSync(abs);
  if (st.isFile()) {
    if (abs.endsWith('.tar') && !isPgDumpTar(abs)) {
      const dir = await unpackSet(abs, scratchBase);
      return checkedSet(dir, readManifest(dir)!, abs);
    }
    if (isDumpall(abs)) return { kind: 'dumpall', file: abs, shareDir: findShareDir(path.dirname(abs)) };
    throw new InputError(`${abs} is not a backup qsadmin can restore`, REFUSED_HINT);
  }
  const manifest = readManifest(abs);
  if (manifest) return checkedSet(abs, manifest);
  if (fs.existsSync(path.join(abs, 'in-progress.json'))) {
    throw new InputError(`${abs} is an incomplete backup set (no manifest.json; its run did not finish)`, 'resume the backup run, or pick another set (qsadmin backup list)');
  }
  const names = fs.readdirSync(abs);
  const dumps = names.filter((n) => GUIDE_TAR.test(n)).sort().map((n) => ({ db: GUIDE_TAR.exec(n)![1], file: path.join(abs, n) }));
  if (dumps.length) {
    const bad = dumps.filter((d) => !isPgDumpTar(d.file));
    if (bad.length) throw new InputError(`${bad.map((d) => d.file).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not pg_dump tar archives (pg_dump -F t)`, REFUSED_HINT);
    if (!dumps.some((d) => d.db === 'QSR')) throw new InputError(`${abs} has ${dumps.map((d) => path.basename(d.file)).join(', ')} but no QSR_backup.tar: the repository database is missing`, REFUSED_HINT);
    return { kind: 'guide-tar', dir: abs, dumps, shareDir: findShareDir(abs) };
  }
  const sql = names.filter((n) => /\.sql$/i.test(n)).map((n) => path.join(abs, n)).filter(isDumpall);
  if (sql.length === 1) return { kind: 'dumpall', file: sql[0], shareDir: findShareDir(abs) };
  throw new InputError(`${abs} holds no backup qsadmin can restore (no manifest.json, no <DB>_backup.tar, no pg_dumpall file)`, REFUSED_HINT);
}

/**
 * A set in a format 2 repository: fetched once into a scratch folder under the state dir (kept for resume), every
 * file decrypted and checked against its sha256 on the way. A full local copy, said so on the plan: pg_restore -j and
 * the share copy read files, and the safety rule (nothing is dropped before the source is verified) needs the whole
 * set checked before the first database is replaced.
 */
async function fromRepository(ref: { url: string; id: string }, scratchBase: string, opts: { passphraseEnv?: string; log?: (l: string) => void }): Promise<RestoreSource> {
  const { Repository } = await import('../backup/repo/repository.js');
  const repo = await Repository.open(ref.url, { passphraseEnv: opts.passphraseEnv });
  const key = createHash('sha256').update(`${repo.url}|${repo.config.id}`).digest('hex').slice(0, 12);
  const dir = path.join(scratchBase, `${ref.id}-${key}`);
  if (!readManifest(dir)) opts.log?.(`fetching ${repo.url}#${ref.id} into ${dir} (a full local copy: restore reads files), checking every sha256`);
  const manifest = await repo.materialize(ref.id, dir);
  return { ...checkedSet(dir, manifest), repository: `${repo.url}#${ref.id}` } as RestoreSource;
}

/** A line for the plan describing the source. */
export function describeSource(s: RestoreSource): string {
  if (s.kind === 'set' && s.repository) return `backup set ${s.manifest.id} from the repository ${s.repository}, fetched and checked into ${s.dir} (a full local copy: restore reads files), made ${s.manifest.created}`;
  if (s.kind === 'set') return `backup set ${s.manifest.id} (${s.packed ?? s.dir}), made ${s.manifest.created} on ${s.manifest.site.nodes.map((n) => n.hostname).join(', ')}`;
  if (s.kind === 'guide-tar') return `the guide's manual backup in ${s.dir}: ${s.dumps.map((d) => path.basename(d.file)).join(', ')} (pg_dump -F t)${s.shareDir ? `, share copy ${s.shareDir}` : ', no share copy'}; no manifest: no checksums, no row counts, no certificates`;
  return `pg_dumpall file ${s.file} (plain SQL through psql)${s.shareDir ? `, share copy ${s.shareDir}` : ''}; no manifest: no checksums, no row counts, no certificates`;
}
