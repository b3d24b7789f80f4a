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
  await rt.listen(createStateServer(() => state), ports.state);
  // The "initializing" window (servicestate 0) overlaps the start-up work instead of adding to it. Loading that work's
  // modules (pg, https, the certificate code) is part of it, so they are imported only now that the state port answers.
  const initializing = sleep(opts.qrsInitDelayMs);
  const { runStartupChecks, createApiListeners } = await import('./startup.js');
  const checked = await runStartupChecks(rt, opts);
  if (!checked.tls) {
    state = SERVICE_STATE.certificatesNotInstalled;
    await rt.listen(createUnlockServer((m) => rt.log.info(m)), ports.unlock);
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
