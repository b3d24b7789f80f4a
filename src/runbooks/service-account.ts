// `qsadmin service-account set` (guide §2.11 B, "Changing the user account type to run the Qlik Sense services on an
// existing site") and `qsadmin service-account rotate-password` (§2.11 C, "Changing the Qlik Sense services account
// password"), node by node, central first, in the guide's order:
//   set: groups (non-administrator) → stop all but the repository database → Full control on %ProgramData%\Qlik\Sense
//        → proxy.exe -bootstrap → scheduler.exe -bootstrap → QSD started → repository.exe -bootstrap [-iscentral]
//        → each Qlik service's Log On → QSD, then QRS, then the rest.
//   rotate: each Qlik service's Log On password → restart each (stop in reverse order, start in the guide's order)
//        → every monitoring_apps_* data connection's password through QRS.
// The old Log On account of every service is recorded in the run's outputs before the first change (the state to go
// back to). The password comes from the environment or a prompt only and is checked against the account (a logon
// check) before anything changes.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import type { Runbook, RunbookItem, Step } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, serviceFact, type QlikServiceName } from '../site/services.js';
import { SERVICE_USER_GROUPS, validAccountName, type AccountInfo } from '../host/accounts.js';
import { checkedBuild, requireElevated } from './operator-checks.js';
import { hostPool, siteLockKey, startNodeOrder, startServiceSteps, stopServiceSteps, waitRepositoryStep, type HostsContext } from './service-steps.js';
import type { BuildEnv } from './registry.js';
import { faultPoint } from '../runbook/fault.js';

export interface ServiceAccountInputs {
  sitePath: string;
  mode: 'set' | 'rotate';
  /** set: the new account (DOMAIN\user); rotate: the site's service account unless given. */
  account?: string;
  /** The variable that holds the password (default QSADMIN_SERVICE_ACCOUNT_PASSWORD). */
  passwordEnv?: string;
  timeoutMs?: number;
}

interface SaContext extends HostsContext {
  account: string;
  password: string;
  timeoutMs?: number;
}

export const DEFAULT_PASSWORD_ENV = 'QSADMIN_SERVICE_ACCOUNT_PASSWORD';
const PROGRAM_DATA = 'C:\\ProgramData\\Qlik\\Sense';

const installed = (n: NodeConfig): QlikServiceName[] => n.services ?? ALL_QLIK_SERVICES;

// The step that records each service's Log On account before the first change (what the run changed from).
function recordOldLogonStep(n: NodeConfig): Step<SaContext> {
  return {
    id: `sa.${n.name}.record`,
    title: 'Record the Log On account of each Qlik service (the state before the change)',
    node: n.name,
    check: async (ctx) => ctx.outputs.get(`sa.before.${n.name}`) !== undefined,
    run: async (ctx) => {
      const h = await ctx.host(n.name);
      const before: Record<string, string | null> = {};
      for (const s of installed(n)) before[s] = await h.accounts.serviceLogon(s);
      ctx.outputs.set(`sa.before.${n.name}`, before);
      ctx.log(`Log On before the change on ${n.name}: ${Object.entries(before).map(([s, a]) => `${serviceFact(s)!.abbr}=${a}`).join(', ')}`);
    },
  };
}

// Steps that set the Log On of each Qlik service of the node (the repository database is left as it is).
function logonSteps(n: NodeConfig, idPrefix: string): Step<SaContext>[] {
  return installed(n).map((s) => ({
    id: `${idPrefix}.${n.name}.${serviceFact(s)!.abbr}`,
    title: `Set the Log On of ${serviceFact(s)!.display} to the account and its password`,
    node: n.name,
    run: async (ctx: SaContext) => {
      await (await ctx.host(n.name)).accounts.setServiceLogon(s, ctx.account, ctx.password);
      faultPoint(`sa.logon.${n.name}.${serviceFact(s)!.abbr}`);
    },
  }));
}

// Run one of the node's executables in bootstrap mode; ENTER is sent for the programs that wait for it.
function bootstrapStep(n: NodeConfig, exe: 'Proxy' | 'Scheduler' | 'Repository', args: string[]): Step<SaContext> {
  return {
    id: `sa.${n.name}.bootstrap.${exe.toLowerCase()}`,
    title: `Run ${exe.toLowerCase()}.exe ${args.join(' ')} from the elevated prompt (Program Files\\Qlik\\Sense\\${exe})`,
    node: n.name,
    run: async (ctx) => {
      const h = await ctx.host(n.name);
      const dir = `${h.paths.qlikInstallDir}\\${exe}`;
      const r = await h.exec(`${dir}\\${exe}.exe`, args, { cwd: dir, input: '\n', timeoutMs: ctx.timeoutMs });
      for (const line of r.stdout.split(/\r?\n/).filter(Boolean)) ctx.log(`${exe}.exe: ${line}`);
      if (r.exitCode !== 0) throw new Error(`${exe.toLowerCase()}.exe ${args.join(' ')} on ${n.name} exited with ${r.exitCode}: ${(r.stdout + r.stderr).trim().split(/\r?\n/).slice(-3).join(' | ')}`);
    },
  };
}

// The node's steps of §2.11 B.
function setItems(site: SiteConfig, n: NodeConfig, info: AccountInfo, timeoutMs?: number): RunbookItem<SaContext>[] {
  const svc = installed(n);
  const items: RunbookItem<SaContext>[] = [recordOldLogonStep(n)];
  if (!info.administrator) {
    items.push({
      id: `sa.${n.name}.groups`,
      title: `Add the account to ${SERVICE_USER_GROUPS.join(' and ')} (it is not an administrator)`,
      node: n.name,
      check: async (ctx) => {
        const now = await (await ctx.host(n.name)).accounts.lookup(ctx.account);
        return SERVICE_USER_GROUPS.every((g) => now.groups.includes(g));
      },
      run: async (ctx) => {
        const h = await ctx.host(n.name);
        for (const g of SERVICE_USER_GROUPS) await h.accounts.addToGroup(ctx.account, g);
      },
    });
  }
  items.push(...stopServiceSteps<SaContext>(n, { idPrefix: `sa.${n.name}.stop`, timeoutMs }));
  items.push({
    id: `sa.${n.name}.acl`,
    title: `Grant the account Full control on ${PROGRAM_DATA}`,
    node: n.name,
    check: async (ctx) => (await ctx.host(n.name)).accounts.hasFullControl(PROGRAM_DATA, ctx.account),
    run: async (ctx) => (await ctx.host(n.name)).accounts.grantFullControl(PROGRAM_DATA, ctx.account),
  });
  if (svc.includes('QlikSenseProxyService')) items.push(bootstrapStep(n, 'Proxy', ['-bootstrap']));
  if (svc.includes('QlikSenseSchedulerService')) items.push(bootstrapStep(n, 'Scheduler', ['-bootstrap']));
  if (svc.includes('QlikSenseRepositoryService')) {
    items.push({
      id: `sa.${n.name}.bootstrap.qsd`,
      title: 'Start the Service Dispatcher (it must run before repository.exe -bootstrap)',
      node: n.name,
      check: async (ctx) => (await (await ctx.host(n.name)).services.status('QlikSenseServiceDispatcher')).state === 'running',
      run: async (ctx) => (await ctx.host(n.name)).services.start('QlikSenseServiceDispatcher', { timeoutMs }),
    });
    items.push(bootstrapStep(n, 'Repository', n.role === 'central' ? ['-bootstrap', '-iscentral'] : ['-bootstrap']));
    items.push({
      id: `sa.${n.name}.bootstrap.qsd-stop`,
      title: 'Stop the Service Dispatcher again, so that it starts as the new account',
      node: n.name,
      check: async (ctx) => (await (await ctx.host(n.name)).services.status('QlikSenseServiceDispatcher')).state !== 'running',
      run: async (ctx) => {
        await (await ctx.host(n.name)).services.stop('QlikSenseServiceDispatcher', { timeoutMs });
      },
    });
  }
  items.push(...logonSteps(n, 'sa.logon'));
  items.push(...startServiceSteps<SaContext>(n, { idPrefix: `sa.${n.name}.start`, timeoutMs, always: true }).map((s) => ({ ...s, onInterrupt: 'run' as const })));
  if (svc.includes('QlikSenseRepositoryService')) items.push(waitRepositoryStep<SaContext>(n, { idPrefix: `sa.${n.name}.wait`, timeoutMs, always: true }));
  items.push(verifyLogonStep(n));
  return items;
}

// Every Qlik service of the node now runs, as the account.
function verifyLogonStep(n: NodeConfig): Step<SaContext> {
  return {
    id: `sa.${n.name}.verify`,
    title: 'Check that every Qlik service runs with the account as its Log On',
    node: n.name,
    run: async (ctx) => {
      const h = await ctx.host(n.name);
      const wrong: string[] = [];
      for (const s of installed(n)) {
        const [logon, st] = [await h.accounts.serviceLogon(s), await h.services.status(s)];
        if ((logon ?? '').toLowerCase() !== ctx.account.toLowerCase() || st.state !== 'running') wrong.push(`${serviceFact(s)!.abbr} (${st.state}, Log On ${logon})`);
      }
      if (wrong.length) throw new Error(`on ${n.name} not running as ${ctx.account}: ${wrong.join(', ')}`);
    },
  };
}

// The node's steps of §2.11 C: each service's password, then a restart of each in order.
function rotateItems(n: NodeConfig, timeoutMs?: number): RunbookItem<SaContext>[] {
  const items: RunbookItem<SaContext>[] = [recordOldLogonStep(n), ...logonSteps(n, 'sa.password')];
  // a restart: the steps' checks would see "running" and skip, so the stop half is marked done in the outputs
  const stops = stopServiceSteps<SaContext>(n, { idPrefix: `sa.${n.name}.restart-stop`, timeoutMs }).map((s) => ({
    ...s,
    check: async (ctx: SaContext) => ctx.outputs.get(`sa.restarted.${n.name}`) === true || (await s.check!(ctx)),
  }));
  items.push(...stops);
  items.push({ id: `sa.${n.name}.restart-mark`, title: 'Record that the services were stopped for the restart', node: n.name, run: async (ctx) => ctx.outputs.set(`sa.restarted.${n.name}`, true) });
  items.push(...startServiceSteps<SaContext>(n, { idPrefix: `sa.${n.name}.restart-start`, timeoutMs, always: true }).map((s) => ({ ...s, onInterrupt: 'run' as const })));
  if (installed(n).includes('QlikSenseRepositoryService')) items.push(waitRepositoryStep<SaContext>(n, { idPrefix: `sa.${n.name}.wait`, timeoutMs, always: true }));
  items.push(verifyLogonStep(n));
  return items;
}

// §2.11 C's last part: the monitoring apps' data connections log on as the service account.
function monitoringConnectionsStep(site: SiteConfig): Step<SaContext> {
  const central = centralNode(site);
  return {
    id: 'sa.monitoring-connections',
    title: 'Update the password of every monitoring_apps_* data connection (QRS: PUT /qrs/dataconnection/{id})',
    node: central.name,
    run: async (ctx) => {
      const { qrsOnNode } = await import('./qrs-node.js');
      const qrs = await qrsOnNode(await ctx.host(central.name), central);
      const all = await qrs.get<Array<{ id: string; name: string; userName?: string }>>('/qrs/dataconnection/full');
      const mine = all.filter((c) => c.name.startsWith('monitoring_apps_'));
      for (const c of mine) await qrs.put(`/qrs/dataconnection/${c.id}`, { ...c, userName: ctx.account, password: ctx.password });
      ctx.log(`updated ${mine.length} monitoring_apps_* data connection(s): ${mine.map((c) => c.name).join(', ') || 'none found'}`);
      ctx.outputs.set('sa.monitoringConnections', mine.map((c) => c.name));
    },
  };
}

/**
 * The site config names the service account (backup and certificate exports run as it): after a `set`, it names the
 * new one. The file as written is changed in that one key and goes through the site-config writer (validated, written
 * to a temporary name and renamed, the old file kept as .bak); a resume finds the key already set and skips.
 */
function siteConfigStep(sitePath: string, account: string): Step<SaContext> {
  const file = path.resolve(sitePath);
  const raw = () => JSON.parse(fs.readFileSync(file, 'utf8')) as SiteConfig;
  return {
    id: 'sa.site-config',
    title: `Name ${account} as serviceAccount in ${file} (the old file kept as site.json.bak)`,
    check: async () => raw().serviceAccount === account,
    run: async (ctx) => {
      const before = raw();
      const { writeSiteConfig } = await import('../site/writer.js');
      writeSiteConfig(file, { ...before, serviceAccount: account }, { force: true });
      ctx.log(`${file}: serviceAccount ${before.serviceAccount ?? '(none)'} → ${account}`);
    },
  };
}

/** Build `service-account set` or `rotate-password`; every check that can refuse runs here, before anything changes. */
export async function buildServiceAccount(inputs: ServiceAccountInputs, env: BuildEnv): Promise<Runbook<SaContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const account = inputs.mode === 'set' ? inputs.account : (inputs.account ?? site.serviceAccount);
  if (!account || !validAccountName(account)) {
    throw new InputError(`--account ${JSON.stringify(account ?? '')} is not an account name Windows takes`, 'give DOMAIN\\user, .\\user (a local account) or user@domain.name');
  }
  const { readSecret, NOT_ASKED_IN_DRY_RUN } = await import('../cli/secrets.js');
  const envName = inputs.passwordEnv ?? DEFAULT_PASSWORD_ENV;
  const raw = process.env[envName];
  if (raw !== undefined && raw.trim() === '') throw new InputError(`the password in ${envName} is blank`, 'the guide requires a non-blank password for the service account (§3.4); set the account\'s password in the variable');
  const password = await readSecret({ label: `password of ${account}`, env: envName, flag: '--password-env', runTimeOnly: true }, env.interactive);
  const nodes = startNodeOrder(site);
  const pool = hostPool(site, (await import('../host/index.js')).openHost);
  const infos = new Map<string, AccountInfo>();
  await checkedBuild(pool, async () => {
    await requireElevated(pool.host, nodes, `qsadmin service-account ${inputs.mode === 'set' ? 'set' : 'rotate-password'}`);
    for (const n of nodes) {
      const info = await (await pool.host(n.name)).accounts.lookup(account);
      if (!info.exists) throw new InputError(`the account ${account} does not exist on ${n.name} (${n.hostname})`, 'create it first (Active Directory, or Computer Management for a local account), or correct --account');
      infos.set(n.name, info);
    }
    if (password !== NOT_ASKED_IN_DRY_RUN && !(await (await pool.host(centralNode(site).name)).accounts.checkPassword(account, password))) {
      throw new InputError(`the password in ${envName} is not the current password of ${account} (a logon check failed)`, inputs.mode === 'rotate' ? 'change the password in the domain first (guide §2.11 C step 1), then give the new one' : 'give the account\'s current password');
    }
  });
  const items: RunbookItem<SaContext>[] = nodes.flatMap((n) => (inputs.mode === 'set' ? setItems(site, n, infos.get(n.name)!, inputs.timeoutMs) : rotateItems(n, inputs.timeoutMs)));
  if (inputs.mode === 'rotate') items.push(monitoringConnectionsStep(site));
  else if (site.serviceAccount !== account) items.push(siteConfigStep(inputs.sitePath, account));
  const notes = inputs.mode === 'set'
    ? [
        `account ${account}: ${nodes.map((n) => `${n.name} ${infos.get(n.name)!.administrator ? 'administrator' : `not an administrator (groups: ${infos.get(n.name)!.groups.join(', ') || 'none'})`}`).join('; ')}`,
        'the repository database service keeps its own Log On (the guide: keep it under Local System with an administrator account)',
        'the Service Dispatcher runs for repository.exe -bootstrap (guide step 9) and is stopped again so that it starts as the new account',
        'not done here: the account\'s access to the file share (guide step 2: give it Read/Write on the share and Full control on its folders) and the "Log on as a service" right',
      ]
    : ['the guide changes the password in the domain first (§2.11 C step 1): the password given must already be the account\'s'];
  return {
    name: 'service-account',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs, account },
    secrets: [password],
    notes,
    items,
    context: (b) => ({ ...b, site, host: pool.host, account, password, timeoutMs: inputs.timeoutMs }) as SaContext,
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}
