// Repositories in the site config: validated like the rest of the file (exit 2 naming the key, never a credential), and
// turned into backup targets: --to <name>, --to-all, one staging folder for the set, the S3 settings in the URL.
// No servers: nothing here connects.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateSite } from '../src/site/config.js';
import { writeSiteConfig } from '../src/site/writer.js';
import type { SiteConfig } from '../src/site/model.js';
import { InputError } from '../src/runbook/errors.js';
import { parseRepoUrl } from '../src/backup/repo/store.js';
import { configuredTarget, resolveBackupTargets, stagingDir } from '../src/backup/repo/target.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

function site(repositories: unknown): SiteConfig {
  return {
    name: 'repos',
    driver: 'emulated',
    nodes: [{ name: 'central', hostname: 'qs-repos.test', role: 'central', address: '127.0.0.27', root: '/srv/qs/central', portOffset: 41500 }],
    database: { host: '127.0.0.27', port: 45932, service: 'QlikSenseRepositoryDatabase', node: 'central', superuser: 'postgres' },
    serviceAccount: 'qservice',
    shareRoot: '/srv/qs/share',
    repositories,
  } as SiteConfig;
}

const good = [
  { name: 'local', url: '/var/backups/qlik-repo', encrypt: true },
  { name: 'azure-weu', url: 'azure://qlikbackups/sets/site-a' },
  { name: 'minio', url: 's3://qlik/site-a', endpoint: 'https://minio.example.com:9000', region: 'eu-central-1', pathStyle: true, passphraseEnv: 'MINIO_REPO_PASSPHRASE' },
];

describe('repositories in the site config', () => {
  it('takes folders, azure:// and s3:// with their settings; the writer writes them', () => {
    expect(() => validateSite(site(good), 'site.json')).not.toThrow();
    const file = writeSiteConfig(path.join(tempDir(), 'site.json'), site(good));
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).repositories).toEqual(good);
  });

  // [what is wrong, the repositories, the key the message names, and what else it says]
  const CASES: Array<[string, unknown, string, RegExp]> = [
    ['not a list', { name: 'x' }, '"repositories"', /must be a list/],
    ['a name twice', [good[0], { ...good[1], name: 'LOCAL' }], 'repositories[1].name', /used twice/],
    ['a name that is not a step id', [{ name: 'off site', url: 's3://b/p' }], 'repositories[0].name', /letters, digits/],
    ['a storage key', [{ ...good[1], accountKey: 'Eby8vd...' }], 'repositories[0]."accountKey"', /AZURE_STORAGE_KEY/],
    ['a secret access key', [{ ...good[2], secretAccessKey: 'x' }], 'repositories[0]."secretAccessKey"', /AWS_SECRET_ACCESS_KEY/],
    ['a SAS token in the URL', [{ name: 'a', url: 'azure://acct/c/p?sv=2024-01-01&sig=abc' }], 'repositories[0].url', /never from arguments or the site file/],
    ['a presigned signature in the URL', [{ name: 's', url: 's3://b/p?X-Amz-Signature=abc' }], 'repositories[0].url', /"X-Amz-Signature" is not a repository URL setting/],
    ['credentials in the URL', [{ name: 's', url: 's3://AKIA:secret@b/p' }], 'repositories[0].url', /carries credentials/],
    ['a relative folder', [{ name: 'f', url: 'backups/repo' }], 'repositories[0].url', /absolute folder path/],
    ['an endpoint for Azure', [{ ...good[1], endpoint: 'https://x' }], 'repositories[0].endpoint', /s3:\/\/ repositories only/],
    ['an endpoint with a user', [{ ...good[2], endpoint: 'https://u:p@minio:9000' }], 'repositories[0].endpoint', /without credentials/],
    ['encrypt as a string', [{ ...good[1], encrypt: 'yes' }], 'repositories[0].encrypt', /true or false/],
    ['a passphrase instead of its variable', [{ ...good[1], passphraseEnv: 'my secret words' }], 'repositories[0].passphraseEnv', /name of an environment variable/],
    ['a bad container name', [{ name: 'a', url: 'azure://acct/Bad_Container/p' }], 'repositories[0].url', /not a valid Azure container name/],
    ['an unknown key', [{ ...good[0], keepDaily: 7 }], 'repositories[0]."keepDaily"', /not a site config key/],
  ];
  it.each(CASES)('refuses %s, naming the key', (_what, repositories, key, says) => {
    const err = (() => {
      try {
        validateSite(site(repositories), 'site.json');
      } catch (e) {
        return e as InputError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(err!.exitCode).toBe(2);
    expect(err!.message).toContain(`site config site.json: ${key}`);
    expect(err!.message).toMatch(says);
  });
});

describe('backup targets from the config', () => {
  const s = site(good);
  const stateDir = '/var/lib/qsadmin';
  it('--to <name> picks one; its S3 settings travel in the URL; remote ones are encrypted by default, folders not', () => {
    const one = resolveBackupTargets(s, { to: 'minio', stateDir });
    expect(one.repositories).toHaveLength(1);
    const t = one.repositories![0];
    expect(t).toMatchObject({ name: 'minio', encrypt: true, passphraseEnv: 'MINIO_REPO_PASSPHRASE' });
    expect(parseRepoUrl(t.url)).toMatchObject({ kind: 's3', bucket: 'qlik', prefix: 'site-a', endpoint: 'https://minio.example.com:9000', region: 'eu-central-1', pathStyle: true, url: 's3://qlik/site-a' });
    expect(configuredTarget({ name: 'f', url: '/srv/repo' })).toMatchObject({ encrypt: false });
    expect(configuredTarget({ name: 'a', url: 'azure://acct/c/p' })).toMatchObject({ encrypt: true, passphraseEnv: 'QSADMIN_REPO_PASSPHRASE' });
    expect(configuredTarget({ name: 'a', url: 'azure://acct/c/p', encrypt: false })).toMatchObject({ encrypt: false });
  });
  it('--to-all takes every one, staged once in a folder of its own; a URL or folder is as before', () => {
    const all = resolveBackupTargets(s, { to: '', toAll: true, stateDir });
    expect(all.repositories!.map((r) => r.name)).toEqual(['local', 'azure-weu', 'minio']);
    expect(all.to).toBe(stagingDir(stateDir, all.repositories!));
    expect(all.to).not.toBe(resolveBackupTargets(s, { to: 'minio', stateDir }).to);
    // The staging folder does not depend on the order of the list.
    expect(stagingDir(stateDir, [...all.repositories!].reverse())).toBe(all.to);
    expect(resolveBackupTargets(s, { to: 's3://other/p', stateDir }).repositories![0]).toMatchObject({ url: 's3://other/p', encrypt: true });
    expect(resolveBackupTargets(s, { to: '/srv/plain', stateDir })).toEqual({ to: '/srv/plain', repositories: undefined });
  });
  it('refuses --to-all without repositories, and --encrypt/--no-encrypt with configured ones', () => {
    expect(() => resolveBackupTargets(site(undefined), { to: '', toAll: true, stateDir })).toThrow(/lists no repositories/);
    expect(() => resolveBackupTargets(s, { to: '', toAll: true, encrypt: false, stateDir })).toThrow(/--no-encrypt does not apply to --to-all/);
    expect(() => resolveBackupTargets(s, { to: 'local', encrypt: true, stateDir })).toThrow(/--encrypt does not apply to the configured repository local/);
  });
});
