// Partial results of a backup run, kept in the set's .parts folder until the manifest is written from them.
import fs from 'node:fs';
import path from 'node:path';
import { readLinesSync, writeFileAtomic } from '../runbook/fsutil.js';
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

/**
 * Record a finished part atomically, as JSON lines: a header (capture, extra, how many entries), then one entry per
 * line. A share's part holds an entry per file (30,000 at xlarge): written and read a line at a time, it never
 * exists as one string of many megabytes beside its objects.
 */
export function writePart(setDir: string, name: string, part: Part): void {
  // A complete set is never written into (manifest.ts): a part of one would be a step run again by mistake.
  if (fs.existsSync(path.join(setDir, MANIFEST))) throw new Error(`refused to record part ${name} in ${setDir}: the set is complete (it has its manifest) and is never changed`);
  fs.mkdirSync(path.join(setDir, PARTS_DIR), { recursive: true, mode: 0o700 });
  const header: Header = { captureId: part.captureId, extra: part.extra, entries: part.files.length };
  // fsync'd soon: a part lost to a power cut is only a step done again (a torn one reads as missing).
  writeFileAtomic(partFile(setDir, name), partLines(header, part.files), 0o600, 'soon');
}

interface Header {
  captureId?: string;
  extra?: Record<string, unknown>;
  entries: number;
}

function* partLines(header: Header, files: ManifestFile[]): Generator<string> {
  yield `${JSON.stringify(header)}\n`;
  for (let i = 0; i < files.length; i += 500) yield files.slice(i, i + 500).map((f) => `${JSON.stringify(f)}\n`).join('');
}

/** A finished part, or null; with captureId, only a part written from that capture counts. */
export function readPart(setDir: string, name: string, captureId?: string): Part | null {
  return readPartFile(partFile(setDir, name), captureId);
}

/** True when a finished part is there (from that capture), whole: its entries are counted, not read. */
export function hasPart(setDir: string, name: string, captureId?: string): boolean {
  return readPartFile(partFile(setDir, name), captureId, true) !== null;
}

function readPartFile(file: string, captureId?: string, headerOnly = false): Part | null {
  try {
    const lines = readLinesSync(file);
    const header = JSON.parse(lines.next().value ?? '') as Header;
    // Not the header of this format (one of an older qsadmin: the whole part on one line): the step is done again.
    if (!Number.isInteger(header.entries) || (captureId !== undefined && header.captureId !== captureId)) return null;
    const part: Part = { ...(header.captureId !== undefined ? { captureId: header.captureId } : {}), ...(header.extra ? { extra: header.extra } : {}), files: [] };
    if (headerOnly) {
      // A part is renamed into place whole, but fsync'd only soon: after a power cut its entries may be cut short.
      // Counted, and the last one parsed, without building the others.
      let count = 0;
      let last = '';
      for (const line of lines) if (line) (count++, (last = line));
      if (count) JSON.parse(last);
      return count === header.entries ? part : null;
    }
    for (const line of lines) if (line) part.files.push(JSON.parse(line) as ManifestFile);
    if (part.files.length !== header.entries) return null;
    return part;
  } catch {
    return null;
  }
}

/** Every part, for the manifest (a part that does not read whole is an error here: its step said it was done). */
export function readAllParts(setDir: string): Record<string, Part> {
  const dir = path.join(setDir, PARTS_DIR);
  const out: Record<string, Part> = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const p = readPartFile(path.join(dir, f));
    if (!p) throw new Error(`${path.join(dir, f)} is not a complete part: resume the run to make it again`);
    out[f.slice(0, -5)] = p;
  }
  return out;
}

/** Remove the partial results once the manifest holds them. */
export function removeParts(setDir: string): void {
  fs.rmSync(path.join(setDir, PARTS_DIR), { recursive: true, force: true });
}
