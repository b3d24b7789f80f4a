import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { VerifyResult } from '../../src/backup/verify.js';

export default class BackupVerify extends QsadminCommand {
  static override description = `Verify a backup set: every checksum, every dump's table of contents, the versions

The set is a folder, a .tar, or an id from \`backup list\` (looked up in --to, else the default backup folder).
With --deep, every dump is restored into a throwaway PostgreSQL cluster and the row count of every table is
compared with the manifest. Exit 4 on any mismatch, naming the file; exit 2 for something that is not a set.`;
  static override examples = [
    '<%= config.bin %> backup verify /backups/20261126T020000123Z',
    '<%= config.bin %> backup verify 20261126T020000123Z --to /backups',
    '<%= config.bin %> backup verify /backups/20261126T020000123Z.tar --deep --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override args = { backup: Args.string({ description: 'backup set folder, .tar, or id', required: true }) };
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, or a repository URL, for an id [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase (encrypted repositories)', default: 'QSADMIN_REPO_PASSPHRASE' }),
    deep: Flags.boolean({ description: 'restore every dump into a scratch cluster and compare row counts' }),
    parallel: Flags.integer({ description: 'files hashed at once', default: 4, min: 1 }),
  };

  async run(): Promise<VerifyResult & { backup: string }> {
    const { args, flags } = await this.parseCommon(BackupVerify);
    const { resolveSetRef, looksLikeBackupId } = await import('../../src/backup/sets.js');
    const { repositorySetRef } = await import('../../src/backup/repo/cli.js');
    const inRepo = repositorySetRef(args.backup, flags.to);
    const onProgress = (m: string) => this.verbose && process.stderr.write(m + '\n');
    let r: VerifyResult & { backup: string };
    if (inRepo) {
      const { verifyInRepository } = await import('../../src/backup/repo/verify.js');
      r = await verifyInRepository(inRepo.url, inRepo.id, { deep: flags.deep, parallel: flags.parallel, passphraseEnv: flags['passphrase-env'], onProgress });
    } else {
      // The site (for the default folder) is read only for an id: a path needs no site.
      const folders = [flags.to, looksLikeBackupId(args.backup) && !flags.to ? path.join(this.stateDir, 'backups', (await this.site()).name) : undefined];
      const set = resolveSetRef(args.backup, folders);
      const { verifyBackupPath } = await import('../../src/backup/verify-command.js');
      r = await verifyBackupPath(set, { deep: flags.deep, parallel: flags.parallel, onProgress });
    }
    if (r.ok) this.say(`${r.backup}: verified (${r.level}): ${r.checkedFiles} files, ${(r.checkedBytes / 1e6).toFixed(1)} MB, ${r.dumps.length} dumps${r.rowCountsCompared !== undefined ? `, ${r.rowCountsCompared} table row counts` : ''}`);
    else {
      process.stderr.write(`${r.backup}: verification FAILED\n${r.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      process.exitCode = 4;
    }
    return r;
  }
}
