// `backup verify` on a folder or a .tar: unpack a .tar to a scratch folder first, then verify and record the result.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import { findPgBinDir } from '../postgres/bin.js';
import { writeVerified } from './manifest.js';
import { ownedTempPrefix, reapStaleTemp } from './reap.js';
import { unpackSetTar } from './set-tar.js';
import { verifySet, type VerifyResult } from './verify.js';
import { writePrivateSync } from '../host/private-files.js';

/** Verify a set given by path and write verified.json (or <id>.verified.json beside a .tar). */
export async function verifyBackupPath(p: string, opts: { deep?: boolean; parallel?: number; onProgress?: (m: string) => void }): Promise<VerifyResult & { backup: string }> {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw new InputError(`no backup at ${abs}`, 'give a backup set folder or .tar, or an id that `qsadmin backup list` shows');
  await reapStaleTemp();
  const client = await findPgBinDir({});
  const tool = { binDir: client.dir };
  let dir = abs;
  let scratch: string | undefined;
  try {
    if (fs.statSync(abs).isFile()) {
      if (!abs.endsWith('.tar')) throw new InputError(`${abs} is neither a backup set folder nor a .tar`, 'give a backup set folder or the .tar of a --single-file set');
      scratch = fs.mkdtempSync(ownedTempPrefix('qsadmin-verify-'));
      await unpackSetTar(abs, scratch);
      dir = scratch;
    }
    const r = await verifySet(dir, { tool, deep: opts.deep, parallel: opts.parallel, onProgress: opts.onProgress });
    const record = { ok: r.ok, level: r.level, at: new Date().toISOString(), problems: r.problems };
    if (scratch) writePrivateSync(abs.replace(/\.tar$/, '.verified.json'), JSON.stringify(record, null, 2) + '\n');
    else if (fs.existsSync(path.join(dir, 'manifest.json'))) writeVerified(dir, record);
    return { ...r, backup: abs };
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
}
