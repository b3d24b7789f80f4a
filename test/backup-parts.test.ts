// A backup run's parts (src/backup/parts.ts) as JSON lines: what a resumed run counts as done, on real files.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasPart, readAllParts, readPart, writePart } from '../src/backup/parts.js';
import type { ManifestFile } from '../src/backup/manifest.js';
import { readLinesSync } from '../src/runbook/fsutil.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(() => cleanupTempDirs());

const entries = (n: number): ManifestFile[] =>
  Array.from({ length: n }, (_, i) => ({ path: `files/share/Apps/app-${i}.qvf`, bytes: i, sha256: 'ab'.repeat(32), kind: 'share', source: `C:\\Share\\Apps\\app-${i}.qvf`, mtimeMs: 1e12 + i }));

describe('backup parts', () => {
  it('round-trips a part of 1,201 entries (more than one write chunk), header and extra included', () => {
    const dir = tempDir();
    const files = entries(1201);
    files[700].source = 'C:\\Share\\Apps\\Bilanz – Übersicht ✓.qvf';
    writePart(dir, 'share.0', { captureId: 'c1', files, extra: { rowCounts: { 'public.Apps': 3 } } });
    expect(readPart(dir, 'share.0', 'c1')).toEqual({ captureId: 'c1', files, extra: { rowCounts: { 'public.Apps': 3 } } });
    expect(hasPart(dir, 'share.0', 'c1')).toBe(true);
    // another capture's part is not this one's
    expect(readPart(dir, 'share.0', 'c2')).toBeNull();
    expect(hasPart(dir, 'share.0', 'c2')).toBe(false);
    writePart(dir, 'config.central', { files: [] });
    expect(Object.keys(readAllParts(dir)).sort()).toEqual(['config.central', 'share.0']);
  });

  it('reads a line whose multi-byte character straddles the reader\'s 1 MiB chunks', () => {
    const file = path.join(tempDir(), 'lines.txt');
    const long = `${'a'.repeat((1 << 20) - 1)}✓`; // the check mark's 3 bytes start at the chunk's last byte
    fs.writeFileSync(file, `${long}\nnext\nlast without newline`);
    expect([...readLinesSync(file)]).toEqual([long, 'next', 'last without newline']);
  });

  it('a part cut short (a power cut before its fsync) or in an older one-line form counts as not done', () => {
    const dir = tempDir();
    writePart(dir, 'share.0', { captureId: 'c1', files: entries(50) });
    const file = path.join(dir, '.parts', 'share.0.json');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, lines.slice(0, 30).join('\n') + '\n');
    expect(hasPart(dir, 'share.0', 'c1')).toBe(false);
    expect(readPart(dir, 'share.0', 'c1')).toBeNull();
    expect(() => readAllParts(dir)).toThrow(/share\.0\.json is not a complete part: resume the run/);
    // cut inside an entry
    fs.writeFileSync(file, lines.slice(0, 30).join('\n') + '\n' + lines[30].slice(0, 20));
    expect(hasPart(dir, 'share.0', 'c1')).toBe(false);
    fs.writeFileSync(file, JSON.stringify({ captureId: 'c1', files: entries(3) }));
    expect(hasPart(dir, 'share.0', 'c1')).toBe(false);
    expect(readPart(dir, 'share.0')).toBeNull();
  });
});
