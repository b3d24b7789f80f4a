import path from 'node:path';
import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { BackupSetInfo } from '../../src/backup/sets.js';

export default class BackupList extends QsadminCommand {
  static override description = `List the backup sets in a target folder: id, time, state, size, incremental base and path

The ids work wherever a set is taken: backup verify <id>, backup show <id>, backup delete <id>, restore <id>
(with --to, or QSADMIN_BACKUP_DIR, for a folder other than the default). A folder that does not exist is an
error (exit 2), not an empty list.`;
  static override examples = ['<%= config.bin %> backup list --to /backups', '<%= config.bin %> backup list --json'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, or a repository URL (azure://…, s3://…) [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase (encrypted repositories)', default: 'QSADMIN_REPO_PASSPHRASE' }),
  };

  async run(): Promise<{ target: string; backups: Array<Omit<BackupSetInfo, 'verified'> & { verified: boolean | null; verifiedLevel?: string }> }> {
    const { flags } = await this.parseCommon(BackupList);
    const { isRepositoryRef, openRepository } = await import('../../src/backup/repo/cli.js');
    const repo = isRepositoryRef(flags.to) ? await openRepository(flags.to, flags['passphrase-env']) : null;
    const target = repo ? repo.url : path.resolve(flags.to ?? path.join(this.stateDir, 'backups', (await this.site()).name));
    const { listTarget } = await import('../../src/backup/sets.js');
    const sets = repo ? await repo.listSets() : listTarget(target);
    if (!sets.length) this.say(`no backups in ${target}`);
    for (const s of sets) {
      const state = s.damaged ? 'DAMAGED' : !s.complete ? 'INCOMPLETE' : s.verified?.ok ? `verified(${s.verified.level})` : s.verified ? 'FAILED-VERIFY' : 'unverified';
      const size = s.complete ? `${(s.bytes / 1e6).toFixed(1)} MB (${(s.writtenBytes / 1e6).toFixed(1)} MB new)` : '-';
      this.say(`${s.id}  ${s.created}  ${state.padEnd(16)} ${size}${s.base ? `  base ${s.base}` : ''}  ${s.dir}`);
    }
    return { target, backups: sets.map((s) => ({ ...s, verified: s.verified ? s.verified.ok : null, verifiedLevel: s.verified?.level })) };
  }
}
