// Share capture on Windows: a Volume Shadow Copy of the share's volume when the share is on a local NTFS/ReFS volume
// of the machine qsadmin runs on (a UNC path of its own SMB share counts); otherwise the backup copies the folder
// while the services are down, and the plan says why.
//
// The copy must outlive the downtime: it is exposed through a directory link under %ProgramData%\qsadmin\shadows,
// and a marker beside the link records the shadow copy's id, so that this run's release step, its undo, and the
// next run's reaper can each delete it (a killed run leaves no shadow copy behind for long).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ShareCapture, ShareCapturePlan, ShareView } from '../types.js';
import { SHADOW_CREATE, SHADOW_DELETE, SHARE_LOCATION } from './ps/shadow.js';
import type { PsSession } from './session.js';

const win = path.win32;

interface ShadowMarker {
  source: string;
  runId: string;
  captureId: string;
  baseId: string | null;
  id: string;
  link: string;
  /** The share folder's path inside the volume (D:\QlikShare → QlikShare). */
  inVolume: string;
}

interface Location {
  local: string | null;
  volume?: string;
  fileSystem?: string;
}

export class VssShares implements ShareCapture {
  constructor(
    private readonly session: PsSession,
    /** Null when qsadmin runs on another machine than this node (no shadow copy can be taken from there). */
    private readonly local: boolean,
    private readonly nodeName: string,
    /** %ProgramData% of this machine, in Windows form. */
    private readonly programData: string,
    /** Map a Windows path of this machine to what node:fs opens (HostFiles.resolve). */
    private readonly resolve: (p: string) => string,
  ) {}

  private shadowsDir(): string {
    return win.join(this.programData, 'qsadmin', 'shadows');
  }

  // One link per (run, folder): the folder's hash keeps two share folders of one run apart.
  private linkFor(folder: string, runId: string): string {
    const h = createHash('sha256').update(folder.toLowerCase()).digest('hex').slice(0, 10);
    return win.join(this.shadowsDir(), `${runId}-${h}`);
  }

  private markerFile(link: string): string {
    return this.resolve(`${link}.json`);
  }

  private readMarker(link: string): ShadowMarker | null {
    try {
      return JSON.parse(fs.readFileSync(this.markerFile(link), 'utf8')) as ShadowMarker;
    } catch {
      return null;
    }
  }

  async plan(folder: string): Promise<ShareCapturePlan> {
    if (!this.local) return { mode: 'copy-while-down', reason: `qsadmin runs on another machine than ${this.nodeName}: no shadow copy can be taken from there` };
    const loc = await this.session.run<Location>(SHARE_LOCATION, { Folder: folder });
    if (!loc.local) return { mode: 'copy-while-down', reason: `${folder} is on another file server: no shadow copy can be taken of it from here` };
    if (!/^(NTFS|ReFS)$/i.test(loc.fileSystem ?? '')) return { mode: 'copy-while-down', reason: `volume ${loc.volume} is ${loc.fileSystem || 'of an unknown file system'}, not NTFS or ReFS` };
    return { mode: 'vss', reason: `Volume Shadow Copy of the local ${loc.fileSystem} volume ${loc.volume}` };
  }

  async take(folder: string, o: Parameters<ShareCapture['take']>[1]): Promise<ShareView> {
    await this.release(folder, o.runId); // a torn view of an earlier attempt of this run
    const loc = await this.session.run<Location>(SHARE_LOCATION, { Folder: folder });
    if (!loc.local || !loc.volume) throw new Error(`${folder} is no longer on a local volume of ${this.nodeName}: resume the run to plan its capture again`);
    const link = this.linkFor(folder, o.runId);
    fs.mkdirSync(this.resolve(this.shadowsDir()), { recursive: true });
    const made = await this.session.run<{ id: string; device: string; link: string }>(SHADOW_CREATE, { Volume: loc.volume, LinkPath: link });
    const marker: ShadowMarker = { source: folder, runId: o.runId, captureId: o.captureId, baseId: o.baseId, id: made.id, link, inVolume: loc.local.slice(loc.volume.length) };
    // Written after the copy exists: a kill between the two leaves a copy that only Windows' own limits clean up,
    // so the window is one call wide; the marker's id is what every later clean-up deletes.
    fs.writeFileSync(this.markerFile(link), JSON.stringify(marker));
    return this.view(marker);
  }

  private view(m: ShadowMarker): ShareView {
    return { source: m.source, dir: this.resolve(win.join(m.link, m.inVolume)), captureId: m.captureId, baseId: m.baseId, shadowId: m.id, summary: `shadow copy ${m.id} of ${m.source}, read through ${m.link}` };
  }

  async find(folder: string, runId: string, captureId: string): Promise<ShareView | null> {
    const m = this.readMarker(this.linkFor(folder, runId));
    if (!m || m.captureId !== captureId) return null;
    const v = this.view(m);
    return fs.existsSync(v.dir) ? v : null;
  }

  async release(folder: string, runId: string): Promise<void> {
    await this.drop(this.linkFor(folder, runId));
  }

  private async drop(link: string): Promise<void> {
    const m = this.readMarker(link);
    if (!m) return;
    await this.session.run(SHADOW_DELETE, { Id: m.id, LinkPath: link });
    fs.rmSync(this.markerFile(link), { force: true });
  }

  async reap(folder: string, keepRunId: string): Promise<string[]> {
    const mine = this.linkFor(folder, keepRunId);
    const suffix = win.basename(mine).slice(keepRunId.length); // "-<hash>"
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.resolve(this.shadowsDir()));
    } catch {
      return [];
    }
    const gone: string[] = [];
    for (const n of names) {
      if (!n.endsWith(`${suffix}.json`) || n === `${win.basename(mine)}.json`) continue;
      const link = win.join(this.shadowsDir(), n.slice(0, -'.json'.length));
      const m = this.readMarker(link);
      await this.drop(link);
      gone.push(m ? `shadow copy ${m.id} (${link})` : link);
    }
    return gone;
  }
}
