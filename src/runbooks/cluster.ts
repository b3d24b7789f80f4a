// `qsadmin cluster join|remove|status`: rim nodes added and removed over the QRS API, the way the QMC's Nodes page does
// it (guide §4.4; reference/qrs-api.md "Adding a rim node"): the node configuration through the creation container,
// the registration start (the central node sends the rim its certificates and returns the unlock password), the
// password posted to the rim's localhost-only port 4570, then the rim's 4444 until servicestate 2.
//
// The unlock password is a hand-off secret: held in memory only, from the registration call to the one POST that uses
// it, never journaled. A resumed join decides from the rim's own state: a rim that left servicestate 1 was unlocked,
// so nothing is posted again (4570 closes after the unlock); a rim still at 1 gets a new registration (the central
// node issues a new package and password) and one POST.
import { openHost } from '../host/index.js';
import type { Host } from '../host/types.js';
import { centralQrs } from '../qrs/central.js';
import { QrsClient } from '../qrs/client.js';
import { InputError } from '../runbook/errors.js';
import { faultPoint } from '../runbook/fault.js';
import type { Runbook, Step } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, findNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, QRS_API_PORT, QRS_STATE_PORT, QRS_UNLOCK_PORT, resolveServiceNames, startOrder, type QlikServiceName } from '../site/services.js';
import { writeSiteConfig } from '../site/writer.js';
import { requireElevated } from './operator-checks.js';
import type { BuildEnv } from './registry.js';
import { DEFAULT_START_TIMEOUT_MS, hostPool, siteLockKey, stopServiceSteps, waitServicestate, type HostsContext } from './service-steps.js';

export interface JoinInputs {
  sitePath: string;
  /** The rim node (name or hostname in the site config; `qsadmin install --role rim` put it there). */
  rim: string;
  /** Display name in the QMC (default: the hostname). */
  name?: string;
  purpose?: 'production' | 'development' | 'both';
  failoverCandidate?: boolean;
  /** Service activation (QMC "Nodes → Create new"); default all. */
  services?: string[];
  timeoutMs?: number;
}

interface ClusterContext extends HostsContext {
  qrs(): Promise<QrsClient>;
}

interface QrsNode {
  id: string;
  name: string;
  hostName: string;
  isCentral: boolean;
  nodePurpose: number;
  failoverCandidate: boolean;
  engineEnabled?: boolean;
  proxyEnabled?: boolean;
  schedulerEnabled?: boolean;
  printingEnabled?: boolean;
}

const PURPOSE = { production: 0, development: 1, both: 2 } as const;

// The site's central QRS client, made once per run.
function clusterContext(site: SiteConfig, pool: ReturnType<typeof hostPool>) {
  let qrs: Promise<QrsClient> | undefined;
  return (base: object): ClusterContext => ({
    ...(base as HostsContext),
    site,
    host: pool.host,
    qrs: () => (qrs ??= pool.host(centralNode(site).name).then((h) => centralQrs(site, h))),
  });
}

// The QRS node entry of a hostname, or undefined.
async function qrsNode(qrs: QrsClient, hostname: string): Promise<QrsNode | undefined> {
  return (await qrs.get<QrsNode[]>('/qrs/servernodeconfiguration/full')).find((n) => n.hostName.toLowerCase() === hostname.toLowerCase());
}

// The rim node named on the command line: in the site config, and not the central node.
function rimOf(site: SiteConfig, name: string): NodeConfig {
  const rim = findNode(site, name);
  if (rim.role === 'central') throw new InputError(`${rim.name} is the central node`, 'name a rim node: cluster join adds rims to the central node');
  return rim;
}

/** Build the join runbook. */
export async function buildClusterJoin(inputs: JoinInputs, _env?: BuildEnv): Promise<Runbook<ClusterContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const rim = rimOf(site, inputs.rim);
  const central = centralNode(site);
  const purpose = inputs.purpose ?? 'production';
  if (!(purpose in PURPOSE)) throw new InputError(`--purpose ${purpose}`, 'use production, development or both');
  const activation = inputs.services?.length ? resolveServiceNames(inputs.services) : ALL_QLIK_SERVICES;
  if (!activation.includes('QlikSenseRepositoryService')) throw new InputError('--services must include the repository service', 'every node runs QRS; choose among engine, proxy, scheduler, printing for the rest');
  const pool = hostPool(site, openHost);
  const timeoutMs = inputs.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  try {
    await requireElevated(pool.host, [central, rim], 'qsadmin cluster join');
    // Bad input before anything changes: the rim must be installed and waiting, and the nodes must reach each other.
    const rimHost = await pool.host(rim.name);
    const state = await rimHost.services.repositoryState();
    if (state === null) throw new InputError(`the repository on ${rim.hostname} does not answer on port 4444`, `install Qlik Sense there first (qsadmin install --silent --role rim), and start its services`);
    const centralHost = await pool.host(central.name);
    if (state === 1 && !(await centralHost.machine.canConnect(rim.address, QRS_STATE_PORT + (rim.portOffset ?? 0)))) {
      throw new InputError(`the central node cannot reach ${rim.hostname}:4444`, 'open port 4444 on the rim node for the central node (guide §1.3), then join again');
    }
    if (!(await rimHost.machine.canConnect(central.address, QRS_API_PORT + (central.portOffset ?? 0)))) {
      throw new InputError(`${rim.hostname} cannot reach the central node on 4242`, 'open port 4242 on the central node for the rim node (guide §1.3), then join again');
    }
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
  const id = `join.${rim.name}`;
  const steps: Step<ClusterContext>[] = [
    {
      id: `${id}.node`,
      title: `Create the node configuration for ${rim.hostname} on the central node (${purpose}${inputs.failoverCandidate ? ', failover candidate' : ''})`,
      node: central.name,
      check: async (ctx) => {
        const found = await qrsNode(await ctx.qrs(), rim.hostname);
        if (found) ctx.outputs.set('nodeId', found.id);
        return !!found;
      },
      run: async (ctx) => {
        const has = (s: QlikServiceName) => activation.includes(s);
        const created = await (await ctx.qrs()).post<{ configuration: { id: string } }>('/qrs/servernodeconfiguration/container', {
          configuration: {
            name: inputs.name ?? rim.hostname, hostName: rim.hostname, nodePurpose: PURPOSE[purpose], failoverCandidate: !!inputs.failoverCandidate,
            engineEnabled: has('QlikSenseEngineService'), proxyEnabled: has('QlikSenseProxyService'), schedulerEnabled: has('QlikSenseSchedulerService'), printingEnabled: has('QlikSensePrintingService'),
          },
        });
        ctx.outputs.set('nodeId', created.configuration.id);
        ctx.log(`node configuration ${created.configuration.id} created for ${rim.hostname}`);
      },
    },
    {
      id: `${id}.unlock`,
      title: `Distribute the certificates and unlock them on ${rim.hostname} (password to its localhost port ${QRS_UNLOCK_PORT}, once)`,
      node: rim.name,
      // Decided from the rim: once it left servicestate 1 its certificates are unlocked (and 4570 is closed).
      check: async (ctx) => (await (await ctx.host(rim.name)).services.repositoryState()) !== 1,
      run: async (ctx) => {
        const nodeId = ctx.outputs.require<string>('nodeId', `${id}.node`);
        const password = await (await ctx.qrs()).get<string>(`/qrs/servernoderegistration/start/${nodeId}`);
        ctx.redactor.add(password);
        faultPoint('cluster.join.before-unlock');
        const answer = await (await ctx.host(rim.name)).machine.postLocalForm(QRS_UNLOCK_PORT, '/certificateSetup', { __pwd: password });
        if (answer.status !== 200) throw new Error(`${rim.hostname} refused the unlock (${answer.status}): ${ctx.redactor.text(answer.body)}`);
        ctx.log(`${rim.hostname}: ${answer.body.trim()}`);
        faultPoint('cluster.join.after-unlock');
      },
    },
    {
      id: `${id}.servicestate`,
      title: `Wait for ${rim.hostname} to report servicestate 2 (running)`,
      node: rim.name,
      check: async (ctx) => (await (await ctx.host(rim.name)).services.repositoryState()) === 2,
      run: async (ctx) => {
        await waitServicestate(await ctx.host(rim.name), rim.hostname, [2], timeoutMs, ctx);
      },
    },
    {
      id: `${id}.services`,
      title: `Start every service on ${rim.hostname} in order`,
      node: rim.name,
      check: async (ctx) => (await (await ctx.host(rim.name)).services.list()).every((s) => s.state === 'running'),
      run: async (ctx) => {
        const h = await ctx.host(rim.name);
        for (const tier of startOrder(rim.services ?? ALL_QLIK_SERVICES)) await Promise.all(tier.map((s) => h.services.start(s, { timeoutMs })));
      },
    },
    {
      id: `${id}.verify`,
      title: `Check that ${rim.hostname} answers /qrs/about over mutual TLS with the site's certificates`,
      node: rim.name,
      run: async (ctx) => {
        const c = await ctx.qrs();
        const about = await c.forNode(rim.address, QRS_API_PORT + (rim.portOffset ?? 0), rim.hostname).about();
        ctx.log(`${rim.hostname}: QRS ${about.buildVersion} answers with a certificate from the site CA`);
      },
    },
  ];
  return {
    name: 'cluster.join',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    items: steps,
    context: clusterContext(site, pool),
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

export interface RemoveInputs {
  sitePath: string;
  rim: string;
  timeoutMs?: number;
}

/** Build the remove runbook: stop the rim's services, delete its node configuration, drop it from the site config. */
export async function buildClusterRemove(inputs: RemoveInputs, _env?: BuildEnv): Promise<Runbook<ClusterContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const rim = rimOf(site, inputs.rim);
  const pool = hostPool(site, openHost);
  try {
    await requireElevated(pool.host, [centralNode(site), rim], 'qsadmin cluster remove');
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
  const steps: Step<ClusterContext>[] = [
    ...stopServiceSteps<ClusterContext>(rim, { idPrefix: `remove.${rim.name}.stop`, timeoutMs: inputs.timeoutMs }),
    {
      id: `remove.${rim.name}.node`,
      title: `Delete the node configuration of ${rim.hostname} on the central node`,
      node: centralNode(site).name,
      check: async (ctx) => !(await qrsNode(await ctx.qrs(), rim.hostname)),
      run: async (ctx) => {
        const found = await qrsNode(await ctx.qrs(), rim.hostname);
        if (found) await (await ctx.qrs()).delete(`/qrs/servernodeconfiguration/${found.id}`);
      },
    },
    {
      id: `remove.${rim.name}.site-config`,
      title: `Remove ${rim.name} from the site config (the old file kept as .bak)`,
      check: async () => !loadSiteConfig(inputs.sitePath).nodes.some((n) => n.name === rim.name),
      run: async (ctx) => {
        const now = loadSiteConfig(inputs.sitePath);
        writeSiteConfig(inputs.sitePath, { ...now, nodes: now.nodes.filter((n) => n.name !== rim.name) }, { force: true });
        ctx.log(`${rim.name} removed from ${inputs.sitePath}; its machine keeps Qlik Sense installed (qsadmin uninstall --silent on it removes it)`);
      },
    },
  ];
  return {
    name: 'cluster.remove',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    notes: [`${rim.hostname} leaves the site: its services are stopped and its node configuration deleted; the rim's certificates no longer open the site`],
    items: steps,
    context: clusterContext(site, pool),
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

export interface NodeStatus {
  name: string;
  hostname: string;
  role: 'central' | 'rim';
  /** The node's entry in QRS, or null when the central node does not list it (not joined yet). */
  qrs: { id: string; purpose: 'production' | 'development' | 'both'; failoverCandidate: boolean } | null;
  /** QRS servicestate on 4444 (0, 1, 2) or null when it does not answer. */
  servicestate: number | null;
  services: Array<{ name: string; state: string }>;
  /** Problems worth a look ("not joined", "service X stopped"). */
  problems: string[];
}

/** Every node of the site config (and any QRS knows that the config does not), with QRS entry and service states. */
export async function clusterStatus(site: SiteConfig): Promise<{ nodes: NodeStatus[]; unknownToConfig: string[] }> {
  const pool = hostPool(site, openHost);
  try {
    const central = centralNode(site);
    let listed: QrsNode[] | null = null;
    let qrsError: string | null = null;
    try {
      listed = await (await centralQrs(site, await pool.host(central.name))).get<QrsNode[]>('/qrs/servernodeconfiguration/full');
    } catch (e) {
      qrsError = (e as Error).message;
    }
    const purposeName = (p: number) => (['production', 'development', 'both'] as const)[p] ?? 'production';
    const nodes = await Promise.all(site.nodes.map(async (n): Promise<NodeStatus> => {
      const problems: string[] = [];
      let services: Array<{ name: string; state: string }> = [];
      let state: number | null = null;
      try {
        const h = await pool.host(n.name);
        services = (await h.services.list()).map((s) => ({ name: s.name, state: s.state }));
        state = await h.services.repositoryState();
      } catch (e) {
        problems.push(`cannot be asked: ${(e as Error).message}`);
      }
      const entry = listed?.find((q) => q.hostName.toLowerCase() === n.hostname.toLowerCase());
      if (qrsError) problems.push(`the central QRS does not answer: ${qrsError}`);
      else if (!entry) problems.push(n.role === 'rim' ? 'not joined: run qsadmin cluster join --rim ' + n.name : 'not in QRS');
      for (const s of services) if (s.state !== 'running') problems.push(`${s.name} ${s.state}`);
      if (state !== 2) problems.push(`servicestate ${state ?? 'no answer'}${state === 1 ? ' (waiting for certificates)' : ''}`);
      return {
        name: n.name, hostname: n.hostname, role: n.role,
        qrs: entry ? { id: entry.id, purpose: purposeName(entry.nodePurpose), failoverCandidate: entry.failoverCandidate } : null,
        servicestate: state, services, problems,
      };
    }));
    const known = new Set(site.nodes.map((n) => n.hostname.toLowerCase()));
    return { nodes, unknownToConfig: (listed ?? []).filter((q) => !known.has(q.hostName.toLowerCase())).map((q) => q.hostName) };
  } finally {
    await pool.closeAll();
  }
}
