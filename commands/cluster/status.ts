import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { NodeStatus } from '../../src/runbooks/cluster.js';

export default class ClusterStatus extends QsadminCommand {
  static override description = `List the site's nodes with their QRS entry, servicestate and service states

Reads the central node's QRS (/qrs/servernodeconfiguration/full) and each node's services and 4444. Changes nothing.
Exits 4 when a node needs attention (not joined, a service not running, servicestate not 2).`;
  static override examples = ['<%= config.bin %> cluster status', '<%= config.bin %> cluster status --json'];
  static override help = EXIT_CODES_HELP;

  async run(): Promise<{ site: string; healthy: boolean; nodes: NodeStatus[]; unknownToConfig: string[] }> {
    await this.parseCommon(ClusterStatus);
    const site = await this.site();
    const { clusterStatus } = await import('../../src/runbooks/cluster.js');
    const r = await clusterStatus(site);
    for (const n of r.nodes) {
      const running = n.services.filter((s) => s.state === 'running').length;
      const q = n.qrs ? `${n.qrs.purpose}${n.qrs.failoverCandidate ? ', failover candidate' : ''}` : 'not in QRS';
      this.say(`${n.name.padEnd(10)} ${n.hostname.padEnd(32)} ${n.role.padEnd(8)} servicestate ${n.servicestate ?? '-'}  services ${running}/${n.services.length} running  ${q}`);
      for (const p of n.problems) this.say(`    ! ${p}`);
    }
    for (const h of r.unknownToConfig) this.say(`QRS lists ${h}, which the site config does not: add it (qsadmin site init) or remove it in the QMC`);
    const healthy = r.nodes.every((n) => n.problems.length === 0) && r.unknownToConfig.length === 0;
    if (!healthy) process.exitCode = 4;
    return { site: site.name, healthy, ...r };
  }
}
