// What the backup commands share for repositories: is --to (or a set reference) a repository, and open it.
import path from 'node:path';
import { isRemoteUrl } from './store.js';
import { isFolderRepository, splitSetRef, type Repository } from './repository.js';

/** True when a --to value names a format 2 repository (azure://, s3://, or a folder holding one). */
export function isRepositoryRef(to: string | undefined): to is string {
  return !!to && (isRemoteUrl(to) || isFolderRepository(path.resolve(to)));
}

export async function openRepository(to: string, passphraseEnv?: string): Promise<Repository> {
  const { Repository } = await import('./repository.js');
  return Repository.open(to, { passphraseEnv });
}

/** A set in a repository: `<url>#<id>`, or an id with --to naming a repository; null for folder sets. */
export function repositorySetRef(ref: string, to: string | undefined): { url: string; id: string } | null {
  const s = splitSetRef(ref);
  if (s && isRepositoryRef(s.url)) return s;
  if (isRepositoryRef(to) && !ref.includes('/') && !ref.includes('\\')) return { url: to, id: ref };
  return null;
}
