// The emulated `proxy.exe -bootstrap` and `scheduler.exe -bootstrap` (guide §1.3 QPS/QSS "bootstrap mode", §2.11 B
// steps 7-8): console programs run from an elevated prompt while their service is stopped. Run in bootstrap mode, the
// program prepares what its service needs to run as a non-administrator (emulated: it records the bootstrap in the
// node's local security, which the service's start checks, emulator/services/logon.ts); then it ends.
// Arguments as the guide lists them (-bootstrap, -bootstrap=install, -bootstrap=uninstall); anything else is a usage
// error, exit 87. The console lines are the emulator's own (the guide quotes none for these two programs).
import { EmulatedLocalSecurity } from '../../host/emulated/accounts.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { SITE_ENV } from './spawn.js';
import { isProcessAlive, processMarkers, readState } from './state.js';

const PROGRAMS: Record<string, { service: string; display: string }> = {
  proxy: { service: 'QlikSenseProxyService', display: 'Qlik Sense Proxy Service' },
  scheduler: { service: 'QlikSenseSchedulerService', display: 'Qlik Sense Scheduler Service' },
};

function say(line: string): void {
  process.stdout.write(line + '\n');
}

function fail(line: string, code = 1): never {
  say(`[ERROR] ${line}`);
  process.exit(code);
}

async function main(): Promise<void> {
  const [program, ...args] = process.argv.slice(2);
  const p = PROGRAMS[program];
  if (!p) fail(`unknown program ${program}`);
  const exe = `${program}.exe`;
  const norm = args.map((a) => a.toLowerCase().replace(/^\//, '-'));
  if (norm.length !== 1 || !['-bootstrap', '-bootstrap=install', '-bootstrap=uninstall'].includes(norm[0])) {
    process.stderr.write(`Unknown or incomplete arguments: ${args.join(' ') || '(none)'}\n`);
    say(`Usage: ${exe} [-bootstrap | -bootstrap=install | -bootstrap=uninstall]`);
    say('(emulated: run as a Windows service through the service control; -bootstrap from an elevated prompt)');
    process.exit(87);
  }
  const raw = process.env[SITE_ENV];
  const name = process.env.QSADMIN_EMULATOR_NODE;
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  if (!raw || !name || !root) fail(`${exe} (emulated) must be run on an emulated node (through the node's host)`);
  const site = JSON.parse(raw) as SiteConfig;
  const node = site.nodes.find((n) => n.name === name) as NodeConfig;
  const id = await new EmulatedMachine(root, node.hostname).identity();
  // installing certificates and performance counters needs an administrator's token (guide §2.11 A step 1)
  if (!id.elevated) fail(`Access is denied: run ${exe} -bootstrap from an elevated command prompt (Run as administrator)`, 5);
  const st = readState(root, p.service);
  if (st && st.state !== 'stopped' && isProcessAlive(st.pid, processMarkers(root, p.service))) fail(`The ${p.display} is running: stop it before running in bootstrap mode`);
  say(`[INFO] ${p.display} bootstrap mode (${norm[0]})`);
  if (norm[0] === '-bootstrap' || norm[0] === '-bootstrap=install') {
    new EmulatedLocalSecurity(site, node).markBootstrapped(exe);
    say('[INFO] Certificate access and performance counters set up for the members of Qlik Sense Service Users');
  }
  say('Bootstrap mode has terminated.');
  process.exit(0);
}

void main();
