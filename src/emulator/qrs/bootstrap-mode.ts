// The emulated `repository.exe -bootstrap [-iscentral]` from an elevated prompt (guide §1.3 "QRS bootstrap", §2.11 B
// step 9): QRS stopped, the Service Dispatcher running first (the guide: "The Qlik Sense Service Dispatcher must be
// running before the repository.exe -bootstrap is executed"), -iscentral on the central node. It connects to QSR,
// checks the node's role against -iscentral, records the bootstrap in the node's local security (which the service's
// start checks for a non-administrator account, emulator/services/logon.ts), prints the bootstrap lines and waits for
// ENTER as the -restorehostname mode does.
// EMULATOR ASSUMPTIONS: a central node run without -iscentral (or a rim with it) is refused instead of bootstrapping
// the wrong role; the console lines other than the two the guide's §5.7 quotes are the emulator's own.
import { createInterface } from 'node:readline';
import { sameName } from '../../certs/classify.js';
import { EmulatedLocalSecurity } from '../../host/emulated/accounts.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { openServiceLog } from '../services/log.js';
import { isProcessAlive, processMarkers, readState } from '../services/state.js';
import { readHostCfg } from './host-cfg.js';
import { Qsr } from './qsr.js';
import { readRepositoryConnection } from './repository-config.js';

const STARTUP_LINE = '[INFO] Entering main startup phase...';
const TERMINATED_LINE = 'Bootstrap mode has terminated. Press ENTER to exit..';

function say(line: string): void {
  process.stdout.write(line + '\n');
}

function running(root: string, name: string): boolean {
  const s = readState(root, name);
  return !!s && s.state === 'running' && isProcessAlive(s.pid, processMarkers(root, name));
}

function waitForEnter(): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', () => (rl.close(), resolve()));
    rl.once('close', resolve);
  });
}

/** Run the bootstrap; exits the process with 0 on success, 1 (or 5 not elevated) with an [ERROR] line otherwise. */
export async function runRepositoryBootstrap(site: SiteConfig, node: NodeConfig, root: string, isCentralFlag: boolean): Promise<never> {
  const fail = (line: string, code = 1): never => {
    say(`[ERROR] ${line}`);
    process.exit(code);
  };
  const hostname = readHostCfg(root);
  if (!hostname) fail('Host.cfg not found: Qlik Sense is not installed on this machine');
  const id = await new EmulatedMachine(root, node.hostname).identity();
  if (!id.elevated) fail('Access is denied: run repository.exe -bootstrap from an elevated command prompt (Run as administrator)', 5);
  if (running(root, 'QlikSenseRepositoryService')) fail('The Qlik Sense Repository Service is running: stop it before running in bootstrap mode');
  if (!running(root, 'QlikSenseServiceDispatcher')) fail('The Qlik Sense Service Dispatcher is not running: start it before repository.exe -bootstrap (guide §2.11)');
  const log = openServiceLog(root, hostname!, 'QlikSenseRepositoryService', site.serviceAccount);
  say(`[INFO] Repository bootstrap mode${isCentralFlag ? ' (central node)' : ''}: ${hostname}`);
  const qsr = new Qsr(readRepositoryConnection(root, 'QSR'));
  try {
    await qsr.ping();
    const me = (await qsr.serverNodes()).find((n) => sameName(n.hostName, hostname!));
    const central = me?.isCentral ?? node.role === 'central';
    if (central && !isCentralFlag) fail(`${hostname} is the central node in QSR: run repository.exe -bootstrap -iscentral [emulator assumption]`);
    if (!central && isCentralFlag) fail(`${hostname} is not the central node in QSR: run repository.exe -bootstrap without -iscentral [emulator assumption]`);
    say(STARTUP_LINE);
    new EmulatedLocalSecurity(site, node).markBootstrapped('repository.exe');
    log.info(`Bootstrap: certificate access and performance counters set up for Qlik Sense Service Users on ${hostname}`);
  } catch (err) {
    log.error(`Bootstrap failed: ${(err as Error).message}`);
    await qsr.close();
    fail((err as Error).message);
  }
  await qsr.close();
  say(TERMINATED_LINE);
  await waitForEnter();
  process.exit(0);
}
