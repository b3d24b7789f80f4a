import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../src/cli/base.js';
import type { RunResult } from '../src/runbook/runner.js';

export default class Failover extends RunbookCommand {
  static override description = `Make a failover candidate the central node (guide §2.4 "Manually migrating the central node")

The QMC cannot do it; the QRS REST API can. Checks that the target is a failover candidate and runs the
Repository, Engine, Proxy and Scheduler services; then GET /qrs/serverNodeConfiguration for the node ids, an
empty POST /qrs/failover/tonode/{id}, and waits until the target answers as central and the old central as a
failover candidate. The site config's roles follow (the previous file kept beside it as
<file>.before-failover-<run>). Reports the automatic failover timeout (default 10 minutes, QMC Cluster
settings). The repository database and the file share do not move.`;
  static override examples = ['<%= config.bin %> failover --to rim1', '<%= config.bin %> failover --to qs-rim1.corp.example --dry-run'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'the failover candidate to make central (node name or hostname)', required: true }),
    timeout: Flags.integer({ description: 'seconds to wait for the nodes to take their new roles', default: 120 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(Failover);
    const { buildFailover } = await import('../src/runbooks/failover.js');
    const rb = await buildFailover({ sitePath: this.sitePath(), to: flags.to, timeoutMs: flags.timeout * 1000 }, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
