// Where `backup create --to` writes: a folder of format 1 sets (as before), or a format 2 repository (azure://, s3://,
// or a folder that holds qsadmin-repository.json, or any folder with --encrypt).
//
// A repository backup is written first as a format 1 set into a staging folder under the state dir, then uploaded
// (step backup.upload). So the local disk a remote backup needs is one set's size (the staging copy), plus bounded
// upload buffers. Why a staging copy and not a pure stream: the dumps are pg_dump archives written by the client tools
// to files (and checked with pg_restore --list before the set counts), the share capture and its incremental check
// are hard links to the last staged set, and an interrupted upload resumes from files whose sha256 is known. The
// newest staged set stays (the next incremental's base: unchanged share files and table archives are linked from it,
// and their objects are already in the repository, so they are not sent again); older staged sets are removed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Step, StepContext } from '../../runbook/step.js';
import { isRemoteUrl, parseRepoUrl } from './store.js';
import { DEFAULT_PASSPHRASE_ENV, isFolderRepository } from './repository.js';

export interface RepositoryTarget {
  url: string;
  encrypt: boolean;
  passphraseEnv: string;
}

/** Decide the target: a repository (with its staging folder as `to`) or a plain folder. */
export function resolveBackupTarget(to: string, stateDir: string, opts: { encrypt?: boolean; passphraseEnv?: string }): { to: string; repository?: RepositoryTarget } {
  const remote = isRemoteUrl(to);
  const url = parseRepoUrl(to).url;
  if (!remote && !opts.encrypt && !isFolderRepository(url)) return { to: url };
  // Remote repositories are encrypted unless --no-encrypt: the bytes leave the host, and a store's access key alone
  // must not open the site's QSR (users, connection strings). A folder repository is encrypted with --encrypt.
  const encrypt = opts.encrypt ?? remote;
  const staging = path.join(stateDir, 'staging', crypto.createHash('sha256').update(url).digest('hex').slice(0, 16));
  return { to: staging, repository: { url, encrypt, passphraseEnv: opts.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV } };
}

/** Open the repository when the run is planned: a wrong passphrase or unreachable store is exit 2 before the site is touched. */
export async function checkRepository(r: RepositoryTarget, dryRun = false): Promise<{ encrypted: boolean; note: string }> {
  const { Repository, CONFIG } = await import('./repository.js');
  const { openStore } = await import('./store.js');
  // A dry run creates nothing: a repository that is not there yet is only named as one the run would create.
  if (dryRun && !(await (await openStore(parseRepoUrl(r.url))).get(CONFIG).then((x) => (x?.destroy(), !!x)))) {
    return { encrypted: r.encrypt, note: `repository ${r.url} does not exist yet: the run would create it (format 2, ${r.encrypt ? `encrypted, key wrapped by the passphrase in ${r.passphraseEnv}` : 'NOT encrypted'})` };
  }
  const repo = await Repository.open(r.url, { passphraseEnv: r.passphraseEnv, create: dryRun ? undefined : { encrypt: r.encrypt } });
  return { encrypted: repo.encrypted, note: `repository ${repo.url} (format 2, ${repo.encrypted ? `encrypted: AES-256-GCM, key wrapped by the passphrase in ${r.passphraseEnv}` : 'NOT encrypted'}): the set is staged in a local folder, then uploaded; objects the repository has already are not sent` };
}

/** The last step of a repository backup: upload the staged set (manifest last), record it, trim the staging folder. */
export function uploadStep<C extends StepContext & { setDir: string; in: { to: string; backupId: string; parallel: number } }>(r: RepositoryTarget): Step<C> {
  return {
    id: 'backup.upload',
    title: `Upload the set to ${r.url} (objects it lacks only, several at once; the manifest last)`,
    check: async (ctx) => !!ctx.outputs.get('backup.repository'),
    run: async (ctx) => {
      const { Repository } = await import('./repository.js');
      const repo = await Repository.open(r.url, { passphraseEnv: r.passphraseEnv, create: { encrypt: r.encrypt } });
      const stats = await repo.uploadSet(ctx.setDir, { parallel: ctx.in.parallel, onProgress: (m) => ctx.progress(m) });
      await repo.recordVerification(ctx.in.backupId, { ok: true, level: 'quick', at: new Date().toISOString(), problems: [] });
      ctx.log(`uploaded to ${repo.url}: ${stats.objectsSent} objects sent (${stats.bytesSent} bytes), ${stats.objectsPresent} already there`);
      // Keep only this set in the staging folder: the next incremental's base.
      for (const e of fs.readdirSync(ctx.in.to)) if (e !== ctx.in.backupId) fs.rmSync(path.join(ctx.in.to, e), { recursive: true, force: true });
      ctx.outputs.set('backup.repository', { url: repo.url, id: ctx.in.backupId, encrypted: repo.encrypted, ...stats });
    },
  };
}
