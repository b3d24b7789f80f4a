import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ServiceAccountRotatePassword extends RunbookCommand {
  static override description = `Put the service account's new password on every Qlik service (guide §2.11 C)

Change the password in the domain first (the guide's step 1). Then, on every node, central first: each Qlik
service's Log On password is set, each service restarted (stopped in reverse order, started QSD → QRS → the
rest), and on the central node every monitoring_apps_* data connection gets the new password through QRS.

The new password comes from QSADMIN_SERVICE_ACCOUNT_PASSWORD (or --password-env) or a prompt; it must already
be the account's password (a logon check): a wrong or blank one is exit 2 before anything changes.`;
  static override examples = [
    'QSADMIN_SERVICE_ACCOUNT_PASSWORD=... <%= config.bin %> service-account rotate-password',
    '<%= config.bin %> service-account rotate-password --account CORP\\qliksvc --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    account: Flags.string({ description: 'the service account [default: the site config\'s serviceAccount]' }),
    'password-env': Flags.string({ description: 'environment variable that holds the new password', default: 'QSADMIN_SERVICE_ACCOUNT_PASSWORD' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service', default: 120 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ServiceAccountRotatePassword);
    const { buildServiceAccount } = await import('../../src/runbooks/service-account.js');
    const rb = await buildServiceAccount({ sitePath: this.sitePath(), mode: 'rotate', account: flags.account, passwordEnv: flags['password-env'], timeoutMs: flags.timeout * 1000 }, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
