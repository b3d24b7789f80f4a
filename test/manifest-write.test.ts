// writeManifest writes the file list in chunks (src/backup/manifest.ts): what it writes must read back as the same
// manifest whatever the count of entries and whatever the other fields hold.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readManifest, writeManifest, type Manifest } from '../src/backup/manifest.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(() => cleanupTempDirs());

it('reads back exactly, at chunk boundaries and with look-alike text in other fields', () => {
  for (const n of [0, 1, 499, 500, 501, 1203]) {
    const dir = tempDir();
    const m = {
      format: 1,
      id: `set-${n}`,
      site: { name: '"files": [] and files-0123456789abcdef' },
      databases: [{ name: 'QSR', files: [] }],
      files: Array.from({ length: n }, (_, i) => ({ path: `files/share/Apps/${i}`, bytes: i, sha256: 'a"b\\c\u2028', kind: 'share' })),
      totals: { files: n },
    } as unknown as Manifest;
    writeManifest(dir, m);
    expect(readManifest(dir)).toEqual(m);
    expect(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8').split('\n').length).toBeGreaterThanOrEqual(n);
  }
});
