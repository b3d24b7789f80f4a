import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ServiceAccountSet extends RunbookCommand {
  static override description = `Run the Qlik Sense services as another Windows account (guide §2.11 B)

On every node in turn, central first, in the guide's order: when the account is not an administrator, add it
to Qlik Sense Service Users and Performance Monitor Users; stop all services except the repository database;
grant it Full control on %ProgramData%\\Qlik\\Sense; run proxy.exe -bootstrap and scheduler.exe -bootstrap;
start the Service Dispatcher and run repository.exe -bootstrap (-iscentral on the central node); set each
Qlik service's Log On to the account; start QSD, then QRS, then the rest; check that every service runs as it.
The repository database keeps its own Log On. Each service's old Log On account is recorded first.

The password comes from QSADMIN_SERVICE_ACCOUNT_PASSWORD (or the variable named by --password-env) or a
prompt, never the command line. An account that does not exist, a blank or wrong password: exit 2, nothing changed.
Not done: the account's access to the file share (give it Read/Write there) and the "Log on as a service" right.`;
  static override examples = [
    'QSADMIN_SERVICE_ACCOUNT_PASSWORD=... <%= config.bin %> service-account set --account CORP\\qliksvc',
    '<%= config.bin %> service-account set --account CORP\\qliksvc --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    account: Flags.string({ description: 'the account to run the services as: DOMAIN\\user, .\\user or user@domain', required: true }),
    'password-env': Flags.string({ description: 'environment variable that holds the account\'s password', default: 'QSADMIN_SERVICE_ACCOUNT_PASSWORD' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service and bootstrap program', default: 120 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ServiceAccountSet);
    const { buildServiceAccount } = await import('../../src/runbooks/service-account.js');
    const rb = await buildServiceAccount({ sitePath: this.sitePath(), mode: 'set', account: flags.account, passwordEnv: flags['password-env'], timeoutMs: flags.timeout * 1000 }, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
