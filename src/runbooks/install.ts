// `qsadmin install --silent`: a Qlik Sense node installed the guide's way (§4.1): preflight, the shared persistence
// configuration written (caller-only) and checked by the documented rules, Qlik_Sense_setup.exe run silently with
// the documented arguments, its exit code read through the §8.11 table and its log scanned on failure, the services
// started in order, and the site config written (central) or given the new node (rim) through the one writer.
//
// Passwords: setup takes them on its command line (userpassword, dbpassword) and in the spc (DbUserPassword), so they
// reach setup's argv and the spc file; both are the guide's requirement. Everything qsadmin writes (journal, log,
// --json) is redacted, and the spc file is removed in an `always` step, also after a failure or an interruption.
import path from 'node:path';
import { openHost } from '../host/index.js';
import { joinLike } from '../host/paths.js';
import type { Host } from '../host/types.js';
import { describeSetupExit, normaliseExitCode } from '../install/exit-codes.js';
import { formatPreflight, runPreflight, type PreflightCheck } from '../install/preflight.js';
import { scanSetupLog } from '../install/setup-log.js';
import { renderSpc, validateSpc, type SpcValues, parseSpc } from '../install/spc.js';
import { readSecret } from '../cli/secrets.js';
import { InputError } from '../runbook/errors.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, DEFAULT_DB_PORT, QRS_API_PORT, QRS_STATE_PORT, startOrder } from '../site/services.js';
import { writeSiteConfig } from '../site/writer.js';
import type { BuildEnv } from './registry.js';
import { DEFAULT_START_TIMEOUT_MS, waitServicestate } from './service-steps.js';

export interface InstallInputs {
  role: 'central' | 'rim';
  /** Qlik_Sense_setup.exe on the node (a Windows path). */
  setup: string;
  /** central: where the new site config goes; rim: the site config the node joins (it gets the node). */
  sitePath: string;
  /** Emulated only: the bare node's folder. */
  emulatedNode?: string;
  /** This node's name in the site config (default: central, or the first label of the hostname). */
  name?: string;
  /** This node's Qlik hostname (default: the machine's; an emulated bare node knows its own). */
  hostname?: string;
  /** A ready spc file (its values are checked, then used as they are); otherwise one is written from the flags. */
  spc?: string;
  dbHost?: string;
  dbPort?: number;
  /** The share root (\\server\share); Apps, StaticContent and ArchivedLogs go under it. */
  share?: string;
  serviceAccount: string;
  serviceAccountPasswordEnv: string;
  /** The superuser password (dbpassword): needed to install the local database. */
  dbPasswordEnv: string;
  /** The qliksenserepository password (DbUserPassword). */
  repositoryPasswordEnv: string;
  installLocalDb?: boolean;
  listenAddresses?: string;
  ipRange?: string;
  maxConnections?: number;
  poolSize?: number;
  skipValidation?: boolean;
  skipPreflight?: boolean;
  installDir?: string;
  force?: boolean;
  timeoutMs?: number;
}

interface InstallContext extends StepContext {
  host: Host;
}

const PROGRAM_DATA = 'C:\\ProgramData';

// The bare node's own facts (address, hostname, port offset), for an emulated install.
async function emulatedNodeFacts(root: string): Promise<{ address: string; hostname: string; portOffset: number }> {
  const { readMachineFacts } = await import('../emulator/services/install-layout.js');
  let f;
  try {
    f = readMachineFacts(root);
  } catch (e) {
    throw new InputError(`${root} is not an emulated node (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give the folder of a bare emulated node (qsadmin demo --via-install makes them)');
  }
  if (!f.address || !f.hostname) throw new InputError(`${root} is not a bare emulated node: its machine facts name no address or hostname`, 'make the node with qsadmin demo --via-install');
  return { address: f.address, hostname: f.hostname, portOffset: f.portOffset };
}

// The node being installed, as the site config will name it.
async function thisNode(inputs: InstallInputs): Promise<NodeConfig> {
  if (inputs.emulatedNode) {
    const root = path.resolve(inputs.emulatedNode);
    const facts = await emulatedNodeFacts(root);
    const hostname = inputs.hostname ?? facts.hostname;
    return { name: inputs.name ?? (inputs.role === 'central' ? 'central' : path.basename(root)), hostname, role: inputs.role, address: facts.address, root, portOffset: facts.portOffset };
  }
  const os = await import('node:os');
  const hostname = inputs.hostname ?? os.hostname();
  return { name: inputs.name ?? (inputs.role === 'central' ? 'central' : hostname.split('.')[0].toLowerCase()), hostname, role: inputs.role, address: hostname, reach: { via: 'local' } };
}

// The site setup works in: a new one of this node (central), or the existing one with this node added (rim).
function draftSite(inputs: InstallInputs, node: NodeConfig, existing: SiteConfig | null): SiteConfig {
  if (existing) {
    const clash = existing.nodes.find((n) => n.name.toLowerCase() === node.name.toLowerCase() || n.hostname.toLowerCase() === node.hostname.toLowerCase());
    if (clash && !inputs.force) throw new InputError(`the site ${existing.name} already has a node ${clash.name} (${clash.hostname})`, 'give another --name, or remove the node first (qsadmin cluster remove)');
    return { ...existing, nodes: [...existing.nodes.filter((n) => n !== clash), node] };
  }
  const share = inputs.share!;
  return {
    name: path.basename(path.dirname(path.resolve(inputs.sitePath))) || 'site',
    driver: inputs.emulatedNode ? 'emulated' : 'windows',
    nodes: [node],
    database: { host: inputs.dbHost ?? node.address, port: inputs.dbPort ?? DEFAULT_DB_PORT + (node.portOffset ?? 0), service: null, superuser: 'postgres', passwordEnv: inputs.dbPasswordEnv },
    serviceAccount: inputs.serviceAccount,
    shareRoot: share,
  };
}

// The spc values for this install (from --spc, or from the flags).
async function spcValues(inputs: InstallInputs, host: Host, site: SiteConfig, repositoryPassword: string): Promise<SpcValues> {
  if (inputs.spc) {
    const { values, unknown } = parseSpc((await host.files.read(inputs.spc)).toString('utf8'));
    const problems = validateSpc(values, unknown);
    if (problems.length) throw new InputError(`the spc file ${inputs.spc} breaks the guide's rules:\n  ${problems.join('\n  ')}`, 'fix the file (guide §4.1 "Configuration file syntax")');
    return values;
  }
  if (!inputs.share) throw new InputError('--share is required (or --spc with a ready shared persistence configuration)', 'give the share root, e.g. --share \\\\fileserver\\QlikShare');
  const central = inputs.role === 'central';
  const local = central && (inputs.installLocalDb ?? true);
  const listener = local && (inputs.listenAddresses !== undefined || inputs.ipRange !== undefined);
  const v: SpcValues = {
    DbUserName: 'qliksenserepository',
    DbUserPassword: repositoryPassword,
    DbHost: site.database.host,
    DbPort: String(site.database.port),
    RootDir: inputs.share,
    StaticContentRootDir: joinLike(inputs.share, 'StaticContent'),
    ArchivedLogsDir: joinLike(inputs.share, 'ArchivedLogs'),
    AppsDir: joinLike(inputs.share, 'Apps'),
    ...(central ? { CreateCluster: 'true', InstallLocalDb: String(local) } : { JoinCluster: 'true' }),
    ...(listener ? { ConfigureDbListener: 'true', ListenAddresses: inputs.listenAddresses ?? '*', IpRange: inputs.ipRange ?? '' } : {}),
    ...(central && inputs.maxConnections ? { MaxConnections: String(inputs.maxConnections) } : {}),
    DbMaximumConnectionPoolSize: String(inputs.poolSize ?? 90),
  };
  const problems = validateSpc(v);
  if (problems.length) throw new InputError(`the shared persistence configuration from these flags breaks the guide's rules:\n  ${problems.join('\n  ')}`, 'fix the flags (see qsadmin install --help)');
  return v;
}

/** Build the install runbook. */
export async function buildInstall(inputs: InstallInputs, env?: BuildEnv): Promise<Runbook<InstallContext>> {
  if (inputs.role !== 'central' && inputs.role !== 'rim') throw new InputError(`--role ${String(inputs.role)}`, 'use --role central (a new site) or --role rim (a node that joins)');
  const node = await thisNode(inputs);
  const existing = inputs.role === 'rim' ? loadSiteConfig(inputs.sitePath) : null;
  if (existing && (existing.driver === 'emulated') !== !!inputs.emulatedNode) throw new InputError(`the site ${existing.name} uses the ${existing.driver} driver`, inputs.emulatedNode ? 'install a Windows node without --emulated-node' : 'give the rim\'s folder with --emulated-node');
  if (!existing && !inputs.force) {
    const fs = await import('node:fs');
    if (fs.existsSync(path.resolve(inputs.sitePath))) throw new InputError(`${path.resolve(inputs.sitePath)} already exists`, 'pass --force to replace it after the install (the old file is kept as .bak), or choose another --out');
  }
  const site = draftSite(inputs, node, existing);
  const secret = (label: string, envName: string) => readSecret({ label, env: envName }, env?.interactive);
  const userPassword = await secret(`password of the service account ${inputs.serviceAccount}`, inputs.serviceAccountPasswordEnv);
  const repositoryPassword = await secret('password of the repository database user qliksenserepository (DbUserPassword)', inputs.repositoryPasswordEnv);
  const central = inputs.role === 'central';
  const dbPassword = central && (inputs.installLocalDb ?? true) ? await secret('password of the database superuser postgres (dbpassword)', inputs.dbPasswordEnv) : undefined;
  const host = await openHost(site, node);
  let checks: PreflightCheck[] = [];
  let spc: SpcValues;
  try {
    spc = await spcValues(inputs, host, site, repositoryPassword);
    if (!inputs.skipPreflight) {
      const c = existing ? centralNode(existing) : null;
      const centralHost = c ? await openHost(existing!, c) : null;
      try {
        checks = await runPreflight({
          role: inputs.role,
          host,
          hostname: node.hostname,
          database: central && (inputs.installLocalDb ?? true) ? undefined : { host: spc.DbHost!, port: Number(spc.DbPort) },
          localDbPort: central && (inputs.installLocalDb ?? true) ? Number(spc.DbPort) - (node.portOffset ?? 0) : undefined,
          share: spc.RootDir,
          serviceAccount: { name: inputs.serviceAccount, password: userPassword },
          central: c && centralHost ? { host: centralHost, address: c.address, api: QRS_API_PORT + (c.portOffset ?? 0), state: QRS_STATE_PORT + (c.portOffset ?? 0) } : undefined,
        });
      } finally {
        await centralHost?.close();
      }
      const failed = checks.filter((x) => x.status === 'fail');
      if (failed.length) throw new InputError(`preflight failed on ${node.hostname}; nothing was installed:\n${formatPreflight(failed)}`, 'fix what failed and run install again (qsadmin preflight shows every check)');
    }
  } catch (e) {
    await host.close();
    throw e;
  }
  const runDirOnNode = (runId: string) => `${PROGRAM_DATA}\\qsadmin\\install\\${runId}`;
  const spcFile = (ctx: StepContext) => `${runDirOnNode(ctx.runId)}\\spc.xml`;
  const logFile = (ctx: StepContext) => `${runDirOnNode(ctx.runId)}\\Qlik_Sense_setup.log`;
  const timeoutMs = inputs.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const qlikInstalled = async (h: Host) => (await h.machine.installedServices()).some((s) => s.name === 'QlikSenseRepositoryService');

  const steps: Step<InstallContext>[] = [
    {
      id: 'install.spc',
      title: 'Write the shared persistence configuration (readable by the caller only)',
      node: node.name,
      check: async (ctx) => (await qlikInstalled(ctx.host)) || (await ctx.host.files.exists(spcFile(ctx))),
      run: async (ctx) => {
        await ctx.host.files.writePrivate(spcFile(ctx), renderSpc(spc));
        ctx.log(`spc written to ${spcFile(ctx)} (${spc.CreateCluster ? 'CreateCluster' : 'JoinCluster'}, database ${spc.DbHost}:${spc.DbPort}, share ${spc.RootDir})`);
      },
    },
    {
      id: 'install.setup',
      title: `Run ${path.win32.basename(inputs.setup)} silently (${central ? 'central node, new site' : 'node joining the site'})`,
      node: node.name,
      check: async (ctx) => {
        if (!(await qlikInstalled(ctx.host))) return false;
        const log = await ctx.host.files.read(logFile(ctx)).then((b) => b.toString('utf8'), () => '');
        if (/Installation completed successfully/.test(log)) return true;
        throw new InputError(`Qlik Sense is on ${node.hostname}, but this run's setup did not finish (its log ${logFile(ctx)} has no success line)`, 'repair or uninstall it (qsadmin uninstall --silent --cleanup), then install again');
      },
      run: async (ctx) => {
        const args = [
          '-s', '-l', logFile(ctx), `spc=${spcFile(ctx)}`, 'accepteula=1', 'desktopshortcut=0',
          `userwithdomain=${inputs.serviceAccount}`, `userpassword=${userPassword}`,
          ...(dbPassword ? [`dbpassword=${dbPassword}`] : []),
          // The wizard asks for this node's own name in the form other nodes use (L3583); the argument table calls it
          // "address of the central node", which on a rim would be wrong: we pass the node's own hostname.
          `hostname=${node.hostname}`,
          ...(inputs.installDir ? [`installdir=${inputs.installDir}`] : []),
          ...(inputs.skipValidation ? ['skipvalidation=1'] : []),
        ];
        ctx.log(`${inputs.setup} ${ctx.redactor.text(args.join(' '))}`);
        ctx.progress('setup is running');
        const r = await ctx.host.exec(inputs.setup, args, { timeoutMs: 2 * 3600_000 });
        const code = normaliseExitCode(r.exitCode);
        if (code === 0) return ctx.log('setup exited 0 (Success)');
        const what = describeSetupExit(code);
        const log = await ctx.host.files.read(logFile(ctx)).then((b) => b.toString('utf8'), () => '');
        const found = scanSetupLog(log);
        const detail = [
          `setup exited ${code} (${what.meaning}, guide §8.11)`,
          found.packages.length ? `failing component: ${found.packages.join(', ')}` : null,
          ...found.errors.slice(-3).map((l) => `log: ${ctx.redactor.text(l)}`),
          `setup log: ${logFile(ctx)}`,
        ].filter(Boolean).join('\n');
        // Codes of checks setup makes before it changes anything: bad input, the node is as it was.
        const refusals = [-2, -4, -6, -7, -8, -10, -12, -13, -14, -15, -18, -19, -20, -21, -24, -1601, -1602];
        if (refusals.includes(code) && !(await qlikInstalled(ctx.host))) throw new InputError(`${detail}\nnothing was installed`, 'fix the cause and run install again');
        throw new Error(detail);
      },
    },
    {
      id: 'install.spc.remove',
      title: 'Delete the shared persistence configuration (it holds the repository password)',
      node: node.name,
      always: true,
      onInterrupt: 'run',
      check: async (ctx) => !(await ctx.host.files.exists(spcFile(ctx))),
      run: async (ctx) => ctx.host.files.remove(spcFile(ctx)),
    },
    {
      id: 'install.services',
      title: 'Start the services in order (QSD → QRS → the others), where setup did not',
      node: node.name,
      check: async (ctx) => (await ctx.host.services.list()).every((s) => s.state === 'running'),
      run: async (ctx) => {
        const db = site.database;
        if (central && db.service && db.node === node.name) await ctx.host.services.start(db.service, { timeoutMs });
        for (const tier of startOrder(node.services ?? ALL_QLIK_SERVICES)) await Promise.all(tier.map((s) => ctx.host.services.start(s, { timeoutMs })));
      },
    },
    {
      id: 'install.servicestate',
      title: central ? 'Wait for the repository to report servicestate 2 (running)' : 'Wait for the repository to report servicestate 1 (waiting for its certificates: cluster join)',
      node: node.name,
      run: async (ctx) => {
        // A rim waits at 1 for its certificates; one that was joined before (a re-install) may already be at 2.
        await waitServicestate(ctx.host, node.hostname, central ? [2] : [1, 2], timeoutMs, ctx);
      },
    },
    {
      id: 'install.site-config',
      title: central ? `Write the site config ${inputs.sitePath}` : `Add ${node.name} (${node.hostname}) to the site config ${inputs.sitePath}`,
      run: async (ctx) => {
        if (!central) {
          const now = loadSiteConfig(inputs.sitePath);
          const nodes = now.nodes.filter((n) => n.name !== node.name && n.hostname.toLowerCase() !== node.hostname.toLowerCase());
          writeSiteConfig(inputs.sitePath, { ...now, nodes: [...nodes, node] }, { force: true });
          return ctx.log(`${node.name} added to ${inputs.sitePath} (the old file kept as .bak); join it with: qsadmin cluster join --rim ${node.name}`);
        }
        const { initSite } = await import('../site/init.js');
        const { site: found } = await initSite({
          emulatedNode: node.root,
          name: site.name,
          passwordEnv: inputs.dbPasswordEnv,
          password: async () => dbPassword ?? (await secret('password of the database superuser postgres', inputs.dbPasswordEnv)),
          openHost,
        });
        const written = writeSiteConfig(inputs.sitePath, found, { force: true });
        ctx.log(`site config written to ${written}`);
      },
    },
  ];

  return {
    name: 'install',
    site: inputs.sitePath,
    lockKey: `qlik-node:${node.hostname.toLowerCase()}|${node.root ?? node.address}`,
    inputs: { ...inputs },
    secrets: [userPassword, repositoryPassword, dbPassword],
    notes: [
      `${central ? 'New site' : `Node joining ${existing!.name}`}: ${node.name} (${node.hostname}), service account ${inputs.serviceAccount}`,
      ...(checks.length ? [`preflight: ${checks.filter((c) => c.status === 'pass').length} pass, ${checks.filter((c) => c.status === 'warn').length} warn${checks.filter((c) => c.status === 'warn').map((c) => `; WARN ${c.title}: ${c.reason}`).join('')}`] : ['preflight skipped (--skip-preflight)']),
      ...(inputs.skipValidation ? ['skipvalidation=1: setup does not check the service account, the share or the database'] : []),
    ],
    items: steps,
    context: (base) => ({ ...base, host }),
    close: () => host.close(),
  };
}
