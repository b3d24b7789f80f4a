// A run killed while it writes a certificate set leaves writePrivate's temporary files (<file>.<pid>.<hex>.tmp); the
// crash matrix found them in backup sets and exports after `runs resume` (backup verify: "in the set but not in the
// manifest"). The export run again over such a folder removes them, and a failed write leaves none.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportCertificateSet, verifyExportedSet } from '../../src/certs/export.js';
import { writePrivate, writePrivateSync } from '../../src/host/private-files.js';
import { generateQlikCertSet } from '../../src/certs/generate.js';
import { installQlikCertSet, writeLocalCertificatePems } from '../../src/certs/install.js';
import { EmulatedCertStore } from '../../src/host/emulated/certstore.js';
import { EmulatedFiles } from '../../src/host/emulated/files.js';
import { defaultSitePaths, windowsToEmulated } from '../../src/host/paths.js';
import type { Host } from '../../src/host/types.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

afterAll(cleanupTempDirs);

const ACCOUNT = 'CORP\\qliksvc';
const PASSWORD = 'stale-temps-password';

describe('temporary files of a killed certificate export', () => {
  it('are removed when the export runs again over the folder', async () => {
    const set = generateQlikCertSet('qs-temps.test');
    const root = tempDir();
    const unused = () => {
      throw new Error('not used by certificate export');
    };
    const host: Host = { name: set.hostname, certs: new EmulatedCertStore(root, ACCOUNT), files: new EmulatedFiles(root), paths: defaultSitePaths(), services: {} as Host['services'], exec: unused, close: async () => undefined };
    await installQlikCertSet(host.certs as EmulatedCertStore, set, ACCOUNT);
    await writeLocalCertificatePems(windowsToEmulated(root, host.paths.localCertificates), set);
    const dir = path.join(tempDir(), 'central');
    fs.mkdirSync(path.join(dir, 'pem'), { recursive: true });
    // what a kill in the middle of the previous attempt left behind
    fs.writeFileSync(path.join(dir, 'root-currentuser.pfx.30570.cb437f01.tmp'), 'torn');
    fs.writeFileSync(path.join(dir, 'pem', 'client_key.pem.30570.0a1b2c3d.tmp'), 'torn');
    fs.writeFileSync(path.join(dir, 'notes.tmp'), 'not ours: kept');
    await exportCertificateSet(host, ACCOUNT, PASSWORD, dir);
    const all = [...fs.readdirSync(dir), ...fs.readdirSync(path.join(dir, 'pem')).map((n) => `pem/${n}`)];
    expect(all.filter((n) => /\.\d+\.[0-9a-f]{8}\.tmp$/.test(n))).toEqual([]);
    expect(all).toContain('notes.tmp');
    expect(await verifyExportedSet(dir)).toEqual([]);
  });

  it('is not left behind by a write that fails', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    await expect(writePrivate(path.join(dir, 'file', 'x.pfx'), 'data')).rejects.toThrow(/is a file, not a folder/); // no folder can be made
    const full = path.join(dir, 'full.pfx');
    fs.mkdirSync(full); // rename onto a folder fails after the temporary file was written
    await expect(writePrivate(full, 'data')).rejects.toThrow();
    expect(() => writePrivateSync(full, 'data')).toThrow();
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
