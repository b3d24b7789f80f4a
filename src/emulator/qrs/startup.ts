// The start-up work of the emulated QRS, loaded by main.ts once the state port answers: Host.cfg, the database
// (guide §8.9), the certificate rules, and the HTTPS listeners of the REST API (mTLS) and the websocket port.
import https from 'node:https';
import type { Server } from 'node:net';
import { sameName } from '../../certs/classify.js';
import type { ResolvedEmulatorOptions } from '../services/options.js';
import { repositoryPorts, nodePort } from '../services/ports.js';
import type { ServiceRuntime } from '../services/runtime.js';
import { installedRelease } from '../../installer/releases.js';
import { readProducts } from '../setup/products.js';
import { apiHandler } from './api.js';
import { applyStartupCertificateRules, FatalCertificateError, type QrsTlsMaterial } from './certificates.js';
import { hostCfgFile, readHostCfg } from './host-cfg.js';
import { Qsr } from './qsr.js';
import { readRepositoryConnection, repositoryConfigFile, type RepositoryConnection } from './repository-config.js';

const QRS_WEBSOCKET_PORT = 4239; // from QPS (digest §4.1)

/** What the start-up checks found: the database pool, this node's hostname and role, and its TLS material (null: none yet). */
export interface StartupResult {
  qsr: Qsr;
  hostname: string;
  isCentral: boolean;
  tls: QrsTlsMaterial | null;
}

// Check Host.cfg, connect to QSR, check the hostname and apply the certificate rules; fails the service when a check fails.
export async function runStartupChecks(rt: ServiceRuntime, opts: ResolvedEmulatorOptions): Promise<StartupResult> {
  const hostname = readHostname(rt);
  const qsr = await connectRepository(rt);
  const isCentral = await checkHostname(rt, qsr, hostname, opts.assumptions.hostnameMustMatch);
  try {
    const tls = await applyStartupCertificateRules(rt.root, hostname, rt.site.serviceAccount, isCentral, rt.log);
    return { qsr, hostname, isCentral, tls };
  } catch (err) {
    if (err instanceof FatalCertificateError) rt.fail(err.message);
    throw err;
  }
}

// The REST API (4242) and websocket (4239) listeners, not yet listening: mutual TLS with the node's certificate and the site CA.
export function createApiListeners(rt: ServiceRuntime, checked: StartupResult, tls: QrsTlsMaterial, opts: ResolvedEmulatorOptions): Array<{ server: Server; port: number }> {
  const tlsOptions: https.ServerOptions = { cert: tls.certPem, key: tls.keyPem, ca: tls.caPem, requestCert: true, rejectUnauthorized: true };
  const { qsr, hostname, isCentral } = checked;
  // /qrs/about reports the build installed on this node (its latest patch, else its release), as a real QRS does.
  const installed = installedRelease(readProducts(rt.root));
  const api = https.createServer(tlsOptions, apiHandler({ qsr, hostname, isCentral, buildVersion: installed?.build ?? opts.buildVersion, log: (m) => rt.log.info(m), root: rt.root, serviceAccount: rt.site.serviceAccount, portOffset: rt.node.portOffset ?? 0 }));
  const websocket = https.createServer(tlsOptions, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('websocket endpoint (emulated): upgrade required');
  });
  return [
    { server: api, port: repositoryPorts(rt.node).api },
    { server: websocket, port: nodePort(rt.node, QRS_WEBSOCKET_PORT) },
  ];
}

// The hostname this node has in Host.cfg; fails the service when the file is missing or unreadable.
function readHostname(rt: ServiceRuntime): string {
  try {
    const name = readHostCfg(rt.root);
    if (name) return name;
    rt.fail(`Host.cfg not found at ${hostCfgFile(rt.root)}: the node is not installed, or the file was deleted`);
  } catch (err) {
    rt.fail(`Host.cfg at ${hostCfgFile(rt.root)} cannot be read: ${(err as Error).message}`);
  }
}

// Connect to QSR with the connection string from Repository.exe.config; fails the service when it cannot (guide §8.9).
async function connectRepository(rt: ServiceRuntime): Promise<Qsr> {
  let conn: RepositoryConnection;
  try {
    conn = readRepositoryConnection(rt.root, 'QSR');
  } catch (err) {
    rt.fail(`Cannot read the QSR connection string from ${repositoryConfigFile(rt.root)}: ${(err as Error).message}`);
  }
  if (rt.faults.wrongRepositoryPassword) conn = { ...conn, password: `${conn.password}-wrong` }; // emulated fault
  const qsr = new Qsr(conn, rt.faults.slowDatabaseMs ?? 0);
  rt.onStop(() => qsr.close());
  try {
    await qsr.ping();
  } catch (err) {
    await qsr.close();
    rt.fail(`Cannot connect to the repository database ${qsr.where}: ${(err as Error).message}. The Repository Service cannot start without its database (guide §8.9).`);
  }
  rt.log.info(`Connected to the repository database ${qsr.where}`);
  return qsr;
}

// EMULATOR ASSUMPTION (the guide is silent; site.emulator.assumptions.hostnameMustMatch, on by default): QRS refuses
// to start when the Host.cfg hostname is not a node of the site in QSR. Returns whether QSR calls this node central.
async function checkHostname(rt: ServiceRuntime, qsr: Qsr, hostname: string, mustMatch: boolean): Promise<boolean> {
  let nodes: Awaited<ReturnType<Qsr['serverNodes']>>;
  let local: string[];
  try {
    nodes = await qsr.serverNodes();
    local = await qsr.localConfigHostnames();
  } catch (err) {
    rt.fail(`Cannot read the site's nodes from the repository database ${qsr.where}: ${(err as Error).message}`);
  }
  const known = nodes.find((n) => sameName(n.hostName, hostname));
  if (!known && rt.node.role !== 'central' && !(await hasQlikCertificates(rt))) {
    // A new node after setup: not in QSR until the central node adds it, no certificates until they are distributed.
    rt.log.info(`${hostname} is not registered in the site yet: waiting for the central node to add it and distribute its certificates`);
    return false;
  }
  if (!known && !local.some((h) => sameName(h, hostname))) {
    const listed = [...new Set([...nodes.map((n) => n.hostName), ...local])].join(', ') || '(none)';
    const message = `The hostname "${hostname}" in Host.cfg is not a node of this site in QSR ("ServerNodeConfigurations"/"LocalConfigs": ${listed}). ` +
      'After a restore to a new hostname run Repository.exe -bootstrap -standalone -restorehostname (guide §5.7). ' +
      '[emulator assumption hostnameMustMatch]';
    if (mustMatch) rt.fail(message);
    rt.log.warn(`${message} Continuing: site.emulator.assumptions.hostnameMustMatch is false.`);
  }
  return known?.isCentral ?? rt.node.role === 'central';
}

// Whether the node's LocalMachine\My holds any Qlik certificate (a node that was registered once has them).
async function hasQlikCertificates(rt: ServiceRuntime): Promise<boolean> {
  const { EmulatedCertStore } = await import('../../host/emulated/certstore.js');
  const certs = await new EmulatedCertStore(rt.root, rt.site.serviceAccount).list({ location: 'LocalMachine', name: 'My' });
  return certs.some((c) => c.qlikExtension !== null);
}
