import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP, nodeFlag } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ServicesStart extends RunbookCommand {
  static override description = `Start the Qlik Sense services in the guide's order

Order (guide §1.3): repository database → Service Dispatcher (QSD) → Repository (QRS) → Proxy, Engine,
Scheduler, Printing; central node first, then rim nodes. Waits until QRS reports servicestate 2.`;
  static override examples = [
    '<%= config.bin %> services start',
    '<%= config.bin %> services start --node rim1',
    '<%= config.bin %> services start --service QRS --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    node: nodeFlag,
    service: Flags.string({ description: 'only this service (name or abbreviation: QSD, QRS, QPS, QES, QSS, QPR); repeatable', multiple: true }),
    timeout: Flags.integer({ description: 'seconds to wait for each service', default: 120 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ServicesStart);
    const { buildServicesStart } = await import('../../src/runbooks/services.js');
    const rb = await buildServicesStart({ sitePath: this.sitePath(), node: flags.node, services: flags.service, timeoutMs: flags.timeout * 1000 });
    return this.execute(rb, flags);
  }
}
