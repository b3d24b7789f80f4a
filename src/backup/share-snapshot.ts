// A point-in-time view of a share folder taken while services are stopped, so the copy can run after they restart.
// Emulator/Linux: a hard-link tree beside the folder (same filesystem). Hard links freeze a file only while writers
// replace files rather than rewrite them in place (ASSUMPTION for the emulator; Windows uses a Volume Shadow Copy).
// Where linking is impossible (another filesystem, a remote share), the caller copies while services are down.
import fs from 'node:fs';
import path from 'node:path';
import { mkdirOnce } from './hashcopy.js';
import { listTreeYielding, removeTree, type ListedFile } from './tree.js';
import { joinRel } from './safe-path.js';

export type ShareCaptureMode = 'hardlink' | 'copy-while-down' | 'vss';

export interface ShareSnapshot {
  /** The live folder. */
  source: string;
  /** The snapshot folder (same content, hard-linked). */
  dir: string;
  files: number;
  /** Files linked into the snapshot (the others are unchanged since the base set). */
  linked: number;
  bytes: number;
  captureId: string;
  /** The base set the unchanged files are taken from. */
  baseId: string | null;
  /** Every file of the folder at capture time. */
  listing: ListedFile[];
}

const MARKER = '.qsadmin-snapshot.json';

/** Where the snapshot of a folder goes: a sibling folder, so it is on the same filesystem. */
export function snapshotDirFor(folder: string, runId: string): string {
  const abs = path.resolve(folder);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.qsadmin-snapshot-${runId}`);
}

/** Can this folder be snapshotted by hard links? (tries one link on the same filesystem) */
export function canHardlink(folder: string): boolean {
  const probe = path.join(path.dirname(path.resolve(folder)), `.qsadmin-link-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
    fs.linkSync(probe, `${probe}.l`);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
    fs.rmSync(`${probe}.l`, { force: true });
  }
}

/**
 * Make a hard-link snapshot of `folder` (removing an older, possibly torn, one first); written last: the marker, which
 * also holds the listing (size and time of every file at capture). Files that `unchanged` says are the same as in the
 * base set are not linked: the base set already holds them as they are now, and the copy links them from there.
 */
export async function hardlinkSnapshot(folder: string, snapDir: string, captureId: string, opts: { unchanged?: (f: ListedFile) => boolean; baseId?: string | null } = {}): Promise<ShareSnapshot> {
  removeSnapshot(snapDir);
  const listing = await listTreeYielding(folder);
  const made = new Set<string>();
  let linked = 0;
  let bytes = 0;
  for (const [i, f] of listing.entries()) {
    // The work is synchronous system calls: let a service starting beside it be spawned and noticed in between.
    if (i % 256 === 255) await new Promise((resolve) => setImmediate(resolve));
    bytes += f.size;
    if (opts.unchanged?.(f)) continue;
    const dest = joinRel(snapDir, f.rel);
    mkdirOnce(path.dirname(dest), made);
    fs.linkSync(joinRel(folder, f.rel), dest);
    linked++;
  }
  fs.mkdirSync(snapDir, { recursive: true });
  const snap: ShareSnapshot = { source: folder, dir: snapDir, files: listing.length, linked, bytes, captureId, baseId: opts.baseId ?? null, listing };
  fs.writeFileSync(path.join(snapDir, MARKER), JSON.stringify(snap));
  return snap;
}

/** The snapshot in a folder if it is complete and belongs to this capture. */
export function readSnapshot(snapDir: string, captureId: string): ShareSnapshot | null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(snapDir, MARKER), 'utf8')) as ShareSnapshot;
    return s.captureId === captureId ? s : null;
  } catch {
    return null;
  }
}

/** The marker file's name, excluded when copying a snapshot. */
export const SNAPSHOT_MARKER = MARKER;

/** Remove a snapshot folder (the live share is untouched: only the extra links go). */
export function removeSnapshot(snapDir: string): void {
  removeTree(snapDir);
}
