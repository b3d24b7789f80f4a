// Copy a folder tree into a backup set: hash while copying, or hard-link files unchanged since the base set.
import fs from 'node:fs';
import path from 'node:path';
import { copyFileHashed, mapLimit, mkdirOnce } from './hashcopy.js';
import { linkOnWorker } from './hash-pool.js';
import type { FileKind, ManifestFile } from './manifest.js';
import { joinRel } from './safe-path.js';

export interface TreeSource {
  /** Local path to read from (a snapshot or the live folder). */
  dir: string;
  /** The path the operator knows (Windows or local), recorded as the files' source. */
  source: string;
  /** Folder inside the set, forward slashes, e.g. "files/share". */
  stored: string;
  kind: FileKind;
  node?: string;
  /** Relative paths (forward slashes) to leave out. */
  exclude?: (rel: string) => boolean;
}

export interface BaseIndex {
  dir: string;
  byPath: Map<string, ManifestFile>;
}

export interface TreeStats {
  files: number;
  bytes: number;
  reusedFiles: number;
  reusedBytes: number;
  /** Files whose size or time changed while they were copied (copied as found). */
  changedDuringCopy: string[];
}

export interface ListedFile {
  rel: string;
  size: number;
  mtimeMs: number;
}

/** Every file under a folder (relative paths with forward slashes), with size and mtime, one at a time. */
function* walkTree(dir: string, exclude?: (rel: string) => boolean, prefix = ''): Generator<ListedFile> {
  for (const e of fs.readdirSync(prefix ? joinRel(dir, prefix) : dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (exclude?.(rel)) continue;
    if (e.isDirectory()) yield* walkTree(dir, exclude, rel);
    else if (e.isFile()) {
      const st = fs.statSync(joinRel(dir, rel));
      yield { rel, size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
    }
  }
}

/** Every file under a folder (relative paths with forward slashes), with size and mtime. */
export function listTree(dir: string, exclude?: (rel: string) => boolean): ListedFile[] {
  return fs.existsSync(dir) ? [...walkTree(dir, exclude)] : [];
}

/** listTree that lets other work run every few hundred files (for callers beside a service start). */
export async function listTreeYielding(dir: string, exclude?: (rel: string) => boolean): Promise<ListedFile[]> {
  const out: ListedFile[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const f of walkTree(dir, exclude)) {
    if (out.push(f) % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}

/** Remove a folder tree: files and folders with one call each (quicker than fs.rmSync's generic walk); absent is fine. */
export function removeTree(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return fs.rmSync(dir, { force: true });
    throw e;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) removeTree(p);
    else fs.rmSync(p, { force: true });
  }
  fs.rmdirSync(dir);
}

/**
 * Copy (or link from the base set) every file of a tree into the set; returns the manifest entries. `list` is the
 * tree's listing when the caller has it already (a snapshot's, taken at capture time); files it names that are
 * unchanged since the base set need not exist under src.dir.
 * The links go first, in batches on the worker threads (a nightly run links nearly every file); files that cannot be
 * linked (another volume, a link count at its limit) are copied with the changed ones.
 */
export async function copyTree(src: TreeSource, setDir: string, opts: { base?: BaseIndex; parallel: number; onFile?: (bytes: number) => void; list?: ListedFile[] }): Promise<{ files: ManifestFile[]; stats: TreeStats }> {
  const list = opts.list ?? listTree(src.dir, src.exclude);
  const made = new Set<string>();
  const stats: TreeStats = { files: 0, bytes: 0, reusedFiles: 0, reusedBytes: 0, changedDuringCopy: [] };
  const files: ManifestFile[] = new Array(list.length);
  const prevs: Array<ManifestFile | undefined> = new Array(list.length);
  const toLink: number[] = [];
  const toCopy: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    const storedPath = `${src.stored}/${f.rel}`;
    const prev = opts.base?.byPath.get(storedPath);
    prevs[i] = prev;
    files[i] = { path: storedPath, bytes: f.size, sha256: '', kind: src.kind, source: joinSource(src.source, f.rel), node: src.node, mtimeMs: f.mtimeMs };
    (unchangedSince(prev, f) ? toLink : toCopy).push(i);
  }
  const done = (i: number) => {
    stats.files++;
    stats.bytes += files[i].bytes;
    opts.onFile?.(files[i].bytes);
    files[i] = withBaseStrings(files[i], prevs[i]);
  };
  const batches: number[][] = [];
  for (let k = 0; k < toLink.length; k += LINK_BATCH) batches.push(toLink.slice(k, k + LINK_BATCH));
  await mapLimit(batches, 2, async (batch) => {
    const pairs = batch.map((i): [string, string] => {
      const dest = joinRel(setDir, files[i].path);
      mkdirOnce(path.dirname(dest), made);
      return [joinRel(opts.base!.dir, files[i].path), dest];
    });
    const failed = new Set(await linkOnWorker(pairs));
    for (const [k, i] of batch.entries()) {
      if (failed.has(k)) {
        toCopy.push(i);
        continue;
      }
      files[i].sha256 = prevs[i]!.sha256;
      files[i].reused = true;
      stats.reusedFiles++;
      stats.reusedBytes += files[i].bytes;
      done(i);
    }
  });
  await mapLimit(toCopy, opts.parallel, async (i) => {
    const entry = files[i];
    const w = await copyFileHashed(joinRel(src.dir, list[i].rel), joinRel(setDir, entry.path), made);
    entry.sha256 = w.sha256;
    if (w.bytes !== entry.bytes) {
      entry.bytes = w.bytes;
      stats.changedDuringCopy.push(entry.source!);
    }
    done(i);
  });
  return { files, stats };
}

/** Links per worker message: large enough that a message costs little, small enough that both workers get work. */
const LINK_BATCH = 512;

/**
 * A new manifest entry made to hold the base set's entry's strings where they are equal (its own copies become
 * garbage): the base index and the new entries are live together, and with 30,000 files their paths, sources and
 * checksums held twice were about 9 MB of the run's peak heap.
 */
export function withBaseStrings(f: ManifestFile, prev: ManifestFile | undefined): ManifestFile {
  if (!prev) return f;
  if (f.path === prev.path) f.path = prev.path;
  if (f.source === prev.source) f.source = prev.source;
  if (f.sha256 === prev.sha256) f.sha256 = prev.sha256;
  return f;
}

/** rsync's quick check: same size and modification time as in the base set means unchanged. */
export function unchangedSince(prev: ManifestFile | undefined, f: ListedFile): prev is ManifestFile {
  return !!prev && prev.bytes === f.size && prev.mtimeMs === f.mtimeMs;
}

/** A file's original location: Windows paths keep backslashes. */
function joinSource(root: string, rel: string): string {
  if (/^[A-Za-z]:\\|^\\\\/.test(root)) return `${root.replace(/\\+$/, '')}\\${rel.split('/').join('\\')}`;
  return joinRel(root, rel);
}

/** Index a base manifest's files by stored path, for the quick check. */
export function indexBase(dir: string, files: ManifestFile[]): BaseIndex {
  return { dir, byPath: new Map(files.map((f) => [f.path, f])) };
}
