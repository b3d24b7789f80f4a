import path from 'node:path';
import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';
import { backupFirstFlags, backupFirstInputs, inputsOrResumed } from '../../src/cli/backup-first.js';

export default class DbUpgrade extends RunbookCommand {
  static override description = `Upgrade the repository database to a new PostgreSQL major

--engine qpi (guide §2.6): the Qlik PostgreSQL Installer moves a database installed by Qlik Sense (bundled
9.6 or 12.5) to PostgreSQL 14 as the service postgresql-x64-14 (Network Service). Only on Qlik Sense
February 2022 or later without patches; QPI's backup folder must be on a local disk. Steps: a verified
qsadmin backup; all services stopped on the rims, all but the database on central; QPI run silently with a
generated qpiconfig (upgrade arguments only; the password is in that file, 0600, deleted after QPI ran);
postgresql-x64-14 checked (Network Service, running; the old service stopped, never started again); the
site config updated; services started (central, then rims); row counts and servicestate validated; then
the required clean-up: the old database MSI uninstalled (msiexec /x: qsadmin's choice, the guide shows the
right-click) and the client binaries reinstalled with the guide's msiexec line. QPI has no rollback and
documents no exit codes: the rollback is restoring the verified backup, until the old MSI is removed.

--engine native: a dedicated PostgreSQL server (not one installed by Qlik), run ON that server. The new
major (--new-bin-dir) is initialised beside the old cluster, the data moved by pg_dump -Fc + pg_restore -j
(not pg_upgrade: it needs both majors' programs side by side and ties the new cluster to the old files),
row counts compared while the old cluster is untouched, then switched: the new cluster takes the old port,
so host and port stay as every node's Repository.exe.config holds them. A failure after the switch
switches back to the old cluster and starts the services.

Passwords come from environment variables: the database superuser's (the site's database.passwordEnv,
default QSADMIN_DB_PASSWORD) and the backup's PFX password (QSADMIN_CERT_PASSWORD).`;
  static override examples = [
    '<%= config.bin %> db upgrade --engine qpi --qpi C:\\Installers\\Qlik_PostgreSQL_setup.exe --backup-to D:\\QlikBackups --dry-run',
    '<%= config.bin %> db upgrade --engine qpi --qpi C:\\Installers\\Qlik_PostgreSQL_setup.exe --backup-to D:\\QlikBackups --yes --json',
    '<%= config.bin %> db upgrade --engine native --new-bin-dir /usr/lib/postgresql/14/bin --backup-to /backups --yes',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    engine: Flags.string({ description: 'qpi: the Qlik PostgreSQL Installer (bundled database); native: dump/restore into a new major on a dedicated server', options: ['qpi', 'native'], required: true }),
    qpi: Flags.string({ description: 'qpi: path of Qlik_PostgreSQL_setup.exe on the central node' }),
    'qpi-backup-path': Flags.string({ description: 'qpi: DbBackupPath, a local folder for QPI\'s own dump [default: C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\backup\\<version>]' }),
    'install-path': Flags.string({ description: 'qpi: DbInstallationPath [default: C:\\Program Files\\PostgreSQL\\14]' }),
    'data-path': Flags.string({ description: 'qpi: DbDataPath [default: <install-path>\\data]' }),
    'new-bin-dir': Flags.string({ description: 'native: bin folder of the new PostgreSQL major (initdb, pg_ctl, postgres)' }),
    'new-data-dir': Flags.string({ description: 'native: data folder of the new cluster [default: beside the old one: .../<new major>/data]' }),
    'old-data-dir': Flags.string({ description: 'native: data folder of the running cluster [default: database.dataDir of the site config]' }),
    ...backupFirstFlags,
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(DbUpgrade);
    const { buildDbUpgrade } = await import('../../src/runbooks/db-upgrade.js');
    const inputs = await inputsOrResumed(this.stateDir, flags.resume, async () => ({
      sitePath: this.sitePath(),
      engine: flags.engine as 'qpi' | 'native',
      qpi: flags.qpi,
      qpiBackupPath: flags['qpi-backup-path'],
      installPath: flags['install-path'],
      dataPath: flags['data-path'],
      newBinDir: flags['new-bin-dir'] && path.resolve(flags['new-bin-dir']),
      newDataDir: flags['new-data-dir'] && path.resolve(flags['new-data-dir']),
      oldDataDir: flags['old-data-dir'] && path.resolve(flags['old-data-dir']),
      stopTimeoutMs: flags['stop-timeout'] * 1000,
      backup: await backupFirstInputs({ sitePath: this.sitePath(), siteName: (await this.site()).name, stateDir: this.stateDir, toolVersion: this.config.version, flags }),
    }));
    const rb = await buildDbUpgrade(inputs, { stateDir: this.stateDir, interactive: this.interactive() });
    return this.execute(rb, flags);
  }
}
