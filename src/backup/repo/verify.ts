// `backup verify` on a repository set: every object fetched, decrypted and hashed against the manifest (no local
// copy); with --deep the set is written to a scratch folder first (pg_restore reads files) and verified as a folder.
import fs from 'node:fs';
import path from 'node:path';
import { ownedTempPrefix, reapStaleTemp } from '../reap.js';
import type { VerifyResult } from '../verify.js';

export async function verifyInRepository(url: string, id: string, opts: { deep?: boolean; parallel?: number; passphraseEnv?: string; onProgress?: (m: string) => void }): Promise<VerifyResult & { backup: string }> {
  const { Repository } = await import('./repository.js');
  const repo = await Repository.open(url, { passphraseEnv: opts.passphraseEnv });
  const backup = `${repo.url}#${id}`;
  let r: VerifyResult;
  if (!opts.deep) {
    const v = await repo.verifyObjects(id, { parallel: opts.parallel, onProgress: opts.onProgress });
    r = { ok: v.problems.length === 0, level: 'full', problems: v.problems, checkedFiles: v.checkedFiles, checkedBytes: v.checkedBytes, dumps: [] };
  } else {
    await reapStaleTemp();
    const scratch = fs.mkdtempSync(ownedTempPrefix('qsadmin-verify-'));
    try {
      opts.onProgress?.(`--deep: fetching ${backup} into ${scratch} (pg_restore reads files)`);
      const { VerificationError } = await import('../../runbook/errors.js');
      try {
        await repo.materialize(id, path.join(scratch, id), { parallel: opts.parallel, onProgress: opts.onProgress });
      } catch (e) {
        if (!(e instanceof VerificationError)) throw e;
        r = { ok: false, level: 'deep', problems: [e.message], checkedFiles: 0, checkedBytes: 0, dumps: [] };
        await repo.recordVerification(id, { ok: false, level: 'deep', at: new Date().toISOString(), problems: r.problems });
        return { ...r, backup };
      }
      const { findPgBinDir } = await import('../../postgres/bin.js');
      const { verifySet } = await import('../verify.js');
      r = await verifySet(path.join(scratch, id), { tool: { binDir: (await findPgBinDir({})).dir }, deep: true, parallel: opts.parallel, onProgress: opts.onProgress });
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  await repo.recordVerification(id, { ok: r.ok, level: r.level, at: new Date().toISOString(), problems: r.problems });
  return { ...r, backup };
}
