import fs from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { InputError } from '../../src/runbook/errors.js';
import type { RetentionDecision } from '../../src/backup/retention.js';

export default class BackupPrune extends QsadminCommand {
  static override description = `Remove backup sets that no retention rule keeps

Keeps the newest set of each of the last N days, ISO weeks and months (and the last N sets with
--keep-last). The newest verified set is never removed, and incomplete sets are left alone. Sets share
unchanged files through hard links, so removing one never breaks another. One set: backup delete <id>.
Old run folders are pruned with runs prune --older-than.`;
  static override examples = ['<%= config.bin %> backup prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run', '<%= config.bin %> backup prune --to /backups --keep-daily 14 --keep-weekly 8 --keep-monthly 6'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, or a repository URL (azure://…, s3://…) [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase (encrypted repositories)', default: 'QSADMIN_REPO_PASSPHRASE' }),
    'keep-daily': Flags.integer({ description: 'days to keep a set of', default: 7, min: 0 }),
    'keep-weekly': Flags.integer({ description: 'ISO weeks to keep a set of', default: 4, min: 0 }),
    'keep-monthly': Flags.integer({ description: 'months to keep a set of', default: 12, min: 0 }),
    'keep-last': Flags.integer({ description: 'also keep the newest N sets', default: 0, min: 0 }),
    'dry-run': Flags.boolean({ description: 'show what would be removed and remove nothing', env: 'QSADMIN_DRY_RUN' }),
  };

  async run(): Promise<{ target: string; dryRun: boolean; decisions: RetentionDecision[]; removed: string[] }> {
    const { flags } = await this.parseCommon(BackupPrune);
    const policy = { keepDaily: flags['keep-daily'], keepWeekly: flags['keep-weekly'], keepMonthly: flags['keep-monthly'], keepLast: flags['keep-last'] };
    const { isRepositoryRef, openRepository } = await import('../../src/backup/repo/cli.js');
    if (isRepositoryRef(flags.to)) {
      // A repository: sets go by their manifests, then every object no kept set names (under its exclusive lock).
      const repo = await openRepository(flags.to, flags['passphrase-env']);
      const r = await repo.prune({ policy, dryRun: flags['dry-run'] });
      for (const d of r.decisions) this.say(`${d.keep ? 'keep  ' : flags['dry-run'] ? 'would remove' : 'remove'} ${d.id}: ${d.reasons.join('; ')}`);
      if (!flags['dry-run']) this.say(`${r.objectsDeleted} objects no kept set names deleted (${(r.bytesFreed / 1e6).toFixed(1)} MB)${r.locked.length ? `; kept under retention lock: ${r.locked.join(', ')}` : ''}`);
      return { target: repo.url, dryRun: !!flags['dry-run'], decisions: r.decisions, removed: r.deleted, objectsDeleted: r.objectsDeleted, bytesFreed: r.bytesFreed, retentionLocked: r.locked } as never;
    }
    const target = path.resolve(flags.to ?? path.join(this.stateDir, 'backups', (await this.site()).name));
    if (!fs.existsSync(target)) throw new InputError(`backup target ${target} does not exist`, 'pass --to with the folder that holds the sets');
    const { listSets } = await import('../../src/backup/sets.js');
    const { applyRetention } = await import('../../src/backup/retention.js');
    const { deleteSet } = await import('../../src/backup/sets.js');
    // Run folders: `qsadmin runs prune --older-than` (the engine's) prunes them; a --runs-older-than option here is
    // to call that same function once it is on main, rather than a second copy of the rule.
    const sets = listSets(target);
    const decisions = applyRetention(sets, policy);
    const removed: string[] = [];
    for (const d of decisions) {
      const s = sets.find((x) => x.id === d.id)!;
      this.say(`${d.keep ? 'keep  ' : flags['dry-run'] ? 'would remove' : 'remove'} ${d.id}: ${d.reasons.join('; ')}`);
      if (d.keep || flags['dry-run']) continue;
      // Hard-linked files live on in the other sets; a folder is renamed away first, so it never looks half there.
      deleteSet(target, s);
      removed.push(d.id);
    }
    return { target, dryRun: !!flags['dry-run'], decisions, removed };
  }
}
