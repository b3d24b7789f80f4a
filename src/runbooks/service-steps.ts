// Steps that stop and start Qlik services in the guide's order; shared by services, backup and restore runbooks.
import type { Host } from '../host/types.js';
import { isGroup, type RunbookItem, type Step, type StepContext } from '../runbook/step.js';
import type { NodeConfig, SiteConfig } from '../site/model.js';
import { rimNodes, centralNode } from '../site/model.js';
import { ALL_QLIK_SERVICES, serviceFact, startOrder, type QlikServiceName, type ServiceName } from '../site/services.js';

export interface HostsContext extends StepContext {
  site: SiteConfig;
  host(node: string): Promise<Host>;
}

export const DEFAULT_STOP_TIMEOUT_MS = 60_000;
export const DEFAULT_START_TIMEOUT_MS = 120_000; // guide §8.9: QRS may need ServicesPipeTimeout=120000

/**
 * The site's identity for its lock: the central node's Qlik hostname and the repository database's endpoint. Two
 * config files (or state dirs) that describe one site get one lock; two emulated sites on one machine get two.
 */
export function siteLockKey(site: SiteConfig): string {
  return `qlik-site:${centralNode(site).hostname.toLowerCase()}|db:${site.database.host.toLowerCase()}:${site.database.port}`;
}

/** Nodes in stop order: rims first, then central (inferred from the guide's QPI procedure §2.6, not stated in §5). */
export function stopNodeOrder(site: SiteConfig): NodeConfig[] {
  return [...rimNodes(site), centralNode(site)];
}

/** Nodes in start order: central first, then rims (guide §2.6 QPI order, applied to all procedures). */
export function startNodeOrder(site: SiteConfig): NodeConfig[] {
  return [centralNode(site), ...rimNodes(site)];
}

function installed(node: NodeConfig, only?: string[]): QlikServiceName[] {
  const list = node.services ?? ALL_QLIK_SERVICES;
  if (!only?.length) return list;
  return list.filter((s) => only.some((o) => o === s || serviceFact(s)?.abbr === o.toUpperCase()));
}

interface ServiceStepOptions {
  only?: string[];
  timeoutMs?: number;
  idPrefix?: string;
  always?: boolean;
  /** --end-stuck-services: end the process of a Qlik service still StopPending at the timeout (logged). */
  endStuck?: boolean;
}

/** The step that stops or starts one Qlik service on one node. */
function serviceStep<C extends HostsContext>(node: NodeConfig, svc: QlikServiceName, verb: 'stop' | 'start', opts: ServiceStepOptions): Step<C> {
  const fact = serviceFact(svc)!;
  return {
    id: `${opts.idPrefix ?? `services.${verb}`}.${node.name}.${fact.abbr}`,
    title: `${verb === 'stop' ? 'Stop' : 'Start'} ${fact.display}`,
    node: node.name,
    always: verb === 'start' ? opts.always : undefined,
    check: async (ctx: C) => (verb === 'stop' ? isStopped : isRunning)(await ctx.host(node.name), svc),
    run: async (ctx: C) => {
      const h = await ctx.host(node.name);
      if (verb === 'stop') {
        const r = await h.services.stop(svc, { timeoutMs: opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS, endStuckProcess: opts.endStuck });
        if (r?.endedProcess) ctx.log(`warning: ${fact.display} on ${node.name} was still stopping after ${((opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS) / 1000).toFixed(0)} s: its process ${r.endedProcess} was ended (--end-stuck-services)`);
      } else await h.services.start(svc, { timeoutMs: opts.timeoutMs ?? DEFAULT_START_TIMEOUT_MS });
    },
  };
}

/** The node's services tier by tier: start order (QSD → QRS → QPS/QES/QSS/QPR, §1.3), or its reverse for stop. */
function serviceTiers<C extends HostsContext>(node: NodeConfig, verb: 'stop' | 'start', opts: ServiceStepOptions): Step<C>[][] {
  const tiers = startOrder(installed(node, opts.only)).map((tier) => tier.map((svc) => serviceStep<C>(node, svc, verb, opts)));
  return verb === 'stop' ? tiers.reverse() : tiers;
}

/** One step per Qlik service: stop in reverse start order (QPS/QES/QSS/QPR → QRS → QSD); the database stays up. */
export function stopServiceSteps<C extends HostsContext>(node: NodeConfig, opts: ServiceStepOptions = {}): Step<C>[] {
  return serviceTiers<C>(node, 'stop', opts).flat();
}

/** One step per Qlik service: start in the guide's order (QSD → QRS → QPS/QES/QSS/QPR), §1.3. */
export function startServiceSteps<C extends HostsContext>(node: NodeConfig, opts: ServiceStepOptions = {}): Step<C>[] {
  return serviceTiers<C>(node, 'start', opts).flat();
}

/** Like stopServiceSteps/startServiceSteps, with the services of one tier in a parallel group (no order among them). */
export function serviceItems<C extends HostsContext>(node: NodeConfig, verb: 'stop' | 'start', opts: ServiceStepOptions = {}): RunbookItem<C>[] {
  return serviceTiers<C>(node, verb, opts).map((tier) => {
    if (tier.length === 1) return tier[0];
    const abbrs = tier.map((s) => s.id.slice(s.id.lastIndexOf('.') + 1));
    return { group: `${opts.idPrefix ?? `services.${verb}`}.${node.name}.tier${serviceFact(abbrs[0])!.tier}`, title: `${verb === 'stop' ? 'Stop' : 'Start'} ${abbrs.join(', ')} (no order among them)`, parallel: true, steps: tier };
  });
}

/**
 * The kill guard's list (Runbook.killGuard) for a runbook that stops and starts services with serviceItems: every Qlik
 * service of the site in start order (central first), with the ids of its stop and its start step.
 */
export function killGuardServices(site: SiteConfig, stopPrefix: string, startPrefix: string): Array<{ node: string; service: string; stopStep: string; startStep: string }> {
  return startNodeOrder(site).flatMap((n) =>
    startOrder(installed(n)).flat().map((svc) => {
      const abbr = serviceFact(svc)!.abbr;
      return { node: n.name, service: svc, stopStep: `${stopPrefix}.${n.name}.${abbr}`, startStep: `${startPrefix}.${n.name}.${abbr}` };
    }),
  );
}

/** Wait until QRS reports servicestate 2 (running) on port 4444. */
export function waitRepositoryStep<C extends HostsContext>(node: NodeConfig, opts: { timeoutMs?: number; idPrefix?: string; always?: boolean } = {}): Step<C> {
  return {
    id: `${opts.idPrefix ?? 'services.wait'}.${node.name}.servicestate`,
    title: 'Wait for the repository to report servicestate 2 (running)',
    node: node.name,
    always: opts.always,
    check: async (ctx: C) => (await (await ctx.host(node.name)).services.repositoryState()) === 2,
    run: async (ctx: C) => {
      await waitServicestate(await ctx.host(node.name), node.name, [2], opts.timeoutMs ?? DEFAULT_START_TIMEOUT_MS, ctx);
    },
  };
}

/** Poll QRS's servicestate (4444) until it is one of `want`; the error says what the last answer means. */
export async function waitServicestate(h: Host, node: string, want: number[], timeoutMs: number, ctx: Pick<StepContext, 'progress'>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last: number | null = null;
  while (Date.now() < deadline) {
    last = await h.services.repositoryState();
    if (last !== null && want.includes(last)) return last;
    ctx.progress(`servicestate ${last ?? 'unreachable'}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const meaning = last === 1 ? 'certificates not installed' : last === 0 ? 'still initializing' : 'port 4444 does not answer';
  throw new Error(`QRS on ${node} did not reach servicestate ${want.join(' or ')} in time (last: ${last ?? 'none'}, ${meaning}); see ${h.paths.logDir}\\Repository\\System`);
}

async function isStopped(h: Host, svc: ServiceName): Promise<boolean> {
  const s = await h.services.status(svc);
  return s.state === 'stopped' || s.state === 'absent';
}

async function isRunning(h: Host, svc: ServiceName): Promise<boolean> {
  return (await h.services.status(svc)).state === 'running';
}

/** Open hosts lazily and keep them for the run; close them all at the end. */
export function hostPool(site: SiteConfig, open: (site: SiteConfig, node: string) => Promise<Host>) {
  const hosts = new Map<string, Promise<Host>>();
  return {
    host(node: string): Promise<Host> {
      if (!hosts.has(node)) hosts.set(node, open(site, node));
      return hosts.get(node)!;
    },
    async closeAll(): Promise<void> {
      for (const h of hosts.values()) await (await h).close().catch(() => undefined);
      hosts.clear();
    },
  };
}

/** Apply a change to every step of a list of items (inside groups too). */
export function mapSteps<C extends StepContext>(items: RunbookItem<C>[], fn: (s: Step<C>) => Step<C>): RunbookItem<C>[] {
  return items.map((it) => (isGroup(it) ? { ...it, steps: it.steps.map(fn) } : fn(it)));
}
