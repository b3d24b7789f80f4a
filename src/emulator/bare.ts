// Bare emulated Windows nodes: a new server before Qlik Sense is installed. The folder mirrors its C: drive with
// Windows itself and no Qlik program, no Qlik service, no certificate; Qlik_Sense_setup.exe (the emulated installer,
// src/emulator/setup) waits in C:\Installers. Each node has its own loopback address and a hosts file that names every
// node of the planned site, as DNS would. `qsadmin install --silent --emulated-node <folder>` installs it.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../host/paths.js';
import { MAX_PORT_OFFSET } from '../site/config.js';
import { EMULATED_OPERATOR, MACHINE_FILE } from '../host/emulated/machine.js';
import { passwordDigestOf } from '../host/emulated/account-digest.js';
import { launcherExe, MACHINE_FACTS } from './services/install-layout.js';
import { SETUP_RELEASE_ENV } from './setup/common.js';

/** Where the emulated installer is put on every bare node. */
export const SETUP_EXE = 'C:\\Installers\\Qlik_Sense_setup.exe';

export interface BareNodeSpec {
  /** Folder name under <dir>/nodes, e.g. "central", "rim1". */
  name: string;
  hostname: string;
  address: string;
}

export interface BareNodesOptions {
  dir: string;
  nodes: BareNodeSpec[];
  portOffset?: number;
  /** The Windows account that will run the Qlik services (DOMAIN\user) and its password. */
  serviceAccount: { name: string; password: string; admin?: boolean };
  /** Extra machine facts for every node (e.g. { dotnetRelease: 461808 } for a machine without .NET 4.8). */
  machine?: Record<string, unknown>;
}


/** Lay out bare nodes under <dir>/nodes/<name>; returns their folders. */
export function createBareNodes(o: BareNodesOptions): string[] {
  if ((o.portOffset ?? 0) > MAX_PORT_OFFSET) throw new Error(`portOffset ${o.portOffset} is over ${MAX_PORT_OFFSET}: the Service Dispatcher's port 9200 would pass 65535`);
  const dir = path.resolve(o.dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const hosts = o.nodes.map((n) => `${n.address}\t${n.hostname}`).join('\r\n');
  const operator = `${EMULATED_OPERATOR.userDirectory}\\${EMULATED_OPERATOR.userId}`;
  return o.nodes.map((n) => {
    const root = path.join(dir, 'nodes', n.name);
    if (fs.existsSync(path.join(root, '.emulator', MACHINE_FACTS))) throw new Error(`${root} already holds an emulated node: remove it first`);
    for (const d of ['C:\\Windows\\System32\\drivers\\etc', 'C:\\Program Files', 'C:\\ProgramData', 'C:\\Users', 'C:\\Installers']) {
      fs.mkdirSync(windowsToEmulated(root, d), { recursive: true, mode: 0o755 });
    }
    fs.chmodSync(root, 0o755);
    fs.mkdirSync(path.join(root, '.emulator'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(windowsToEmulated(root, 'C:\\Windows\\System32\\drivers\\etc\\hosts'), `# the site's nodes, as DNS resolves them\r\n${hosts}\r\n`);
    fs.writeFileSync(windowsToEmulated(root, SETUP_EXE), launcherExe('../setup/main', 'Qlik_Sense_setup.exe (guide §4): see src/emulator/setup/main.ts'), { mode: 0o755 });
    const facts = { services: [], portOffset: o.portOffset ?? 0, address: n.address, hostname: n.hostname, bare: true };
    fs.writeFileSync(path.join(root, '.emulator', MACHINE_FACTS), JSON.stringify(facts, null, 2) + '\n');
    const machine = {
      user: operator,
      elevated: true,
      accounts: {
        [operator]: { admin: true },
        [o.serviceAccount.name]: { passwordSha256: passwordDigestOf(o.serviceAccount.password), admin: o.serviceAccount.admin ?? true },
      },
      ...o.machine,
    };
    fs.writeFileSync(path.join(root, '.emulator', MACHINE_FILE), JSON.stringify(machine, null, 2) + '\n');
    return root;
  });
}

/** Where the emulator's tests and demo put a patch (as an administrator downloads it). */
export const UPDATE_EXE = 'C:\\Installers\\Qlik_Sense_update.exe';

/**
 * Put a Qlik_Sense_setup.exe of a given release on a node (a real file carries its release in its version resource;
 * the emulated one in its launcher). Without one, the bare node's setup installs May 2025.
 */
export function placeSetupFile(nodeRoot: string, windowsPath: string, release: { name: string; version: string }): void {
  const file = windowsToEmulated(nodeRoot, windowsPath);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, launcherExe('../setup/main', `Qlik_Sense_setup.exe of Qlik Sense ${release.name} (guide §4): see src/emulator/setup/main.ts`, { [SETUP_RELEASE_ENV]: JSON.stringify(release) }), { mode: 0o755 });
}

/** Put a Qlik_Sense_update.exe (Patch N of a release) on a node. */
export function placeUpdateFile(nodeRoot: string, windowsPath: string, patch: { name: string; version: string; patch: number }): void {
  const file = windowsToEmulated(nodeRoot, windowsPath);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, launcherExe('../setup/update', `Qlik_Sense_update.exe of Qlik Sense ${patch.name} Patch ${patch.patch} (guide §4.4): see src/emulator/setup/update.ts`, { [SETUP_RELEASE_ENV]: JSON.stringify(patch) }), { mode: 0o755 });
}
