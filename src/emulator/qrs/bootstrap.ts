// The emulated `Repository.exe -bootstrap -standalone -restorehostname` (guide §5.7, "Restoring a Qlik Sense site to a
// machine with a different hostname"): run from a node's Repository folder as a console program. It reads the new
// hostname from Host.cfg, prints "[INFO] Entering main startup phase...", does not finish the hostname update until the
// Service Dispatcher (QSD) runs, then changes the central node's hostname in QSR, logs to the repository log, prints
// "Bootstrap mode has terminated. Press ENTER to exit.." and waits for ENTER.
//
// Certificates: the guide restores the old site's certificates onto the new machine first; bootstrap mode re-creates
// missing or invalid certificates (reference/certificates.md). Here that means: when LocalMachine\My holds no server
// certificate for the new hostname, one is issued by the restored CA (its key is in LocalMachine\Root on a central node)
// and the server certificate of the old hostname is removed. The client certificate and the CA are kept.
import { createInterface } from 'node:readline';
import { sameName } from '../../certs/classify.js';
import { generateLeaf } from '../../certs/generate.js';
import { certPem } from '../../certs/inspect.js';
import { EmulatedCertStore } from '../../host/emulated/certstore.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { openServiceLog, type ServiceLog } from '../services/log.js';
import { SITE_ENV } from '../services/spawn.js';
import { isProcessAlive, processMarkers, readState } from '../services/state.js';
import { localCertificatesDir } from './certificates.js';
import { readHostCfg } from './host-cfg.js';
import { Qsr } from './qsr.js';
import { readRepositoryConnection } from './repository-config.js';

const STARTUP_LINE = '[INFO] Entering main startup phase...';
const TERMINATED_LINE = 'Bootstrap mode has terminated. Press ENTER to exit..';
const EXPECTED = ['-bootstrap', '-standalone', '-restorehostname'];
// Arguments the real program knows (guide §1.3, §5.7); any other is a usage error.
const KNOWN = [...EXPECTED, '-iscentral'];
const QSD = 'QlikSenseServiceDispatcher';
const QRS = 'QlikSenseRepositoryService';

// Print a console line the way the real program does (stdout, CRLF-free here).
function say(line: string): void {
  process.stdout.write(line + '\n');
}

// Sleep a while.
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The usage text a .NET console program prints for arguments it does not know, then a non-zero exit.
function usage(bad: string[]): never {
  process.stderr.write(`Unknown or incomplete arguments: ${bad.join(' ') || '(none)'}\n`);
  say('Usage: Repository.exe [-bootstrap] [-standalone] [-restorehostname] [-iscentral]');
  say('  -bootstrap        run in bootstrap mode (create or repair the repository and certificates)');
  say('  -standalone       run as a normal executable process instead of a Windows service');
  say('  -restorehostname  update the hostname of this node after a restore to a machine with another name');
  say('(emulated: "-bootstrap -standalone -restorehostname" and "-bootstrap [-iscentral]")');
  process.exit(87); // ERROR_INVALID_PARAMETER
}

// The node this process runs on, from the environment the emulated host sets.
function nodeFromEnv(): { site: SiteConfig; node: NodeConfig; root: string } {
  const raw = process.env[SITE_ENV];
  const name = process.env.QSADMIN_EMULATOR_NODE;
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  if (!raw || !name || !root) {
    process.stderr.write('Repository.exe (emulated) must be run on an emulated node (through the node\'s host)\n');
    process.exit(1);
  }
  const site = JSON.parse(raw) as SiteConfig;
  const node = site.nodes.find((n) => n.name === name);
  if (!node) {
    process.stderr.write(`Repository.exe (emulated): node ${name} is not in the site\n`);
    process.exit(1);
  }
  return { site, node, root };
}

// True when a service of the node runs (its state file says running and its process is alive).
function serviceRunning(root: string, name: string): boolean {
  const s = readState(root, name);
  return !!s && s.state === 'running' && isProcessAlive(s.pid, processMarkers(root, name));
}

// Wait (polling) until QSD runs: the hostname update needs the Service Dispatcher (guide §5.7 step 7d).
async function waitForDispatcher(root: string, log: ServiceLog, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let warned = Date.now();
  while (!serviceRunning(root, QSD)) {
    if (Date.now() > deadline) {
      say('[ERROR] The Qlik Sense Service Dispatcher did not start: the hostname update did not complete');
      log.error('restorehostname: the Service Dispatcher is not running; hostname update not completed');
      process.exit(1);
    }
    if (Date.now() - warned > 10_000) {
      say('[INFO] Waiting for the Qlik Sense Service Dispatcher (start it now)...');
      warned = Date.now();
    }
    await sleep(200);
  }
}

// Change the central node's hostname in QSR (ServerNodeConfigurations and LocalConfigs); returns the old name.
async function updateHostname(qsr: Qsr, hostname: string): Promise<string | null> {
  const central = await qsr.query<{ HostName: string }>(`SELECT "HostName" FROM "ServerNodeConfigurations" WHERE "IsCentral" = true`);
  if (central.length !== 1) throw new Error(`QSR has ${central.length} central nodes in ServerNodeConfigurations (expected 1)`);
  const old = central[0].HostName;
  if (sameName(old, hostname)) return null;
  await qsr.query(`UPDATE "ServerNodeConfigurations" SET "HostName" = $1 WHERE "IsCentral" = true`, [hostname]);
  if (await qsr.hasTable('LocalConfigs')) await qsr.query(`UPDATE "LocalConfigs" SET "HostName" = $1 WHERE lower("HostName") = lower($2)`, [hostname, old]);
  return old;
}

// Issue a server certificate for the new hostname from the restored CA when LocalMachine\My has none; drop the old one.
async function repairServerCertificate(root: string, serviceAccount: string, hostname: string, log: ServiceLog): Promise<void> {
  const store = new EmulatedCertStore(root, serviceAccount);
  const my = { location: 'LocalMachine' as const, name: 'My' as const };
  const servers = (await store.list(my)).filter((c) => c.qlikExtension === 'Server' && c.subject !== 'QlikServiceCluster');
  if (servers.some((c) => sameName(c.subject, hostname))) return;
  const rootStore = { location: 'LocalMachine' as const, name: 'Root' as const };
  let ca: { certPem: string; keyPem: string } | null = null;
  for (const c of await store.list(rootStore)) {
    const key = await store.privateKeyPem(rootStore, c.thumbprint);
    if (key && (servers.length === 0 || servers.some((s) => sameName(s.issuer, c.subject)))) ca = { certPem: certPem(c.der), keyPem: key };
  }
  if (!ca) {
    log.warn(`Certificates: no server certificate for ${hostname} and no CA with a private key to issue one`);
    say(`[WARN] No server certificate for ${hostname}: no CA with a private key in LocalMachine\\Root`);
    return;
  }
  const leaf = generateLeaf(ca, hostname, 'Server', { kind: 'server' });
  for (const s of servers) await store.remove(my, s.thumbprint);
  await store.put(my, { certPem: leaf.certPem, keyPem: leaf.keyPem });
  const fs = await import('node:fs');
  const path = await import('node:path');
  const dir = localCertificatesDir(root);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'server.pem'), leaf.certPem);
  fs.writeFileSync(path.join(dir, 'server_key.pem'), leaf.keyPem, { mode: 0o600 });
  log.info(`Certificates: issued a server certificate for ${hostname} from ${servers[0]?.issuer ?? 'the site CA'}; removed ${servers.length} server certificate(s) of the old hostname`);
}

// Wait for one line on stdin (ENTER), or for stdin to close.
function waitForEnter(): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    const done = () => {
      rl.close();
      resolve();
    };
    rl.once('line', done);
    rl.once('close', resolve);
  });
}

// The program: check arguments, wait for QSD, update the hostname, wait for ENTER.
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const norm = args.map((a) => a.toLowerCase().replace(/^\//, '-'));
  const unknown = args.filter((_, i) => !KNOWN.includes(norm[i]));
  if (unknown.length || norm.length === 0) usage(unknown);
  // -bootstrap [-iscentral]: the service-account procedure (guide §2.11 B step 9), in bootstrap-mode.ts
  if (norm.includes('-bootstrap') && norm.every((a) => a === '-bootstrap' || a === '-iscentral') && new Set(norm).size === norm.length) {
    const { site, node, root } = nodeFromEnv();
    const { runRepositoryBootstrap } = await import('./bootstrap-mode.js');
    await runRepositoryBootstrap(site, node, root, norm.includes('-iscentral'));
  }
  if (norm.length !== EXPECTED.length || !EXPECTED.every((e) => norm.includes(e))) {
    process.stderr.write(`Repository.exe ${args.join(' ')}: this mode is not emulated (only -bootstrap -standalone -restorehostname is)\n`);
    process.exit(1);
  }
  const { site, node, root } = nodeFromEnv();
  const hostname = readHostCfg(root);
  if (!hostname) {
    process.stderr.write('Host.cfg not found: Qlik Sense is not installed on this machine\n');
    process.exit(1);
  }
  const log = openServiceLog(root, hostname, QRS, site.serviceAccount);
  if (serviceRunning(root, QRS)) {
    say('[ERROR] The Qlik Sense Repository Service is running: stop it before running in bootstrap mode');
    process.exit(1);
  }
  say(`[INFO] Repository bootstrap mode (standalone), restore hostname: ${hostname}`);
  const qsr = new Qsr(readRepositoryConnection(root, 'QSR'));
  try {
    await qsr.ping();
    log.info(`Bootstrap: connected to ${qsr.where}; restore hostname ${hostname} on node ${node.name}`);
    say(STARTUP_LINE);
    await waitForDispatcher(root, log, Number(process.env.QSADMIN_BOOTSTRAP_QSD_TIMEOUT_MS ?? 600_000));
    const old = await updateHostname(qsr, hostname);
    log.info(old ? `Bootstrap: hostname of the central node changed from ${old} to ${hostname}` : `Bootstrap: hostname ${hostname} already in the repository`);
    await repairServerCertificate(root, site.serviceAccount, hostname, log);
  } catch (err) {
    log.error(`Bootstrap failed: ${(err as Error).message}`);
    say(`[ERROR] ${(err as Error).message}`);
    await qsr.close();
    process.exit(1);
  }
  await qsr.close();
  say(TERMINATED_LINE);
  await waitForEnter();
  process.exit(0);
}

void main();
