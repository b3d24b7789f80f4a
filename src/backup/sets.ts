// The backup sets in a target folder: complete, incomplete, verified, and which one an incremental builds on.
import fs from 'node:fs';
import path from 'node:path';
import { IN_PROGRESS, MANIFEST, readManifest, readVerified, type Manifest, type VerifyRecord } from './manifest.js';

export interface BackupSetInfo {
  id: string;
  dir: string;
  created: string;
  complete: boolean;
  verified: VerifyRecord | null;
  bytes: number;
  writtenBytes: number;
  files: number;
  base: string | null;
  single: boolean;
}

/** A backup id: the UTC time it was started, sortable. */
export function newBackupId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z');
}

/** Every set under a target folder (directories with a manifest or an in-progress marker, and .tar files), newest first. */
export function listSets(target: string): BackupSetInfo[] {
  if (!fs.existsSync(target)) return [];
  const out: BackupSetInfo[] = [];
  for (const e of fs.readdirSync(target, { withFileTypes: true })) {
    const dir = path.join(target, e.name);
    if (e.isDirectory()) {
      const hasManifest = fs.existsSync(path.join(dir, MANIFEST));
      const inProgress = fs.existsSync(path.join(dir, IN_PROGRESS));
      if (!hasManifest && !inProgress) continue;
      const m = hasManifest ? readManifest(dir) : null;
      const started = m?.created ?? readStarted(dir) ?? new Date(fs.statSync(dir).mtimeMs).toISOString();
      out.push({
        id: e.name,
        dir,
        created: started,
        complete: !!m,
        verified: readVerified(dir),
        bytes: m?.totals.bytes ?? 0,
        writtenBytes: m?.totals.writtenBytes ?? 0,
        files: m?.totals.files ?? 0,
        base: m?.base ?? null,
        single: false,
      });
    } else if (e.isFile() && e.name.endsWith('.tar')) {
      const st = fs.statSync(dir);
      const id = e.name.slice(0, -4);
      const sidecar = path.join(target, `${id}.verified.json`);
      out.push({
        id,
        dir,
        created: idToDate(id) ?? new Date(st.mtimeMs).toISOString(),
        complete: true,
        verified: fs.existsSync(sidecar) ? (JSON.parse(fs.readFileSync(sidecar, 'utf8')) as VerifyRecord) : null,
        bytes: st.size,
        writtenBytes: st.size,
        files: 0,
        base: null,
        single: true,
      });
    }
  }
  return out.sort((a, b) => b.created.localeCompare(a.created) || b.id.localeCompare(a.id));
}

/** The newest complete, verified directory set: what the next incremental links unchanged files from. */
export function incrementalBase(target: string, excludeId?: string): { id: string; dir: string; manifest: Manifest } | null {
  if (!fs.existsSync(target)) return null;
  // Set ids are start times, so the newest comes first by name; only the chosen set's (big) manifest is read.
  const ids = fs
    .readdirSync(target, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== excludeId && idToDate(e.name))
    .map((e) => e.name)
    .sort()
    .reverse();
  for (const id of ids) {
    const dir = path.join(target, id);
    if (!readVerified(dir)?.ok) continue;
    const m = readManifest(dir);
    if (m) return { id, dir, manifest: m };
  }
  return null;
}

function readStarted(dir: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, IN_PROGRESS), 'utf8')) as { created?: string }).created ?? null;
  } catch {
    return null;
  }
}

function idToDate(id: string): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z` : null;
}
