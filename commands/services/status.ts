import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { ServiceStatus } from '../../src/host/types.js';

interface NodeStatus {
  node: string;
  hostname: string;
  role: string;
  services: ServiceStatus[];
  repositoryState: number | null;
}

export default class ServicesStatus extends QsadminCommand {
  static override description = 'Show the state of every Qlik Sense service on every node, in start order, and the QRS servicestate';
  static override examples = ['<%= config.bin %> services status', '<%= config.bin %> services status --node rim1 --json'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    node: Flags.string({ description: 'only this node (name or hostname)', env: 'QSADMIN_NODE' }),
  };

  async run(): Promise<{ site: string; nodes: NodeStatus[] }> {
    const { flags } = await this.parseCommon(ServicesStatus);
    const site = await this.site();
    const { openHost } = await import('../../src/host/index.js');
    const { startNodeOrder } = await import('../../src/runbooks/service-steps.js');
    const { findNode } = await import('../../src/site/model.js');
    const nodes = flags.node ? [findNode(site, flags.node)] : startNodeOrder(site);
    const out: NodeStatus[] = [];
    for (const n of nodes) {
      const h = await openHost(site, n.name);
      try {
        const services = await h.services.list();
        const repositoryState = await h.services.repositoryState();
        out.push({ node: n.name, hostname: n.hostname, role: n.role, services, repositoryState });
        this.say(`${n.name} (${n.hostname}, ${n.role}) servicestate ${repositoryState ?? 'unreachable'}`);
        for (const s of services) this.say(`  ${s.state.padEnd(13)} ${s.name}${s.pid ? ` (pid ${s.pid})` : ''}`);
      } finally {
        await h.close();
      }
    }
    return { site: site.name, nodes: out };
  }
}
