import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { InputError } from '../../src/runbook/errors.js';

export default class BackupDelete extends QsadminCommand {
  static override description = `Delete one backup set by its id (from \`backup list\`)

Sets share unchanged files through hard links, so deleting one never breaks another. Needs --yes (or a
confirmation on a terminal). The newest verified set, and an incomplete set (its run may still write it or be
resumed), are kept unless --force is given as well.`;
  static override examples = ['<%= config.bin %> backup delete 20261126T020000123Z --to /backups --yes', '<%= config.bin %> backup delete 20261126T020000123Z --dry-run'];
  static override help = EXIT_CODES_HELP;
  static override args = { id: Args.string({ description: 'id of the set (backup list)', required: true }) };
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, or a repository URL (azure://…, s3://…) [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase (encrypted repositories)', default: 'QSADMIN_REPO_PASSPHRASE' }),
    yes: Flags.boolean({ char: 'y', description: 'delete without a confirmation prompt', env: 'QSADMIN_YES' }),
    force: Flags.boolean({ description: 'also delete the newest verified set or an incomplete set' }),
    'dry-run': Flags.boolean({ description: 'say what would be deleted and delete nothing', env: 'QSADMIN_DRY_RUN' }),
  };

  async run(): Promise<{ target: string; id: string; path: string; deleted: boolean; dryRun: boolean }> {
    const { args, flags } = await this.parseCommon(BackupDelete);
    const { isRepositoryRef, openRepository } = await import('../../src/backup/repo/cli.js');
    const repo = isRepositoryRef(flags.to) ? await openRepository(flags.to, flags['passphrase-env']) : null;
    const target = repo ? repo.url : path.resolve(flags.to ?? path.join(this.stateDir, 'backups', (await this.site()).name));
    const { listTarget, findListedSet, deleteRefusal, deleteSet } = await import('../../src/backup/sets.js');
    const listed = repo ? await repo.listSets() : listTarget(target);
    const s = repo ? listed.find((x) => x.id === args.id) : findListedSet(target, args.id);
    if (!s) throw new InputError(`no backup set ${args.id} in ${target}`, 'see the ids with qsadmin backup list --to <url>');
    const refusal = deleteRefusal(listed, s);
    if (refusal && !flags.force) throw new InputError(`not deleting ${s.dir}: ${refusal}`, 'add --force to delete it anyway');
    const result = { target, id: s.id, path: s.dir, deleted: false, dryRun: !!flags['dry-run'] };
    if (flags['dry-run']) {
      this.say(`would delete ${s.dir}${refusal ? ` (--force: ${refusal})` : ''}`);
      return result;
    }
    if (!flags.yes) {
      if (!this.interactive()) throw new InputError(`deleting ${s.dir} needs confirmation`, 'add --yes (or QSADMIN_YES=1), or run it on a terminal');
      const { confirm } = await import('@inquirer/prompts');
      if (!(await confirm({ message: `Delete backup set ${s.dir}?`, default: false }, { output: process.stderr }))) throw new InputError('not confirmed: nothing was deleted');
    }
    if (repo) {
      // Its manifest, then the objects no other set names (the repository's exclusive lock held throughout).
      const r = await repo.prune({ ids: [s.id] });
      if (r.locked.length) throw new InputError(`not deleted: ${r.decisions.find((d) => d.id === s.id)?.reasons.join('; ')}`, 'the store keeps it under a retention lock until that expires');
      this.say(`deleted ${s.dir} (${r.objectsDeleted} objects no other set names, ${(r.bytesFreed / 1e6).toFixed(1)} MB)`);
      return { ...result, deleted: true };
    }
    deleteSet(target, s);
    this.say(`deleted ${s.dir}`);
    return { ...result, deleted: true };
  }
}
