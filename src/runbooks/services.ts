// `qsadmin services start|stop`: the Qlik services in the guide's order, on every node or one.
import { checkedBuild, requireElevated } from './operator-checks.js';
import { loadSiteConfig } from '../site/config.js';
import { InputError } from '../runbook/errors.js';
import { findNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, resolveServiceNames, type QlikServiceName } from '../site/services.js';
import type { Runbook, RunbookItem } from '../runbook/step.js';
import { hostPool, serviceItems, siteLockKey, startNodeOrder, stopNodeOrder, waitRepositoryStep, type HostsContext } from './service-steps.js';
import type { BuildEnv } from './registry.js';

export interface ServicesInputs {
  sitePath: string;
  node?: string;
  services?: string[];
  /** stop: also stop the repository database service (off by default). */
  database?: boolean;
  timeoutMs?: number;
  /** --end-stuck-services (stop only). */
  endStuck?: boolean;
}

async function openHostFn() {
  return (await import('../host/index.js')).openHost;
}

function baseContext(site: SiteConfig, open: Awaited<ReturnType<typeof openHostFn>>) {
  const pool = hostPool(site, open);
  return { pool, context: (b: object) => ({ ...b, site, host: pool.host }) as HostsContext };
}

/**
 * The --service selection, checked: every name must be a Qlik service, and each must be installed on at least one
 * of the chosen nodes (otherwise the run would "succeed" having done nothing).
 */
function selectedServices(nodes: NodeConfig[], names?: string[]): QlikServiceName[] | undefined {
  if (!names?.length) return undefined;
  const only = resolveServiceNames(names);
  for (const svc of only) {
    if (!nodes.some((n) => (n.services ?? ALL_QLIK_SERVICES).includes(svc))) {
      throw new InputError(
        `${svc} is not installed on ${nodes.map((n) => n.name).join(', ')}`,
        'pick a node that runs it with --node, or leave --service out to act on every service',
      );
    }
  }
  return only;
}

/** Build the start runbook: database (if on this node and stopped) → QSD → QRS → the rest; central first. */
export async function buildServicesStart(inputs: ServicesInputs, _env?: BuildEnv): Promise<Runbook<HostsContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const nodes = inputs.node ? [findNode(site, inputs.node)] : startNodeOrder(site);
  const only = selectedServices(nodes, inputs.services);
  const { pool, context } = baseContext(site, await openHostFn());
  const items = nodes.flatMap((n) => {
    const steps: RunbookItem<HostsContext>[] = [];
    if (site.database.service && site.database.node === n.name && !only) {
      const svc = site.database.service;
      steps.push({
        id: `services.start.${n.name}.database`,
        title: `Start the repository database service ${svc}`,
        node: n.name,
        check: async (ctx: HostsContext) => (await (await ctx.host(n.name)).services.status(svc)).state === 'running',
        run: async (ctx: HostsContext) => (await ctx.host(n.name)).services.start(svc, { timeoutMs: inputs.timeoutMs }),
      });
    }
    steps.push(...serviceItems<HostsContext>(n, 'start', { only, timeoutMs: inputs.timeoutMs }));
    const repo = (n.services ?? ['QlikSenseRepositoryService']).includes('QlikSenseRepositoryService');
    if (repo && (!only || only.includes('QlikSenseRepositoryService'))) {
      steps.push(waitRepositoryStep<HostsContext>(n, { timeoutMs: inputs.timeoutMs }));
    }
    return steps;
  });
  await checkedBuild(pool, () => requireElevated(pool.host, nodes, 'qsadmin services start'));
  return {
    name: 'services.start',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    items,
    context,
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

/** Build the stop runbook: QPS/QES/QSS/QPR → QRS → QSD, rims first; the database only with --database. */
export async function buildServicesStop(inputs: ServicesInputs, _env?: BuildEnv): Promise<Runbook<HostsContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const nodes = inputs.node ? [findNode(site, inputs.node)] : stopNodeOrder(site);
  const only = selectedServices(nodes, inputs.services);
  const { pool, context } = baseContext(site, await openHostFn());
  const items = nodes.flatMap((n) => {
    const steps: RunbookItem<HostsContext>[] = serviceItems<HostsContext>(n, 'stop', { only, timeoutMs: inputs.timeoutMs, endStuck: inputs.endStuck });
    if (inputs.database && site.database.service && site.database.node === n.name) {
      const svc = site.database.service;
      steps.push({
        id: `services.stop.${n.name}.database`,
        title: `Stop the repository database service ${svc}`,
        node: n.name,
        check: async (ctx: HostsContext) => (await (await ctx.host(n.name)).services.status(svc)).state !== 'running',
        run: async (ctx: HostsContext) => {
          await (await ctx.host(n.name)).services.stop(svc, { timeoutMs: inputs.timeoutMs });
        },
      });
    }
    return steps;
  });
  await checkedBuild(pool, () => requireElevated(pool.host, nodes, 'qsadmin services stop'));
  return {
    name: 'services.stop',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    items,
    context,
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}
