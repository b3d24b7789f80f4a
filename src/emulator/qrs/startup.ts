// The emulated Qlik Sense Repository Service: start-up checks (Host.cfg, database, certificates), then the
// REST API on 4242 (mTLS), the state port 4444 and, while certificates are missing, the unlock port 4570.
import https from 'node:https';
import { sameName } from '../../certs/classify.js';
import { emulatorOptions } from '../services/options.js';
import { repositoryPorts, nodePort } from '../services/ports.js';
import type { ServiceRuntime } from '../services/runtime.js';
import { apiHandler } from './api.js';
import { applyStartupCertificateRules, FatalCertificateError, type QrsTlsMaterial } from './certificates.js';
import { hostCfgFile, readHostCfg } from './host-cfg.js';
import { Qsr } from './qsr.js';
import { readRepositoryConnection, repositoryConfigFile, type RepositoryConnection } from './repository-config.js';
import { createStateServer, SERVICE_STATE } from './state-server.js';
import { createUnlockServer } from './unlock-server.js';

const QRS_WEBSOCKET_PORT = 4239; // from QPS (digest §4.1)

// Wait a while.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Run QRS until it is stopped; exits (state stopped, error logged) when a start-up check fails.
export async function runRepositoryService(rt: ServiceRuntime): Promise<void> {
  const opts = emulatorOptions(rt.site);
  const ports = repositoryPorts(rt.node);
  let state: number = SERVICE_STATE.initializing;
  await rt.listen(createStateServer(() => state), ports.state);
  // The "initializing" window (servicestate 0) overlaps the start-up work instead of adding to it.
  const initializing = sleep(opts.qrsInitDelayMs);

  const hostname = readHostname(rt);
  const qsr = await connectRepository(rt);
  const isCentral = await checkHostname(rt, qsr, hostname, opts.assumptions.hostnameMustMatch);

  let tls: QrsTlsMaterial | null;
  try {
    tls = await applyStartupCertificateRules(rt.root, hostname, rt.site.serviceAccount, isCentral, rt.log);
  } catch (err) {
    if (err instanceof FatalCertificateError) rt.fail(err.message);
    throw err;
  }
  if (!tls) {
    state = SERVICE_STATE.certificatesNotInstalled;
    await rt.listen(createUnlockServer((m) => rt.log.info(m)), ports.unlock);
    rt.running(`Service started without certificates (servicestate 1): waiting for the central node; unlock port ${ports.unlock} open on ${rt.node.address}`);
    return;
  }

  await initializing;
  const tlsOptions: https.ServerOptions = { cert: tls.certPem, key: tls.keyPem, ca: tls.caPem, requestCert: true, rejectUnauthorized: true };
  const api = https.createServer(tlsOptions, apiHandler({ qsr, hostname, isCentral, buildVersion: opts.buildVersion, log: (m) => rt.log.error(m) }));
  await rt.listen(api, ports.api);
  const websocket = https.createServer(tlsOptions, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('websocket endpoint (emulated): upgrade required');
  });
  await rt.listen(websocket, nodePort(rt.node, QRS_WEBSOCKET_PORT));
  state = SERVICE_STATE.running;
  rt.running(`Service started: REST API on https://${rt.node.address}:${ports.api} (server certificate ${tls.serverThumbprint}), state on ${ports.state}`);
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
