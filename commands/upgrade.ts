import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../src/cli/base.js';
import type { RunResult } from '../src/runbook/runner.js';
import { backupFirstFlags, backupFirstInputs, inputsOrResumed } from '../src/cli/backup-first.js';

export default class Upgrade extends RunbookCommand {
  static override description = `Upgrade Qlik Sense on every node of the site (guide §3.3, §3.4, §4.2)

Preflight first (exit 2, nothing changed): the supported path (3.1 SR1 and earlier via June 2017, February 2021
and later via November 2020, no downgrade), one version on every node, a local PostgreSQL 9.6 blocks August 2023
and later, SSL to PostgreSQL off, no reboot pending, elevated, the account of the original install
(--original-installer), the repository database running and its superuser password right, the setup file on
every node. Then a verified qsadmin backup (with Qlik Alerting when the site has it); the Qlik services stopped
on all nodes, rims first, the database left running; central upgraded (-s -l accepteula=1 keepcurrentsettings=1
skipstartservices=1 userpassword dbpassword), then each rim; the services started (central first) and each QRS at
servicestate 2; /qrs/about on every node checked for the new build. Capabilities.json and custom PostgreSQL
settings are not kept (the run warns). Rollback: restore the verified backup (qsadmin restore).

When setup installs .NET Framework 4.8 it asks for a restart: the run stops there; restart the node, then
qsadmin runs resume. Passwords come from environment variables: the service account's (--service-password-env)
and the database superuser's (the site's database.passwordEnv); setup gets them as its documented arguments, and
qsadmin's log, journal and --json show them as ***.`;
  static override examples = [
    '<%= config.bin %> upgrade --setup C:\\Installers\\Qlik_Sense_setup.exe --release "May 2025" --original-installer DOMAIN\\qlikadmin --dry-run',
    '<%= config.bin %> upgrade --setup C:\\Installers\\Qlik_Sense_setup.exe --release "May 2025" --backup-to D:\\QlikBackups --yes --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    setup: Flags.string({ description: 'path of the new release\'s Qlik_Sense_setup.exe, the same on every node', required: true }),
    release: Flags.string({ description: 'the release that setup file installs, as Programs and Features names it (e.g. "May 2025")', required: true }),
    'original-installer': Flags.string({ description: 'the account that did the original install (DOMAIN\\user): setup must run as it' }),
    'first-installed': Flags.string({ description: 'the release the site was first installed with [default: the installed one]; June 2019 or earlier means the root certificate must be re-created' }),
    'service-password-env': Flags.string({ description: 'environment variable with the service account\'s password (userpassword)', default: 'QSADMIN_SERVICE_PASSWORD' }),
    ...backupFirstFlags,
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(Upgrade);
    const { buildUpgrade } = await import('../src/runbooks/qlik-upgrade.js');
    const inputs = await inputsOrResumed(this.stateDir, flags.resume, async () => ({
      sitePath: this.sitePath(),
      setup: flags.setup,
      release: flags.release,
      originalInstaller: flags['original-installer'],
      firstInstalled: flags['first-installed'],
      serviceAccountPasswordEnv: flags['service-password-env'],
      stopTimeoutMs: flags['stop-timeout'] * 1000,
      backup: await backupFirstInputs({ sitePath: this.sitePath(), siteName: (await this.site()).name, stateDir: this.stateDir, toolVersion: this.config.version, flags }),
    }));
    const rb = await buildUpgrade(inputs, { stateDir: this.stateDir, interactive: this.interactive() });
    return this.execute(rb, flags);
  }
}
