// A point-in-time view of a share folder taken while services are stopped, so the copy can run after they restart.
// Emulator/Linux: a hard-link tree beside the folder (same filesystem). Hard links freeze a file only while writers
// replace files rather than rewrite them in place (ASSUMPTION for the emulator; Windows uses a Volume Shadow Copy).
// Where linking is impossible (another filesystem, a remote share), the caller copies while services are down.
import fs from 'node:fs';
import path from 'node:path';
import { listTree } from './tree.js';

export type ShareCaptureMode = 'hardlink' | 'copy-while-down' | 'vss';

export interface ShareSnapshot {
  /** The live folder. */
  source: string;
  /** The snapshot folder (same content, hard-linked). */
  dir: string;
  files: number;
  bytes: number;
  captureId: string;
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

/** Make a hard-link snapshot of `folder` (removing an older, possibly torn, one first); written last: the marker. */
export function hardlinkSnapshot(folder: string, snapDir: string, captureId: string): ShareSnapshot {
  fs.rmSync(snapDir, { recursive: true, force: true });
  let files = 0;
  let bytes = 0;
  for (const f of listTree(folder)) {
    const dest = path.join(snapDir, ...f.rel.split('/'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.linkSync(path.join(folder, ...f.rel.split('/')), dest);
    files++;
    bytes += f.size;
  }
  fs.mkdirSync(snapDir, { recursive: true });
  const snap: ShareSnapshot = { source: folder, dir: snapDir, files, bytes, captureId };
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
  fs.rmSync(snapDir, { recursive: true, force: true });
}
