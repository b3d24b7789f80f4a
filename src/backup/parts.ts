// Partial results of a backup run, kept in the set's .parts folder until the manifest is written from them.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../runbook/fsutil.js';
import { MANIFEST, type ManifestFile } from './manifest.js';

export interface Part {
  /** The capture (database snapshot + share snapshot) this part was written from, when it depends on one. */
  captureId?: string;
  files: ManifestFile[];
  /** Anything else the manifest needs from the step (row counts, warnings). */
  extra?: Record<string, unknown>;
}

export const PARTS_DIR = '.parts';

function partFile(setDir: string, name: string): string {
  return path.join(setDir, PARTS_DIR, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

/** Record a finished part atomically. */
export function writePart(setDir: string, name: string, part: Part): void {
  // A complete set is never written into (manifest.ts): a part of one would be a step run again by mistake.
  if (fs.existsSync(path.join(setDir, MANIFEST))) throw new Error(`refused to record part ${name} in ${setDir}: the set is complete (it has its manifest) and is never changed`);
  fs.mkdirSync(path.join(setDir, PARTS_DIR), { recursive: true, mode: 0o700 });
  // fsync'd soon: a part lost to a power cut is only a step done again (a torn one reads as missing).
  writeFileAtomic(partFile(setDir, name), JSON.stringify(part), 0o600, 'soon');
}

/** A finished part, or null; with captureId, only a part written from that capture counts. */
export function readPart(setDir: string, name: string, captureId?: string): Part | null {
  try {
    const p = JSON.parse(fs.readFileSync(partFile(setDir, name), 'utf8')) as Part;
    if (captureId !== undefined && p.captureId !== captureId) return null;
    return p;
  } catch {
    return null;
  }
}

/** Every part, for the manifest. */
export function readAllParts(setDir: string): Record<string, Part> {
  const dir = path.join(setDir, PARTS_DIR);
  const out: Record<string, Part> = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    out[f.slice(0, -5)] = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Part;
  }
  return out;
}

/** Remove the partial results once the manifest holds them. */
export function removeParts(setDir: string): void {
  fs.rmSync(path.join(setDir, PARTS_DIR), { recursive: true, force: true });
}
