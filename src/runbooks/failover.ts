// `qsadmin failover --to NODE` (guide §2.4 "Manually migrating the central node"): the QMC cannot change which node is
// central; the QRS REST API can. Before: the target must be a failover candidate in QSR and run the services a
// candidate needs (QRS, QES, QPS, QSS: "you must ensure that it is running the necessary services"). Then: GET
// /qrs/serverNodeConfiguration for the ids, an empty POST /qrs/failover/tonode/{id}, and wait until the target
// answers as central (/qrs/about nodeType 1) and the old central as a failover candidate. The site config's roles
// follow (its previous version kept beside it), and the automatic failover timeout is reported (default 10 minutes,
// QMC Cluster settings).
import fs from 'node:fs';
import { InputError } from '../runbook/errors.js';
import type { Runbook, Step } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, findNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import type { QrsClient } from '../qrs/client.js';
import { checkedBuild, requireElevated } from './operator-checks.js';
import { hostPool, siteLockKey, type HostsContext } from './service-steps.js';
import type { BuildEnv } from './registry.js';
import { writeSiteConfig } from '../site/writer.js';
import { faultPoint } from '../runbook/fault.js';

export interface FailoverInputs {
  sitePath: string;
  to: string;
  timeoutMs?: number;
}

interface FailoverContext extends HostsContext {
  qrsOn(n: NodeConfig): Promise<QrsClient>;
}

interface NodeRow {
  id: string;
  hostName: string;
  isCentral: boolean;
  failoverCandidate: boolean;
}

/** The services a failover candidate must run (guide §2.4). */
export const CANDIDATE_SERVICES = ['QlikSenseRepositoryService', 'QlikSenseEngineService', 'QlikSenseProxyService', 'QlikSenseSchedulerService'] as const;

const sameHost = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

async function nodeType(qrs: QrsClient): Promise<number | null> {
  try {
    return (await qrs.get<{ nodeType: number }>('/qrs/about')).nodeType;
  } catch {
    return null;
  }
}

async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function buildFailover(inputs: FailoverInputs, _env: BuildEnv): Promise<Runbook<FailoverContext>> {
  const site: SiteConfig = loadSiteConfig(inputs.sitePath);
  const target = findNode(site, inputs.to);
  const old = centralNode(site);
  const timeoutMs = inputs.timeoutMs ?? 120_000;
  const pool = hostPool(site, (await import('../host/index.js')).openHost);
  const { qrsOnNode } = await import('./qrs-node.js');
  const clients = new Map<string, Promise<QrsClient>>();
  const qrsOn = (n: NodeConfig) => {
    if (!clients.has(n.name)) clients.set(n.name, pool.host(n.name).then((h) => qrsOnNode(h, n)));
    return clients.get(n.name)!;
  };
  let rows: NodeRow[] = [];
  await checkedBuild(pool, async () => {
    if (target.name === old.name) throw new InputError(`${target.name} is already the central node`, 'give a failover candidate with --to');
    await requireElevated(pool.host, [old, target], 'qsadmin failover');
    rows = await (await qrsOn(old)).get<NodeRow[]>('/qrs/servernodeconfiguration/full').catch((e: Error) => {
      throw new InputError(`cannot read the nodes from QRS on the central node ${old.name}: ${e.message}`, 'the Repository Service must run on the central node (qsadmin services start)');
    });
    const row = rows.find((r) => sameHost(r.hostName, target.hostname));
    if (!row) throw new InputError(`${target.hostname} is not a node of the site in QRS`, `nodes: ${rows.map((r) => r.hostName).join(', ')}`);
    // a resumed run may find the target central already (the POST went through before a kill)
    if (!row.isCentral && !row.failoverCandidate) throw new InputError(`${target.name} (${target.hostname}) is not a failover candidate`, `make it one in the QMC (Nodes > Edit > Failover candidate); candidates: ${rows.filter((r) => r.failoverCandidate && !r.isCentral).map((r) => r.hostName).join(', ') || 'none'}`);
    const h = await pool.host(target.name);
    const down: string[] = [];
    for (const s of CANDIDATE_SERVICES) {
      const st = await h.services.status(s);
      if (st.state !== 'running') down.push(`${s} (${st.state})`);
    }
    if (down.length) throw new InputError(`${target.name} does not run every service a failover candidate needs: ${down.join(', ')}`, 'install and start the Repository, Engine, Proxy and Scheduler services there (guide §2.4), e.g. qsadmin services start --node ' + target.name);
  });
  const targetId = rows.find((r) => sameHost(r.hostName, target.hostname))!.id;
  const steps: Step<FailoverContext>[] = [
    {
      id: 'failover.record',
      title: 'Record the central node and the automatic failover timeout (the state before)',
      check: async (ctx) => ctx.outputs.get('failover.before') !== undefined,
      run: async (ctx) => {
        const qrs = await ctx.qrsOn(old);
        const [cluster] = await qrs.get<Array<{ settings: { failoverTimeout?: number } }>>('/qrs/servicecluster/full');
        ctx.outputs.set('failover.before', { central: old.hostname, failoverTimeoutMinutes: cluster?.settings.failoverTimeout ?? null });
        fs.copyFileSync(inputs.sitePath, `${inputs.sitePath}.before-failover-${ctx.runId}`);
      },
    },
    {
      id: 'failover.post',
      title: `POST /qrs/failover/tonode/${targetId} (${target.hostname}) on the central node's QRS`,
      node: old.name,
      check: async (ctx) => (await nodeType(await ctx.qrsOn(target))) === 1,
      run: async (ctx) => {
        await (await ctx.qrsOn(old)).post(`/qrs/failover/tonode/${targetId}`, undefined);
        faultPoint('failover.posted');
      },
    },
    {
      id: 'failover.wait',
      title: `Wait until ${target.hostname} answers as central and ${old.hostname} as a failover candidate`,
      run: async (ctx) => {
        await waitFor(`${target.hostname} answers as the central node`, timeoutMs, async () => (await nodeType(await ctx.qrsOn(target))) === 1);
        await waitFor(`${old.hostname} answers as a failover candidate`, timeoutMs, async () => {
          if ((await nodeType(await ctx.qrsOn(old))) !== 2) return false;
          const now = await (await ctx.qrsOn(target)).get<NodeRow[]>('/qrs/servernodeconfiguration/full');
          return !!now.find((r) => sameHost(r.hostName, old.hostname))?.failoverCandidate;
        });
      },
    },
    {
      id: 'failover.site-config',
      title: `Make ${target.name} the central node in the site config (the previous file kept beside it)`,
      check: async () => centralNode(loadSiteConfig(inputs.sitePath)).name === target.name,
      run: async () => {
        const s = loadSiteConfig(inputs.sitePath);
        for (const n of s.nodes) n.role = n.name === target.name ? 'central' : 'rim';
        writeSiteConfig(inputs.sitePath, s, { force: true });
      },
    },
  ];
  return {
    name: 'failover',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    notes: [`central ${old.name} (${old.hostname}) → ${target.name} (${target.hostname}); the repository database and the file share do not move (guide §2.4: storage is not covered by failover)`],
    items: steps,
    context: (b) => ({ ...b, site, host: pool.host, qrsOn }) as FailoverContext,
    report: (r) => {
      if (r.status !== 'succeeded') return '';
      const m = (r.outputs['failover.before'] as { failoverTimeoutMinutes?: number | null } | undefined)?.failoverTimeoutMinutes;
      return `${target.hostname} is now the central node; ${old.hostname} is a failover candidate. Automatic failover: after ${m ?? 10} minutes without the central node's heartbeat (QMC Cluster settings; the guide's default is 10).`;
    },
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}
