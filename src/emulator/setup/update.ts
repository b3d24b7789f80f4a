// The emulated Qlik_Sense_update.exe (guide §4.4, §3.7): a patch of one release, with the documented commands
// `install`, `uninstall`, `startservices` (with install or uninstall), `log=[path]`, `unpack=[path]` and
// `help` (-h, /h, -?, /?). Patches are cumulative: installing Patch 5 over Patch 3 leaves Patch 5 listed; `uninstall`
// takes the release back to its initial release. The log goes to the user's temp folder unless log= names a file.
//
// EMULATOR ASSUMPTIONS (the guide documents the commands, not the update's exit codes; the codes are setup's §8.11):
//   -2 an unknown command, or neither install, uninstall nor unpack    -9 the patch's release is not installed
//   -22 the installed patch is this one or a later one (superseded)   -8 a reboot is pending   -1602 not elevated
//   -10 Qlik Sense services still run (§3.7 step 1: stop them on all nodes first)
//   -16 not the account that installed the node (§3.7: "the central node will not find the certificates")
// `startservices` starts the node's services after the change (the guide is inconsistent about it, L6220 vs L6251;
// qsadmin starts and checks them itself).
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import { installedRelease, patchNumber } from '../../installer/releases.js';
import { exitWith, machineChecks, nodeFromEnv, onNode, readProducts, requireOriginalAccount, runningQlikServices, setupFileRelease, SetupExit, SetupLog, startServices, writeProducts } from './common.js';

const HELP = `Qlik_Sense_update.exe [install|uninstall] [startservices] [log=path\\filename] [unpack=path] [help]
  install         install the patch without a user interface
  uninstall       uninstall the patch without a user interface
  startservices   with install or uninstall: start the services afterwards
  log=path        where the patch writes its log
  unpack=path     unpack the patch contents without installing
  help            this help (also -h, /h, -?, /?)`;

interface UpdateArgs {
  verb: 'install' | 'uninstall' | 'unpack' | 'help' | null;
  startServices: boolean;
  log?: string;
  unpack?: string;
}

class UpdateArgsError extends Error {}

function parse(argv: string[]): UpdateArgs {
  const out: UpdateArgs = { verb: null, startServices: false };
  const verb = (v: UpdateArgs['verb']) => {
    if (out.verb && out.verb !== v) throw new UpdateArgsError(`${out.verb} and ${v} cannot be combined`);
    out.verb = v;
  };
  for (const a of argv) {
    const lower = a.toLowerCase();
    if (lower === 'install' || lower === 'uninstall') verb(lower);
    else if (lower === 'startservices') out.startServices = true;
    else if (['help', '-h', '/h', '-?', '/?'].includes(lower)) verb('help');
    else if (/^log=/i.test(a)) out.log = a.slice(4).replace(/^"(.*)"$/, '$1');
    else if (/^unpack=/i.test(a)) {
      verb('unpack');
      out.unpack = a.slice(7).replace(/^"(.*)"$/, '$1');
    } else throw new UpdateArgsError(`unknown command "${a}"`);
  }
  if (!out.verb) throw new UpdateArgsError('give install, uninstall, unpack=path or help');
  if (out.startServices && out.verb !== 'install' && out.verb !== 'uninstall') throw new UpdateArgsError('startservices is used with install or uninstall');
  if ((out.log === '' || out.unpack === '')) throw new UpdateArgsError('log= and unpack= need a path');
  return out;
}

async function main(argv: string[]): Promise<number> {
  let log = new SetupLog(null);
  try {
    const args = parse(argv);
    if (args.verb === 'help') {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    const env = nodeFromEnv();
    log = new SetupLog(args.log ? onNode(env.root, args.log) : path.join(windowsToEmulated(env.root, 'C:\\Users\\qsadmin\\AppData\\Local\\Temp'), 'Qlik_Sense_update.log'));
    const file = setupFileRelease();
    if (file.patch === undefined) throw new SetupExit(-5, 'this file carries no patch (malformed bundle)');
    log.info(`Qlik Sense update (emulated) ${argv.join(' ')}: Qlik Sense ${file.name} Patch ${file.patch} (${file.version})`);
    if (args.verb === 'unpack') {
      const dir = onNode(env.root, args.unpack!);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'patch-contents.json'), JSON.stringify({ release: file.name, patch: file.patch, version: file.version }, null, 2) + '\n');
      log.info(`Unpacked the patch contents to ${args.unpack}; nothing was installed`);
      return 0;
    }
    const machine = new EmulatedMachine(env.root, env.node.hostname, env.node.address, env.node.portOffset ?? 0);
    await machineChecks(machine, log);
    const installed = installedRelease(readProducts(env.root));
    if (!installed) throw new SetupExit(-9, 'Qlik Sense is not installed on this machine: a patch needs its release installed (the baseline)');
    await requireOriginalAccount(machine, env.root);
    if (installed.name !== file.name) throw new SetupExit(-9, `this is a patch of Qlik Sense ${file.name}; the installed release is ${installed.name}: no baseline for it`);
    const current = Math.max(0, ...installed.patches.map((p) => patchNumber(p) ?? 0));
    if (args.verb === 'install' && current >= file.patch) throw new SetupExit(-22, `Patch ${file.patch} is superseded: Qlik Sense ${file.name} Patch ${current} is installed`);
    const running = await runningQlikServices(env.site, env.node);
    if (running.length) throw new SetupExit(-10, `Qlik Sense services still run on this node (${running.join(', ')}): stop the services on all nodes first (§3.7 step 1)`);
    const others = readProducts(env.root).filter((p) => !new RegExp(`^Qlik Sense ${file.name} Patch \\d+$`).test(p.name));
    if (args.verb === 'install') {
      writeProducts(env.root, [...others, { name: `Qlik Sense ${file.name} Patch ${file.patch}`, version: file.version }]);
      log.info(`Installed Qlik Sense ${file.name} Patch ${file.patch} (${file.version})${current ? `, which includes Patch ${current}` : ''}`);
    } else {
      if (!installed.patches.length) throw new SetupExit(-9, `no patch of Qlik Sense ${file.name} is installed: nothing to uninstall`);
      writeProducts(env.root, others);
      log.info(`Uninstalled ${installed.patches.join(', ')}: Qlik Sense ${file.name} is back to its initial release`);
    }
    if (args.startServices) await startServices(env.site, env.node, process.env[env.site.database.passwordEnv ?? ''] ?? '', log);
    log.info(`${args.verb === 'install' ? 'Installation' : 'Uninstall'} completed successfully`);
    return 0;
  } catch (e) {
    if (e instanceof UpdateArgsError) {
      log.error(`Command line parsing error: ${e.message}`);
      process.stderr.write(`${e.message}\n${HELP}\n`);
      return -2;
    }
    const exit = e instanceof SetupExit ? e : new SetupExit(-1, (e as Error).stack ?? String(e));
    log.error(`Error ${exit.code}: ${exit.message}`);
    return exit.code;
  }
}

main(process.argv.slice(2)).then(exitWith);
