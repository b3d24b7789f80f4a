import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class RestoreApp extends RunbookCommand {
  static override description = `Restore one app from a backup, through QRS, with every service running

The app is found in the set's QSR dump (by id or name; see \`qsadmin backup apps\`), its file is taken out of the set
and checked against the manifest's sha256, and uploaded to the central node (POST /qrs/app/upload) under its old name
or --as, as a new app. With --replace, the content of the existing app (the backed-up id, else the only app of that
name) is replaced instead: it keeps its id. Then what an upload does not carry is restored from the backup where it
still exists on the site: owner, tags, custom property values, and the stream (publish). What no longer exists is
reported, not invented.`;
  static override examples = [
    '<%= config.bin %> restore app /backups/20261126T020000123Z --app "Sales dashboard" --dry-run',
    '<%= config.bin %> restore app 20261126T020000123Z --to /backups --app 5f0c...e1 --as "Sales (restored)"',
    '<%= config.bin %> restore app /backups/20261126T020000123Z.tar --app 5f0c...e1 --replace --yes',
    '<%= config.bin %> restore app /backups/20261126T020000123Z --app "Sales dashboard" --publish-to Everyone --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override args = { backup: Args.string({ description: 'backup set folder, .tar, or id', required: false }) };
  static override flags = {
    app: Flags.string({ description: 'the app in the backup: its id or its name (qsadmin backup apps lists them)' }),
    as: Flags.string({ description: 'upload under this name instead of the backed-up one' }),
    replace: Flags.boolean({ description: 'replace the content of the existing app (same id, else same name) instead of adding a new app' }),
    'publish-to': Flags.string({ description: 'publish to this stream (id or name) instead of the backed-up one' }),
    to: Flags.string({ description: 'folder that holds the backup sets, for an id [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
  };

  async run(): Promise<RunResult> {
    const { flags, args } = await this.parseCommon(RestoreApp);
    const { buildRestoreApp } = await import('../../src/runbooks/restore-app.js');
    let inputs;
    if (flags.resume) {
      const { readPlan } = await import('../../src/cli/runs.js');
      inputs = readPlan(this.stateDir, flags.resume).inputs as never;
    } else {
      const { InputError } = await import('../../src/runbook/errors.js');
      if (!args.backup) throw new InputError('which backup? give its path or id', 'qsadmin restore app <backup> --app <id or name> (see qsadmin backup list)');
      if (!flags.app) throw new InputError('which app? --app is missing', `name it by id or name: qsadmin backup apps ${args.backup} lists the apps the set holds`);
      const { resolveSetRef, looksLikeBackupId } = await import('../../src/backup/sets.js');
      const folders = [flags.to, looksLikeBackupId(args.backup) && !flags.to ? path.join(this.stateDir, 'backups', (await this.site()).name) : undefined];
      inputs = { sitePath: this.sitePath(), source: resolveSetRef(args.backup, folders), app: flags.app, as: flags.as, replace: flags.replace || undefined, publishTo: flags['publish-to'] };
    }
    const rb = await buildRestoreApp(inputs, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
