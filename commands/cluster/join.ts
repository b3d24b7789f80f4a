import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class ClusterJoin extends RunbookCommand {
  static override description = `Join an installed rim node to the site, from the central node

The QMC's Nodes → Create new, over the QRS API (guide §4.4): the node configuration (name, host name, purpose,
failover candidate, service activation) through POST /qrs/servernodeconfiguration/container; the registration start,
which sends the rim its certificates and returns the unlock password; that password posted once to the rim's
localhost-only port 4570 (POST /certificateSetup, __pwd); then the rim's 4444 until servicestate 2, its services
started in order, and /qrs/about on the rim checked over mutual TLS. The password is held in memory only. A resumed
join decides from the rim's state: a rim past servicestate 1 is not posted to again.
The rim must be in the site config (qsadmin install --silent --role rim adds it) and at servicestate 1.`;
  static override examples = [
    '<%= config.bin %> cluster join --rim rim1',
    '<%= config.bin %> cluster join --rim qs-rim2.example.com --purpose development --services repository,engine,proxy',
    '<%= config.bin %> cluster join --rim rim1 --failover-candidate --dry-run',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    rim: Flags.string({ description: 'the rim node (name or hostname in the site config)', required: true }),
    name: Flags.string({ description: 'the node\'s name in the QMC [default: its hostname]' }),
    purpose: Flags.string({ description: 'node purpose', options: ['production', 'development', 'both'], default: 'production' }),
    'failover-candidate': Flags.boolean({ description: 'the node may take over as central (it needs QRS, QES, QPS and QSS)' }),
    services: Flags.string({ description: 'service activation: repository plus any of engine, proxy, scheduler, printing (comma-separated) [default: all]' }),
    timeout: Flags.integer({ description: 'seconds to wait for servicestate 2 and each service', default: 180 }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(ClusterJoin);
    const { buildClusterJoin } = await import('../../src/runbooks/cluster.js');
    const words: Record<string, string> = { repository: 'QRS', engine: 'QES', proxy: 'QPS', scheduler: 'QSS', printing: 'QPR' };
    const services = flags.services?.split(',').map((s) => words[s.trim().toLowerCase()] ?? s.trim());
    const rb = await buildClusterJoin({ sitePath: this.sitePath(), rim: flags.rim, name: flags.name, purpose: flags.purpose as 'production', failoverCandidate: flags['failover-candidate'], services, timeoutMs: flags.timeout * 1000 });
    return this.execute(rb, flags);
  }
}
