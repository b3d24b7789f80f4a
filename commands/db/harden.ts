import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { EXIT, InputError } from '../../src/runbook/errors.js';
import type { RunResult } from '../../src/runbook/runner.js';

type RunFlags = { 'dry-run'?: boolean; resume?: string; yes?: boolean };

export default class DbHarden extends RunbookCommand {
  static override description = `Harden the repository database (guide §6.7)

--scram: "Changing from MD5 to SCRAM encryption", in the guide's order: show password_encryption and how the
qliksenserepository and postgres passwords are stored; alter system set password_encryption = 'scram-sha-256';
select pg_reload_conf(); re-set both passwords (the same values: the superuser's from the site's variable,
default QSADMIN_DB_PASSWORD, qliksenserepository's from --repository-password-env) so they are stored with SCRAM;
verify both hashes; change md5 to scram-sha-256 in pg_hba.conf (a copy is kept beside it as
pg_hba.conf.qsadmin-before-scram, and in the run folder); then the Qlik services stop (rims first), the repository
database service restarts, and the services start in order. A password that does not log on now is exit 2 before
anything changes: re-setting a wrong one would lock the services out.

--ssl: SSL to PostgreSQL needs the Connection String Editor of QlikSenseUtil on every node (a GUI). qsadmin prints
the guide's manual steps and checks the result on the server (ssl on, only hostssl lines, the sessions of
qliksenserepository encrypted); exit 4 while something is missing. It changes nothing.`;
  static override examples = [
    'QSADMIN_REPOSITORY_PASSWORD=... <%= config.bin %> db harden --scram --dry-run',
    'QSADMIN_REPOSITORY_PASSWORD=... <%= config.bin %> db harden --scram --yes',
    '<%= config.bin %> db harden --ssl',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    scram: Flags.boolean({ description: 'move the database passwords and pg_hba.conf from MD5 to SCRAM-SHA-256', exclusive: ['ssl'] }),
    ssl: Flags.boolean({ description: 'print the manual steps for SSL to PostgreSQL and check the result (changes nothing)', exclusive: ['scram'] }),
    'repository-password-env': Flags.string({ description: 'environment variable that holds the qliksenserepository password', default: 'QSADMIN_REPOSITORY_PASSWORD' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service to stop or start', default: 120 }),
  };

  async run(): Promise<RunResult | Record<string, unknown>> {
    const parsed = await this.parseCommon(DbHarden);
    const flags = parsed.flags as typeof parsed.flags & RunFlags;
    if (!flags.scram && !flags.ssl) throw new InputError('say what to harden: --scram or --ssl', 'see: qsadmin db harden --help');
    if (flags.ssl) {
      const { checkDatabaseSsl } = await import('../../src/runbooks/db-ssl.js');
      const r = await checkDatabaseSsl(await this.site(), this.interactive());
      this.say(['SSL to the repository database is set up by hand (guide §6.7 "Database traffic encryption"):', ...r.steps.map((s) => `  ${s}`), '', 'Result on the server:',
        ...r.checks.map((k) => `  ${k.ok ? 'ok  ' : 'TODO'} ${k.id}: ${k.detail}`), r.ok ? 'SSL is in place' : 'SSL is not (fully) in place: exit 4'].join('\n'));
      process.exitCode = r.ok ? EXIT.ok : EXIT.verificationFailed;
      return { status: r.ok ? 'ok' : 'attention', exitCode: process.exitCode, ...r };
    }
    const { buildDbHarden } = await import('../../src/runbooks/db-harden.js');
    const rb = await buildDbHarden(
      { sitePath: this.sitePath(), repositoryPasswordEnv: flags['repository-password-env'], timeoutMs: flags.timeout * 1000 },
      { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] },
    );
    return this.execute(rb, flags);
  }
}
