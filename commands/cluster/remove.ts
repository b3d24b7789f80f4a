import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ClusterRemove extends RunbookCommand {
  static override description = `Remove a rim node from the site

Stops the rim's services (in reverse start order), deletes its node configuration on the central node
(DELETE /qrs/servernodeconfiguration/{id}) and removes it from the site config (the old file kept as .bak).
Qlik Sense stays installed on the rim machine (qsadmin uninstall --silent removes it).`;
  static override examples = ['<%= config.bin %> cluster remove --rim rim2', '<%= config.bin %> cluster remove --rim rim2 --dry-run'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    rim: Flags.string({ description: 'the rim node (name or hostname in the site config)', required: true }),
    timeout: Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ClusterRemove);
    const { buildClusterRemove } = await import('../../src/runbooks/cluster.js');
    const rb = await buildClusterRemove({ sitePath: this.sitePath(), rim: flags.rim, timeoutMs: flags.timeout * 1000 });
    return this.execute(rb, flags);
  }
}
