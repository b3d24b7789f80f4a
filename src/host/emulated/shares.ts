// Share capture on the emulator: a hard-link tree beside the share folder (backup/share-snapshot.ts), where the
// folder's filesystem allows links; otherwise the backup copies the folder while the services are down.
import fs from 'node:fs';
import path from 'node:path';
import { canHardlink, hardlinkSnapshot, readSnapshot, removeSnapshot, snapshotDirFor, type ShareSnapshot } from '../../backup/share-snapshot.js';
import type { ShareCapture, ShareCapturePlan, ShareView } from '../types.js';

function view(s: ShareSnapshot): ShareView {
  return {
    source: s.source,
    dir: s.dir,
    captureId: s.captureId,
    baseId: s.baseId,
    listing: s.listing,
    summary: `${s.files} files, ${s.bytes} bytes; ${s.linked} linked into ${s.dir}${s.baseId ? `, the others unchanged since set ${s.baseId}` : ''}`,
  };
}

export class HardlinkShares implements ShareCapture {
  async plan(folder: string): Promise<ShareCapturePlan> {
    if (!fs.existsSync(folder)) return { mode: 'copy-while-down', reason: `${folder} is not reachable as a local folder here` };
    if (!canHardlink(folder)) return { mode: 'copy-while-down', reason: `no hard links can be made beside ${folder} (another filesystem or a remote share)` };
    return { mode: 'hardlink', reason: `hard links on the folder's own filesystem` };
  }

  async take(folder: string, o: Parameters<ShareCapture['take']>[1]): Promise<ShareView> {
    return view(await hardlinkSnapshot(folder, snapshotDirFor(folder, o.runId), o.captureId, { unchanged: o.unchanged, baseId: o.baseId }));
  }

  async find(folder: string, runId: string, captureId: string): Promise<ShareView | null> {
    const s = readSnapshot(snapshotDirFor(folder, runId), captureId);
    return s ? view(s) : null;
  }

  async release(folder: string, runId: string): Promise<void> {
    removeSnapshot(snapshotDirFor(folder, runId));
  }

  async reap(folder: string, keepRunId: string): Promise<string[]> {
    const mine = snapshotDirFor(folder, keepRunId);
    const prefix = path.basename(mine).slice(0, -keepRunId.length);
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.dirname(mine));
    } catch {
      return [];
    }
    const gone: string[] = [];
    for (const n of names) {
      if (!n.startsWith(prefix) || n === path.basename(mine)) continue;
      const dir = path.join(path.dirname(mine), n);
      removeSnapshot(dir);
      gone.push(dir);
    }
    return gone;
  }
}
