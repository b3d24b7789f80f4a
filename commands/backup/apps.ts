import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';

interface AppsResult {
  backup: string;
  apps: Array<{ id: string; name: string; stream: string | null; owner: string | null; fileSize: number; modified: string | null; fileInSet: boolean; file: string | null }>;
}

export default class BackupApps extends QsadminCommand {
  static override description = `List the apps a backup set holds: id, name, stream, owner, file size, modified date, and whether the app file is in the set

Read from the set's QSR dump without restoring it (pg_restore prints the rows of Apps, Streams and Users); the set is a
folder, a .tar, or an id from \`backup list\`. Restore one with \`qsadmin restore app <set> --app <id or name>\`.`;
  static override examples = ['<%= config.bin %> backup apps /backups/20261126T020000123Z', '<%= config.bin %> backup apps 20261126T020000123Z --to /backups --json'];
  static override help = EXIT_CODES_HELP;
  static override args = { backup: Args.string({ description: 'backup set folder, .tar, or id', required: true }) };
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, for an id [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
  };

  async run(): Promise<AppsResult> {
    const { args, flags } = await this.parseCommon(BackupApps);
    const { resolveSetRef, looksLikeBackupId } = await import('../../src/backup/sets.js');
    const folders = [flags.to, looksLikeBackupId(args.backup) && !flags.to ? path.join(this.stateDir, 'backups', (await this.site()).name) : undefined];
    const setPath = resolveSetRef(args.backup, folders);
    const { listBackupApps } = await import('../../src/backup/app-catalog.js');
    const apps = await listBackupApps(setPath);
    const r: AppsResult = {
      backup: setPath,
      apps: apps.map((a) => ({
        id: a.id, name: a.name, stream: a.stream?.name ?? null, owner: a.owner ? `${a.owner.userDirectory}\\${a.owner.userId}` : null,
        fileSize: a.fileSize, modified: a.modified, fileInSet: !!a.file, file: a.file?.path ?? a.storedPath,
      })),
    };
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    this.say([
      `${r.apps.length} apps in ${setPath}`,
      ...r.apps.map((a) => `  ${a.id}  ${a.name}  stream ${a.stream ?? '(unpublished)'}  owner ${a.owner ?? '(none)'}  ${mb(a.fileSize)}  modified ${a.modified ?? '?'}  ${a.fileInSet ? 'file in set' : 'FILE NOT IN SET'}`),
    ].join('\n'));
    return r;
  }
}
