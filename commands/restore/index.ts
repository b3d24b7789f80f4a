import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class Restore extends RunbookCommand {
  static override description = `Restore a site from a backup: databases, share, certificates (and, on request, local config files)

Follows the guide's §5 restore, and §5.7 for a machine with a different hostname. The backup is verified first
(checksums, every dump readable, its PostgreSQL version not newer than the target's). The target must be an installed
Qlik Sense node; running Qlik services and Qlik certificates already in the stores are refused unless --yes (then the
services are stopped, rims first, and the certificates exported into the run's safety folder and removed).

Each database is dumped into the safety folder, restored into "<DB>__qsadmin_restore" (createdb -T template0 with the
recorded owner and encoding), checked against the manifest's row counts, and swapped in; the replaced database is kept
as "<DB>__qsadmin_old" until QRS answers and the share is checked. Roles missing on the server are created from
globals.sql; no password is set or changed. Certificates are imported without starting services. With --hostname,
Repository.exe -bootstrap -standalone -restorehostname runs, QSD is started at its startup line and ENTER is sent when
bootstrap mode terminates; rim nodes stay down (remove and re-add them). Then QSD, QRS and the rest start.

Also accepted: a folder of <DB>_backup.tar files made with the guide's pg_dump -F t (the copied share in a sub-folder).
Passwords come from environment variables: the database superuser's (QSADMIN_DB_PASSWORD or the site's variable) and
the PFX password (QSADMIN_CERT_PASSWORD, or --cert-password-env).`;
  static override examples = [
    '<%= config.bin %> restore D:\\QlikBackups\\20250601T020000Z --dry-run',
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> restore /backups/20250601T020000Z --yes',
    '<%= config.bin %> restore /backups/set.tar --hostname qs-new.example.com --share-root \\\\fs02\\QlikShare --yes',
    '<%= config.bin %> restore C:\\manual-backup --only db,share --yes   # QSR_backup.tar ... from pg_dump -F t',
    '<%= config.bin %> restore D:\\QlikBackups\\20250601T020000Z --only alerting --yes   # Qlik Alerting: mongorestore --drop, default.json, certificates',
  ];
  static override help = EXIT_CODES_HELP;
  static override args = {
    backup: Args.string({ description: 'backup set folder or .tar, or a folder of <DB>_backup.tar files (pg_dump -F t)', required: false }),
  };
  static override flags = {
    hostname: Flags.string({ description: 'restore onto a machine with this (different) hostname: must be the target\'s Host.cfg name (guide §5.7)' }),
    'share-root': Flags.string({ description: 'put the share under this root and update QSR\'s share folders (SQL; the guide uses QlikSenseUtil)' }),
    'central-only': Flags.boolean({ description: 'restore onto the central node only: rim nodes are stopped and stay down, to be removed and re-added (guide §5.7); needed when the backup\'s nodes are not this site\'s' }),
    only: Flags.string({ description: 'restore only these parts (comma-separated): db, share, certs, config [default: db,share,certs]; or alerting (on its own: Qlik Alerting\'s database, default.json and certificates)', delimiter: ',', multiple: true, options: ['db', 'share', 'certs', 'config', 'alerting'] }),
    'cert-password-env': Flags.string({ description: 'environment variable that holds the PFX password of the backup\'s certificates', default: 'QSADMIN_CERT_PASSWORD' }),
    'safety-dir': Flags.string({ description: 'where the safety dumps of the current databases go [default: <run dir>/safety]' }),
    parallel: Flags.integer({ description: 'files copied at once', default: 4, min: 1, max: 32 }),
    checksum: Flags.boolean({ description: 'keep a live share file only when its sha256 is the backup\'s (reads the whole share); by default a file with the backup\'s size and modification time is kept, the rule a nightly backup decides "unchanged" by' }),
    from: Flags.string({ description: 'repository that holds the set given by id (azure://…, s3://…, or a repository folder)' }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the passphrase of an encrypted repository', default: 'QSADMIN_REPO_PASSPHRASE' }),
    'stop-timeout': Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
    'skip-root-admin-check': Flags.boolean({ description: 'restore although the account qsadmin runs as had no RootAdmin role at backup time (guide §5.7); it cannot administer the restored site until a RootAdmin grants it' }),
    'end-stuck-services': Flags.boolean({ description: 'end the process of a Qlik service still stopping at the timeout, logged (administrators do this by hand; not in the guide; never the database service)' }),
    'bootstrap-timeout': Flags.integer({ description: 'seconds to wait for each line of Repository.exe -restorehostname', default: 300 }),
  };

  async run(): Promise<RunResult> {
    const { flags, args } = await this.parseCommon(Restore);
    if (flags.only?.includes('alerting') && !flags.resume) return this.restoreAlerting(flags, args.backup);
    const { buildRestore } = await import('../../src/runbooks/restore.js');
    let inputs;
    if (flags.resume) {
      const { readPlan } = await import('../../src/cli/runs.js');
      const plan = readPlan(this.stateDir, flags.resume);
      // A run of restore --only alerting is rebuilt by its own runbook.
      if (plan.runbook === 'restore.alerting') {
        const { buildRestoreAlerting } = await import('../../src/runbooks/restore-alerting.js');
        return this.execute(await buildRestoreAlerting(plan.inputs as never, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] }), flags);
      }
      inputs = plan.inputs as never;
    } else {
      if (!args.backup) {
        const { InputError } = await import('../../src/runbook/errors.js');
        throw new InputError('which backup? give its path', 'qsadmin restore <backup> (see qsadmin backup list)');
      }
      inputs = {
        sitePath: this.sitePath(),
        // A path, or an id from `backup list` (in QSADMIN_BACKUP_DIR, else the default backup folder).
        // Or a set in a repository: <url>#<id>, or an id with --from <url>.
        source: flags.from
          ? `${flags.from}#${args.backup}`
          : /^(azure|s3):\/\//i.test(args.backup) || args.backup.includes('#')
            ? args.backup
            : (await import('../../src/backup/sets.js')).resolveSetRef(args.backup, [process.env.QSADMIN_BACKUP_DIR, path.join(this.stateDir, 'backups', (await this.site()).name)]),
        passphraseEnv: flags['passphrase-env'],
        hostname: flags.hostname,
        shareRoot: flags['share-root'],
        only: flags.only as never,
        centralOnly: flags['central-only'] || undefined,
        certPasswordEnv: flags['cert-password-env'],
        safetyDir: flags['safety-dir'] ? path.resolve(flags['safety-dir']) : undefined,
        yes: flags.yes,
        parallel: flags.parallel,
        checksum: flags.checksum || undefined,
        stopTimeoutMs: flags['stop-timeout'] * 1000,
        endStuck: flags['end-stuck-services'],
        skipRootAdminCheck: flags['skip-root-admin-check'],
        bootstrapTimeoutMs: flags['bootstrap-timeout'] * 1000,
      };
    }
    const rb = await buildRestore(inputs, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }

  /** --only alerting: its own runbook (src/runbooks/restore-alerting.ts); the Qlik Sense parts are not touched. */
  private async restoreAlerting(flags: Awaited<ReturnType<typeof this.parseCommon<typeof Restore>>>['flags'], backup?: string): Promise<RunResult> {
    const { InputError } = await import('../../src/runbook/errors.js');
    if (flags.only!.length > 1) throw new InputError(`--only alerting is restored on its own, not with ${flags.only!.filter((p) => p !== 'alerting').join(', ')}`, 'run qsadmin restore <set> --only alerting, and the other parts in a run of their own');
    if (!backup) throw new InputError('which backup? give its path', 'qsadmin restore <backup> --only alerting (see qsadmin backup list)');
    const source = (await import('../../src/backup/sets.js')).resolveSetRef(backup, [process.env.QSADMIN_BACKUP_DIR, path.join(this.stateDir, 'backups', (await this.site()).name)]);
    const { buildRestoreAlerting } = await import('../../src/runbooks/restore-alerting.js');
    const rb = await buildRestoreAlerting(
      { sitePath: this.sitePath(), source, yes: flags.yes, stopTimeoutMs: flags['stop-timeout'] * 1000 },
      { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] },
    );
    return this.execute(rb, flags);
  }
}
