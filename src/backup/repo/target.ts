// Where `backup create --to` writes: a folder of format 1 sets (as before), or a format 2 repository (azure://, s3://,
// or a folder that holds qsadmin-repository.json, or any folder with --encrypt), or with --to <name> / --to-all the
// repositories the site config lists (each one's upload a step of its own).
//
// A repository backup is written first as a format 1 set into a staging folder under the state dir, then uploaded
// (step backup.upload, or backup.upload.<name> per configured repository: the set is staged once for all). So the
// local disk a remote backup needs is one set's size (the staging copy), plus bounded upload buffers. Why a staging copy and not a pure stream: the dumps are pg_dump archives written by the client tools
// to files (and checked with pg_restore --list before the set counts), the share capture and its incremental check
// are hard links to the last staged set, and an interrupted upload resumes from files whose sha256 is known. The
// newest staged set stays (the next incremental's base: unchanged share files and table archives are linked from it,
// and their objects are already in the repository, so they are not sent again); older staged sets are removed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../runbook/errors.js';
import type { RunbookItem, Step, StepContext } from '../../runbook/step.js';
import type { RepositoryConfig } from '../../site/model.js';
import { FolderPartJournal, isRemoteUrl, parseRepoUrl } from './store.js';
import { DEFAULT_PASSPHRASE_ENV, isFolderRepository } from './repository.js';

export interface RepositoryTarget {
  /** The repository's name in the site config ("repositories"); none for a URL given with --to. */
  name?: string;
  /** The URL, with the S3 options of a configured repository in its query (endpoint, region, path-style). */
  url: string;
  encrypt: boolean;
  passphraseEnv: string;
}

/** The key of a target in outputs["backup.uploads"] and in its step id: its name, or its URL. */
export const targetLabel = (r: RepositoryTarget) => r.name ?? r.url;

/** A configured repository as a target: remote ones encrypted unless "encrypt": false, folders only with "encrypt": true. */
export function configuredTarget(r: RepositoryConfig, passphraseEnv = DEFAULT_PASSPHRASE_ENV): RepositoryTarget {
  const remote = isRemoteUrl(r.url);
  let url = remote ? r.url : parseRepoUrl(r.url).url;
  if (remote && (r.endpoint || r.region || r.pathStyle !== undefined)) {
    const q = new URLSearchParams();
    if (r.endpoint) q.set('endpoint', r.endpoint);
    if (r.region) q.set('region', r.region);
    if (r.pathStyle !== undefined) q.set('path-style', String(r.pathStyle));
    url = `${r.url}${r.url.includes('?') ? '&' : '?'}${q}`;
  }
  return { name: r.name, url, encrypt: r.encrypt ?? remote, passphraseEnv: r.passphraseEnv ?? passphraseEnv };
}

/** The staging folder of a backup to these repositories: one per set of URLs, so each keeps its incremental base. */
export function stagingDir(stateDir: string, targets: RepositoryTarget[]): string {
  const key = targets.map((t) => parseRepoUrl(t.url).url).sort().join('\n');
  return path.join(stateDir, 'staging', crypto.createHash('sha256').update(key).digest('hex').slice(0, 16));
}

/** Decide the target: a repository (with its staging folder as `to`) or a plain folder. */
export function resolveBackupTarget(to: string, stateDir: string, opts: { encrypt?: boolean; passphraseEnv?: string }): { to: string; repository?: RepositoryTarget } {
  const remote = isRemoteUrl(to);
  const url = parseRepoUrl(to).url;
  if (!remote && !opts.encrypt && !isFolderRepository(url)) return { to: url };
  // Remote repositories are encrypted unless --no-encrypt: the bytes leave the host, and a store's access key alone
  // must not open the site's QSR (users, connection strings). A folder repository is encrypted with --encrypt.
  const encrypt = opts.encrypt ?? remote;
  const repository = { url: remote ? to : url, encrypt, passphraseEnv: opts.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV };
  return { to: stagingDir(stateDir, [repository]), repository };
}

/**
 * What `backup create` writes to: --to-all (every repository of the site config), --to <name> (one of them; a name
 * wins over a folder of that name), else --to as a folder or URL. The set is staged once for all of them.
 */
export function resolveBackupTargets(
  site: { repositories?: RepositoryConfig[] },
  opts: { to: string; toAll?: boolean; encrypt?: boolean; passphraseEnv?: string; stateDir: string },
): { to: string; repositories?: RepositoryTarget[] } {
  const configured = site.repositories ?? [];
  const byName = configured.find((r) => r.name === opts.to);
  if (!opts.toAll && !byName) {
    const one = resolveBackupTarget(opts.to, opts.stateDir, opts);
    return { to: one.to, repositories: one.repository ? [one.repository] : undefined };
  }
  if (opts.toAll && !configured.length) throw new InputError('--to-all: the site config lists no repositories', 'add a "repositories" list to the site config (README, "Repositories and encryption"), or name one target with --to');
  // Each configured repository says whether it is encrypted: one flag for all of them would override that silently.
  if (opts.encrypt !== undefined) throw new InputError(`--${opts.encrypt ? '' : 'no-'}encrypt does not apply to ${opts.toAll ? '--to-all' : `the configured repository ${opts.to}`}`, 'set "encrypt" on the repository in the site config');
  const targets = (opts.toAll ? configured : [byName!]).map((r) => configuredTarget(r, opts.passphraseEnv));
  return { to: stagingDir(opts.stateDir, targets), repositories: targets };
}

/**
 * Open the repository when the run is planned: a wrong passphrase or unreachable store is exit 2 before the site is
 * touched. With `tolerateUnreachable` (one of several repositories), a store that cannot be reached is only a note:
 * the others still get the set, and that upload fails (exit 1, resumable) unless the store is back by then.
 */
export async function checkRepository(r: RepositoryTarget, dryRun = false, tolerateUnreachable = false): Promise<{ encrypted: boolean; note: string }> {
  const { Repository, CONFIG, UnreachableError } = await import('./repository.js');
  const { openStore } = await import('./store.js');
  const label = r.name ? `repository ${r.name} (${parseRepoUrl(r.url).url})` : `repository ${parseRepoUrl(r.url).url}`;
  try {
    // A dry run creates nothing: a repository that is not there yet is only named as one the run would create.
    if (dryRun && !(await (await openStore(parseRepoUrl(r.url))).get(CONFIG).then((x) => (x?.destroy(), !!x)))) {
      return { encrypted: r.encrypt, note: `${label} does not exist yet: the run would create it (format 2, ${r.encrypt ? `encrypted, key wrapped by the passphrase in ${r.passphraseEnv}` : 'NOT encrypted'})` };
    }
    const repo = await Repository.open(r.url, { passphraseEnv: r.passphraseEnv, create: dryRun ? undefined : { encrypt: r.encrypt } });
    return { encrypted: repo.encrypted, note: `${label} (format 2, ${repo.encrypted ? `encrypted: AES-256-GCM, key wrapped by the passphrase in ${r.passphraseEnv}` : 'NOT encrypted'}): the set is staged in a local folder, then uploaded; objects the repository has already are not sent` };
  } catch (e) {
    const unreachable = e instanceof UnreachableError || (dryRun && !(e instanceof InputError));
    if (!tolerateUnreachable || !unreachable) throw e;
    return { encrypted: r.encrypt, note: `${label} cannot be reached now (${(e as Error).message}): the other repositories still get the set; its upload fails unless the store is back by then, and \`qsadmin runs resume\` then sends the set to it alone` };
  }
}

type UploadContext = StepContext & { setDir: string; in: { to: string; backupId: string; parallel: number } };

/** One upload: the staged set to one repository (objects it lacks only; the manifest last), recorded in outputs. */
function uploadStep<C extends UploadContext>(r: RepositoryTarget, id: string, alone: boolean): Step<C> {
  const label = targetLabel(r);
  return {
    id,
    title: `Upload the set to ${r.name ? `${r.name} (${parseRepoUrl(r.url).url})` : parseRepoUrl(r.url).url} (objects it lacks only, several at once; the manifest last)`,
    check: async (ctx) => !!ctx.outputs.get<Record<string, unknown>>(UPLOADS)?.[label],
    run: async (ctx) => {
      const { Repository } = await import('./repository.js');
      let repo;
      try {
        repo = await Repository.open(r.url, { passphraseEnv: r.passphraseEnv, create: { encrypt: r.encrypt } });
      } catch (e) {
        // Planned fine (or tolerated), failing now: a step failure (exit 1, resumable), not bad input: other
        // repositories may have the set already.
        if (!(e instanceof InputError)) throw e;
        throw new Error(`${e.message}${e.hint ? ` (${e.hint})` : ''}`);
      }
      const journal = new FolderPartJournal(path.join(ctx.in.to, UPLOAD_JOURNALS, crypto.createHash('sha256').update(repo.url).digest('hex').slice(0, 16)));
      const stats = await repo.uploadSet(ctx.setDir, { parallel: ctx.in.parallel, onProgress: (m) => ctx.progress(m), log: (m) => ctx.log(m), journal });
      await repo.recordVerification(ctx.in.backupId, { ok: true, level: 'quick', at: new Date().toISOString(), problems: [] });
      ctx.log(`uploaded to ${repo.url}: ${stats.objectsSent} objects sent (${stats.bytesSent} bytes), ${stats.objectsPresent} already there`);
      const result = { name: r.name, url: repo.url, id: ctx.in.backupId, encrypted: repo.encrypted, ...stats };
      ctx.outputs.set(UPLOADS, { ...ctx.outputs.get<Record<string, unknown>>(UPLOADS), [label]: result });
      if (alone) ctx.outputs.set('backup.repository', result);
    },
  };
}

const UPLOADS = 'backup.uploads';
/** Under the staging folder: the part journals of unfinished uploads, one folder per repository. */
const UPLOAD_JOURNALS = '.uploads';

/**
 * The last steps of a repository backup: the upload to each repository (several at once, each its own step, so one
 * that fails leaves the others uploaded and a resume sends the set only where it is missing), then the staging trim.
 */
export function uploadItems<C extends UploadContext>(targets: RepositoryTarget[]): RunbookItem<C>[] {
  const trim: Step<C> = {
    id: 'backup.staging.trim',
    title: 'Keep only this set in the staging folder (the next incremental set\'s base)',
    check: async (ctx) => fs.readdirSync(ctx.in.to).every((e) => e === ctx.in.backupId),
    run: async (ctx) => {
      for (const e of fs.readdirSync(ctx.in.to)) if (e !== ctx.in.backupId) fs.rmSync(path.join(ctx.in.to, e), { recursive: true, force: true });
    },
  };
  if (targets.length === 1 && !targets[0].name) return [uploadStep<C>(targets[0], 'backup.upload', true), trim];
  const steps = targets.map((t) => uploadStep<C>(t, `backup.upload.${t.name}`, targets.length === 1));
  return [{ group: 'backup.uploads', title: `Upload the set to ${targets.length} repositories at once`, parallel: true, steps }, trim];
}
