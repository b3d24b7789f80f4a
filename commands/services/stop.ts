import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP, nodeFlag } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ServicesStop extends RunbookCommand {
  static override description = `Stop the Qlik Sense services in reverse start order

Proxy, Engine, Scheduler, Printing → Repository (QRS) → Service Dispatcher (QSD); rim nodes first, then
the central node. The repository database keeps running (as every procedure of the guide needs) unless
--database is given.`;
  static override examples = ['<%= config.bin %> services stop', '<%= config.bin %> services stop --node central --service QES', '<%= config.bin %> services stop --database'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    node: nodeFlag,
    service: Flags.string({ description: 'only this service (name or abbreviation); repeatable', multiple: true }),
    database: Flags.boolean({ description: 'also stop the repository database service' }),
    timeout: Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
    'end-stuck-services': Flags.boolean({ description: 'end the process of a Qlik service still stopping at the timeout, logged (administrators do this by hand; not in the guide; never the database service)' }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ServicesStop);
    const { buildServicesStop } = await import('../../src/runbooks/services.js');
    const rb = await buildServicesStop({
      sitePath: this.sitePath(),
      node: flags.node,
      services: flags.service,
      database: flags.database,
      timeoutMs: flags.timeout * 1000,
      endStuck: flags['end-stuck-services'],
    });
    return this.execute(rb, flags);
  }
}
