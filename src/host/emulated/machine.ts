// The machine state of an emulated node: who qsadmin runs as, elevation and a pending reboot, read from the node's
// `.emulator/machine.json` (a test writes it to play a non-elevated caller or a machine waiting for a reboot);
// without it, an elevated local administrator on a machine with no reboot pending. The installed services and the
// hosts file are what the emulator wrote when it laid the node out (install-layout.ts writeMachineFacts).
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../runbook/errors.js';
import { windowsToEmulated } from '../paths.js';
import type { Identity, InstalledService, MachineState } from '../types.js';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { EmulatedLocalSecurity } from './accounts.js';
import { MACHINE_FACTS, readMachineFacts, type EmulatedServiceRow } from '../../emulator/services/install-layout.js';

export const MACHINE_FILE = 'machine.json';

/** Who runs qsadmin on an emulated node unless its machine.json says otherwise: a domain administrator that the
 * emulator makes a RootAdmin of every site it creates (the account a restore must run as, guide §5.7). */
export const EMULATED_OPERATOR = { userDirectory: 'EMULATED', userId: 'qsadmin' };

interface MachineFile {
  user?: string;
  elevated?: boolean;
  rebootPending?: string[];
}

export class EmulatedMachine implements MachineState {
  constructor(
    private readonly root: string,
    private readonly hostname: string,
    private readonly site?: SiteConfig,
    private readonly node?: NodeConfig,
  ) {}

  private read(): MachineFile {
    const file = path.join(this.root, '.emulator', MACHINE_FILE);
    if (!fs.existsSync(file)) return {};
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as MachineFile;
    } catch (e) {
      throw new InputError(`the emulated node's ${file} is not valid JSON (${(e as Error).message})`, 'fix or delete it');
    }
  }

  async identity(): Promise<Identity> {
    const m = this.read();
    const computer = this.hostname.split('.')[0].toUpperCase();
    return { user: m.user ?? `${EMULATED_OPERATOR.userDirectory}\\${EMULATED_OPERATOR.userId}`, elevated: m.elevated ?? true, computer };
  }

  async rebootPending(): Promise<string[]> {
    return this.read().rebootPending ?? [];
  }

  async installedServices(): Promise<InstalledService[]> {
    const file = path.join(this.root, '.emulator', MACHINE_FACTS);
    let rows: EmulatedServiceRow[];
    try {
      rows = readMachineFacts(this.root).services;
    } catch (e) {
      throw new InputError(`${this.root} is not an emulated Qlik Sense node: ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give the folder of a node of an emulated site (<site>/nodes/central); a site made by an older qsadmin lacks this file: make it again (qsadmin demo --down, then qsadmin demo)');
    }
    // a Log On account set since install (service-account set) is what Win32_Service shows now
    const local = this.site && this.node ? new EmulatedLocalSecurity(this.site, this.node) : null;
    return rows.map((r) => ({ name: r.Name, account: local?.logon(r.Name)?.account ?? r.StartName, commandLine: r.PathName }));
  }

  // C:\Windows\System32\drivers\etc\hosts, as Windows resolves a name before DNS.
  async addressOf(hostname: string): Promise<string> {
    const file = windowsToEmulated(this.root, 'C:\\Windows\\System32\\drivers\\etc\\hosts');
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    for (const line of text.split(/\r?\n/)) {
      const [addr, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
      if (addr && names.some((n) => n.toLowerCase() === hostname.toLowerCase())) return addr;
    }
    throw new Error(`${hostname} does not resolve on the emulated node ${this.hostname} (not in ${file})`);
  }
}
