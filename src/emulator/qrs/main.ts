// The emulated Qlik Sense Repository Service: the state port 4444 first (servicestate 0 while it starts), then the
// start-up checks (Host.cfg, database, certificates), then the REST API on 4242 (mTLS) or, while certificates are
// missing, the unlock port 4570.
import { emulatorOptions } from '../services/options.js';
import { repositoryPorts } from '../services/ports.js';
import type { ServiceRuntime } from '../services/runtime.js';
import { createStateServer, SERVICE_STATE } from './state-server.js';
import { createUnlockServer } from './unlock-server.js';

// Wait a while.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Run QRS until it is stopped; exits (state stopped, error logged) when a start-up check fails.
export async function runRepositoryService(rt: ServiceRuntime): Promise<void> {
  const opts = emulatorOptions(rt.site);
  const ports = repositoryPorts(rt.node);
  let state: number = SERVICE_STATE.initializing;
  let pkg: Buffer | null = null;
  await rt.listen(createStateServer(() => state, (p) => {
    pkg = p;
    rt.log.info(`Certificate package received from the central node (${p.length} bytes): waiting for its password on the unlock port`);
  }), ports.state);
  // The "initializing" window (servicestate 0) overlaps the start-up work instead of adding to it. Loading that work's
  // modules (pg, https, the certificate code) is part of it, so they are imported only now that the state port answers.
  const initializing = sleep(opts.qrsInitDelayMs);
  const { runStartupChecks, createApiListeners } = await import('./startup.js');
  const checked = await runStartupChecks(rt, opts);
  if (!checked.tls) {
    state = SERVICE_STATE.certificatesNotInstalled;
    const unlockServer = createUnlockServer(rt.node.address, (m) => rt.log.info(m), async (password) => {
      if (!pkg) return 'no-package';
      const { openPackage } = await import('./distribution.js');
      const set = openPackage(pkg, password);
      if (!set) return 'wrong-password';
      const { installRimCertificates } = await import('./certificates.js');
      await installRimCertificates(rt.root, set, rt.site.serviceAccount);
      rt.log.info(`Certificates unlocked and installed for ${set.hostname}: closing the unlock port and starting the REST API`);
      state = SERVICE_STATE.initializing;
      // The answer goes out first; then the port closes and the service goes on with its certificates.
      setTimeout(() => void rt.unlisten(unlockServer, ports.unlock).then(() => openApi()), 50);
      return 'unlocked';
    });
    const openApi = async () => {
      const again = await runStartupChecks(rt, opts);
      if (!again.tls) rt.fail('Certificates were unlocked but are not usable: the service shuts down');
      for (const l of createApiListeners(rt, again, again.tls, opts)) await rt.listen(l.server, l.port);
      state = SERVICE_STATE.running;
      rt.log.info(`Service running: REST API on https://${rt.node.address}:${ports.api} (server certificate ${again.tls.serverThumbprint})`);
    };
    await rt.listen(unlockServer, ports.unlock);
    rt.running(`Service started without certificates (servicestate 1): waiting for the central node; unlock port ${ports.unlock} open on ${rt.node.address}`);
    return;
  }
  // The listeners (and their TLS contexts) are made while still initializing; they open once the window is over.
  const listeners = createApiListeners(rt, checked, checked.tls, opts);
  await initializing;
  for (const l of listeners) await rt.listen(l.server, l.port);
  const stuckMs = rt.faults.qrsStuckInitializingMs ?? 0;
  if (stuckMs > 0) {
    // Emulated fault: the service is up, but its state port keeps saying "initializing" for a while.
    rt.log.warn(`servicestate stays 0 (initializing) for ${stuckMs} ms (emulated fault qrsStuckInitializingMs)`);
    setTimeout(() => (state = SERVICE_STATE.running), stuckMs).unref();
    rt.running(`Service started, still initializing: REST API on https://${rt.node.address}:${ports.api}, state on ${ports.state}`);
    return;
  }
  state = SERVICE_STATE.running;
  rt.running(`Service started: REST API on https://${rt.node.address}:${ports.api} (server certificate ${checked.tls.serverThumbprint}), state on ${ports.state}`);
}
