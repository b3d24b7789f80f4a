import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';

export default class BackupRekey extends QsadminCommand {
  static override description = `Change the passphrase of an encrypted repository (the same key, wrapped again)

The repository key is unwrapped with the passphrase in --passphrase-env and wrapped under the one in
--new-passphrase-env; qsadmin-repository.json is replaced in one write and no object changes. Anyone who kept a copy
of the old qsadmin-repository.json can still open the key with the old passphrase: rekeying limits a passphrase that
leaked, not a key that leaked (for that, back up into a new repository). Both passphrases come from the environment.`;
  static override examples = ['QSADMIN_REPO_PASSPHRASE=old NEW_PASS=new <%= config.bin %> backup rekey --to s3://qlik-backups/prod --new-passphrase-env NEW_PASS'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'the repository (azure://…, s3://…, or a repository folder)', required: true }),
    'passphrase-env': Flags.string({ description: 'environment variable with the current passphrase', default: 'QSADMIN_REPO_PASSPHRASE' }),
    'new-passphrase-env': Flags.string({ description: 'environment variable with the new passphrase', required: true }),
    'dry-run': Flags.boolean({ description: 'check that the current passphrase opens the key, change nothing', env: 'QSADMIN_DRY_RUN' }),
  };

  async run(): Promise<{ repository: string; rekeyed: boolean; dryRun: boolean }> {
    const { flags } = await this.parseCommon(BackupRekey);
    const { openRepository } = await import('../../src/backup/repo/cli.js');
    const repo = await openRepository(flags.to, flags['passphrase-env']);
    if (flags['dry-run']) {
      this.say(`${repo.url}: the passphrase in ${flags['passphrase-env']} opens the key; nothing changed`);
      return { repository: repo.url, rekeyed: false, dryRun: true };
    }
    await repo.rekey(flags['passphrase-env'], flags['new-passphrase-env']);
    this.say(`${repo.url}: the key is now wrapped under the passphrase in ${flags['new-passphrase-env']}`);
    return { repository: repo.url, rekeyed: true, dryRun: false };
  }
}
