// The share side of a restore in two moves. First, while the services still run, each of the backup's files is put
// into a staging folder inside its destination: a live file that already has the backup's content (its sha256 read
// from the live copy) is hard-linked there, any other is copied from the set with its sha256 checked on the way.
// Then, with the services stopped, each staged top-level entry replaces the live one by rename; the replaced entries
// stay in a run-specific folder beside them (the share's safety copy) until the restore is verified.
//
// Why inside the destination and entry by entry, rather than renaming the destination itself: a share root is often
// the root of an SMB share or a mount point, which cannot be renamed, while renames inside it stay on one filesystem
// and each is atomic. Every state a crash can leave between two renames is finished by running the swap again.
//
// Which live files are linked: by default rsync's quick check, the one a nightly backup itself decides by (tree.ts
// unchangedSince): the set's size and mtime (recorded to the millisecond) mean the backup's bytes. Every nightly set
// already rests on that rule (its unchanged files are linked from the base set on it), so trusting it here assumes
// nothing the backups do not, and a restore after a day's changes reads only what changed. `checksum` (restore --checksum, like rsync -c) hashes every
// live file first and links only those with the backup's sha256, for a share whose tools may rewrite a file and set
// its time back.
//
// Why links of live files are safe: a link names the inode that was checked, so renames and replacements of the live
// name do not reach it; only a write into that file could, and a write moves its mtime. The swap, once the services
// are down, compares each link's size and mtime with those recorded when it was made and copies the file from the
// set instead where they moved. Files written in the last seconds are copied, never linked (a second write within
// the same timestamp tick would not move the mtime). A restore after a day's changes thus copies only what changed,
// as pgBackRest's --delta restore does; the end state is the same as a full copy's.
import fs from 'node:fs';
import path from 'node:path';
import { copyHashed, hashFile, mapLimit } from '../backup/hashcopy.js';
import { insideOrThrow, joinRel } from '../backup/safe-path.js';
import type { ManifestFile } from '../backup/manifest.js';
import { VerificationError, errorMessage } from '../runbook/errors.js';
import { faultPoint } from '../runbook/fault.js';
import { readJson, writeFileAtomic } from '../runbook/fsutil.js';
import type { ShareTarget } from './share.js';

/** One file of the set to put in place: `rel` below its swap root, `from` its copy in the set. */
export interface StageFile {
  rel: string;
  from: string;
  /** Its path in the manifest, named in errors. */
  stored: string;
  bytes: number;
  sha256: string;
  mtimeMs?: number;
}

/** A destination folder that is swapped as one: a share target plus any target that lies inside it (--share-root). */
export interface SwapRoot {
  /** The destination as the site knows it (Windows or local form), for messages. */
  dest: string;
  /** The same, as a path we can open. */
  local: string;
  roles: string[];
  files: StageFile[];
}

export const stagingName = (runId: string) => `.qsadmin-restore-${runId}`;
export const oldShareName = (runId: string) => `.qsadmin-old-${runId}`;

/**
 * Group the share targets into swap roots: a target whose destination lies inside another's is staged inside that
 * one's staging folder (with --share-root, folders that were outside the old root land inside the new one), so one
 * swap brings both in and no rename ever moves a folder out from under another target.
 */
export function swapRoots(files: ManifestFile[], targets: ShareTarget[], resolve: (p: string) => string): SwapRoot[] {
  const byLength = targets.map((t) => ({ t, local: path.resolve(resolve(t.dest)) })).sort((a, b) => a.local.length - b.local.length);
  const roots: Array<SwapRoot & { byRel: Map<string, StageFile> }> = [];
  for (const { t, local } of byLength) {
    let root = roots.find((r) => local === r.local || local.startsWith(r.local + path.sep));
    if (!root) {
      root = { dest: t.dest, local, roles: [], files: [], byRel: new Map() };
      roots.push(root);
    }
    root.roles.push(t.role);
    const prefix = path.relative(root.local, local).split(path.sep).filter(Boolean);
    const storedPrefix = `${t.stored}/`;
    const fromPrefix = t.from + path.sep;
    for (const f of files.filter((x) => x.path.startsWith(storedPrefix))) {
      const inTarget = f.path.slice(storedPrefix.length);
      const rel = prefix.length ? `${prefix.join('/')}/${inTarget}` : inTarget;
      // `from` is the target's folder (one string for every file) joined to the file's own path: path.join made each
      // a rope of a dozen pieces, 11 MB of a 30,000-file restore's heap. The manifest's paths were checked when the
      // set was opened (manifestPathProblems: no "..", no empty or absolute parts), so nothing here needs normalising.
      // A nested target's file wins over a same-named one of its parent: it is the folder QSR points at.
      root.byRel.set(rel, { rel, from: fromPrefix + inTarget.split('/').join(path.sep), stored: f.path, bytes: f.bytes, sha256: f.sha256, mtimeMs: f.mtimeMs });
    }
  }
  return roots.map(({ byRel, ...r }) => ({ ...r, files: [...byRel.values()] }));
}

/** A staged file that is a hard link of the live one, with the size and mtime it had when it was hashed. */
interface LinkedFile {
  rel: string;
  size: number;
  mtimeMs: number;
}

/** A live file whose mtime is this recent may still be written within the same timestamp tick: never link it. */
const RECENT_MS = 2000;

/**
 * Put a swap root's files into its staging folder: a live file with the backup's size, mtime and sha256 by a hard
 * link, any other by a copy from the set whose sha256 is compared with the manifest before it gets its final name (so
 * a file there under its final name is known good, and a resumed run skips it). A mismatch of the set's copy fails
 * with the file's name while nothing live has been touched. The links are recorded in `linksFile` for the swap's check.
 */
export async function stageRoot(root: SwapRoot, runId: string, parallel: number, linksFile: string, onBytes?: (n: number) => void, opts: { checksum?: boolean } = {}): Promise<{ files: number; bytes: number; linked: number; noLinks?: string }> {
  const staging = path.join(root.local, stagingName(runId));
  fs.mkdirSync(staging, { recursive: true });
  await removeOtherStaging(root, runId);
  let bytes = 0;
  let failed: unknown;
  let noLinks: string | undefined;
  const linked: LinkedFile[] = [];
  const made = new Set<string>();
  // On the first error no new copy starts, and the ones under way finish before this returns: nothing writes into
  // the staging folder after the step failed.
  await mapLimit(root.files, parallel, async (f) => {
    if (failed) return;
    const dest = insideOrThrow(staging, f.rel, `${f.stored}:`);
    const live = insideOrThrow(root.local, f.rel, `${f.stored}:`);
    const have = fs.statSync(dest, { throwIfNoEntry: false });
    if (have?.isFile() && have.size === f.bytes) {
      // A checked copy from an earlier attempt (a file of its own) stays; a link from one is hashed again: its record
      // was not written.
      if (have.nlink < 2) return;
      fs.rmSync(dest);
    }
    try {
      if (!noLinks) {
        const link = await linkIfSame(f, live, dest, !!opts.checksum);
        if (link && 'noLinks' in link) noLinks = link.noLinks;
        else if (link) {
          linked.push(link);
          return;
        }
      }
      await copyChecked(f, dest, made);
    } catch (e) {
      failed ??= e;
      return;
    }
    bytes += f.bytes;
    onBytes?.(bytes);
  });
  if (failed) {
    // A damaged set will not get better on resume: leave no half-staged copy in the live share.
    if (failed instanceof VerificationError) await fs.promises.rm(staging, { recursive: true, force: true });
    throw failed;
  }
  writeFileAtomic(linksFile, JSON.stringify(linked), 0o600, 'soon');
  return { files: root.files.length, bytes, linked: linked.length, ...(noLinks ? { noLinks } : {}) };
}

/**
 * Hard-link the live file into staging when it holds the backup's bytes: the same size and mtime, and with `checksum`
 * (or when the set recorded no mtime) the backup's sha256. Null when it does not (or is too recently written to be
 * sure); `noLinks` when the link was refused.
 */
async function linkIfSame(f: StageFile, live: string, dest: string, checksum: boolean): Promise<LinkedFile | null | { noLinks: string }> {
  // lstat: a symbolic link is never linked (link() would link the link itself); it is copied like a changed file.
  const before = fs.lstatSync(live, { throwIfNoEntry: false });
  if (!before?.isFile() || before.size !== f.bytes || Date.now() - before.mtimeMs < RECENT_MS) return null;
  // The set's copy got its mtime (whole milliseconds) from the manifest: a different one means the file was touched.
  if (f.mtimeMs !== undefined && Math.abs(before.mtimeMs - f.mtimeMs) >= 1) return null;
  if (checksum || f.mtimeMs === undefined) {
    const got = await hashFile(live);
    if (got.sha256 !== f.sha256 || got.bytes !== f.bytes) return null;
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  try {
    fs.linkSync(live, dest);
  } catch (e) {
    // Gone since it was hashed: copy it. Any other refusal (no hard links on this filesystem or SMB share, a file
    // another process holds, too many links): copying is always right, and stops the tries for this folder.
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? null : { noLinks: errorMessage(e) };
  }
  const after = fs.statSync(dest);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
    // Written while it was hashed: what was hashed is not what is there.
    fs.rmSync(dest);
    return null;
  }
  return { rel: f.rel, size: after.size, mtimeMs: after.mtimeMs };
}

/**
 * With the services stopped, before the swap: every staged link whose file was written since it was hashed (its size
 * or mtime moved) is replaced by a checked copy from the set. Returns those files. Safe to run again: what was
 * swapped in already is no longer in the staging folder, and a copy made by an earlier run is made again at worst.
 */
export async function refreshMovedLinks(root: SwapRoot, runId: string, linksFile: string): Promise<string[]> {
  const staging = path.join(root.local, stagingName(runId));
  if (!fs.existsSync(staging) || !fs.existsSync(linksFile)) return [];
  const byRel = new Map(root.files.map((f) => [f.rel, f]));
  const moved: string[] = [];
  for (const l of readJson<LinkedFile[]>(linksFile)) {
    const dest = insideOrThrow(staging, l.rel, 'staged link');
    const st = fs.statSync(dest, { throwIfNoEntry: false });
    if (!st || (st.size === l.size && st.mtimeMs === l.mtimeMs)) continue;
    await copyChecked(byRel.get(l.rel)!, dest);
    moved.push(l.rel);
  }
  return moved;
}

/**
 * Staging folders of earlier runs that failed or were abandoned: they hold copies of backup files and hard links of
 * live files (removing a link leaves the live name), never live data of their own, so they go (a resume of such a run
 * stages again, its check sees the folder gone). Replaced entries (.qsadmin-old-*) of other runs are data and are
 * never touched.
 */
async function removeOtherStaging(root: SwapRoot, runId: string): Promise<void> {
  const stale = fs.readdirSync(root.local).filter((n) => n.startsWith(stagingName('')) && n !== stagingName(runId));
  await Promise.all(stale.map((n) => fs.promises.rm(path.join(root.local, n), { recursive: true, force: true })));
}

/** True when the run's staging folder of a swap root is there (a resumed run re-stages when it is not). */
export function isStaged(root: SwapRoot, runId: string): boolean {
  return fs.existsSync(path.join(root.local, stagingName(runId)));
}

/** Copy to a temp name, hashing what was read (copyHashed); timed and renamed only when the hash matches. */
async function copyChecked(f: StageFile, dest: string, made?: Set<string>): Promise<void> {
  const dir = path.dirname(dest);
  if (!made?.has(dir)) fs.mkdirSync(dir, { recursive: true }), made?.add(dir);
  // mode 0644: the set's files are read-only, the live share must stay writable for Qlik
  const got = await copyHashed(f.from, { tmp: `${dest}.partial`, mode: 0o644, rename: dest, mtimeMs: f.mtimeMs, expect: { bytes: f.bytes, sha256: f.sha256 } });
  if (got.changed || got.sha256 !== f.sha256 || got.bytes !== f.bytes) {
    throw new VerificationError(
      `${f.stored} in the backup set is damaged: ${got.bytes} bytes with sha256 ${got.sha256}, the manifest says ${f.bytes} bytes with ${f.sha256}; nothing live was changed`,
      'use another backup set (qsadmin backup list), or check it with qsadmin backup verify',
    );
  }
}

/**
 * Swap the staged entries in: for each top-level entry of the staging folder, the live one (if any) is renamed into
 * the old folder, then the staged one into its place. Files that were live but are not in the backup are then linked
 * back into place from the old folder (a restore leaves them, as a copy over the share would), so the old folder stays
 * a complete safety copy. Safe to run again after a crash at any point.
 */
export function swapRoot(root: SwapRoot, runId: string): { entries: number; extra: string[] } {
  const staging = path.join(root.local, stagingName(runId));
  const old = path.join(root.local, oldShareName(runId));
  let entries = 0;
  if (fs.existsSync(staging)) {
    for (const name of fs.readdirSync(staging).sort()) {
      const live = path.join(root.local, name);
      if (fs.lstatSync(live, { throwIfNoEntry: false })) {
        if (fs.lstatSync(path.join(old, name), { throwIfNoEntry: false })) {
          // Our own renames never leave this: live, old and staged copies of one entry at once.
          throw new Error(`${live} exists, and so do its replaced copy in ${old} and its staged copy in ${staging}: move one of the first two away, then resume`);
        }
        fs.mkdirSync(old, { recursive: true });
        fs.renameSync(live, path.join(old, name));
        faultPoint('restore.share.swap:between-renames');
      }
      fs.renameSync(path.join(staging, name), live);
      entries++;
    }
    fs.rmdirSync(staging);
  }
  return { entries, extra: fs.existsSync(old) ? linkExtras(old, root.local) : [] };
}

/** Put every file of `old` that has no counterpart under `live` back in place (hard link, else a copy); returns them. */
function linkExtras(old: string, live: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(old, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const target = joinRel(live, r);
    const there = fs.lstatSync(target, { throwIfNoEntry: false });
    if (e.isDirectory()) {
      if (!there) fs.mkdirSync(target, { recursive: true });
      if (!there || there.isDirectory()) out.push(...linkExtras(old, live, r));
      continue;
    }
    if (there) continue;
    const from = joinRel(old, r);
    try {
      fs.linkSync(from, target);
    } catch {
      // No hard links here (another filesystem, or none at all): copy under a temp name so a crash leaves no half file.
      fs.copyFileSync(from, `${target}.partial`);
      fs.renameSync(`${target}.partial`, target);
    }
    out.push(r);
  }
  return out;
}

/** Files of a swap root that are missing or have another size than the backup's (after the swap). */
export function missingOrResized(root: SwapRoot): string[] {
  const bad: string[] = [];
  for (const f of root.files) {
    const st = fs.statSync(joinRel(root.local, f.rel), { throwIfNoEntry: false });
    if (!st || st.size !== f.bytes) bad.push(joinRel(root.local, f.rel));
  }
  return bad;
}

/** Remove the replaced entries (once the restore is verified) and anything a failed staging left. */
export async function removeOldShare(root: SwapRoot, runId: string): Promise<void> {
  await Promise.all([oldShareName(runId), stagingName(runId)].map((n) => fs.promises.rm(path.join(root.local, n), { recursive: true, force: true })));
}
