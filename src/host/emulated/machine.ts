// The machine state of an emulated node: who qsadmin runs as, elevation and a pending reboot, read from the node's
// `.emulator/machine.json` (a test writes it to play a non-elevated caller or a machine waiting for a reboot);
// without it, an elevated local administrator on a machine with no reboot pending. The installed services and the
// hosts file are what the emulator wrote when it laid the node out (install-layout.ts writeMachineFacts).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { InputError } from '../../runbook/errors.js';
import { windowsToEmulated } from '../paths.js';
import type { AccountCheck, Identity, InstalledService, MachineInventory, MachineState } from '../types.js';
import { passwordDigestOf } from './account-digest.js';
import { portAccepts } from '../../emulator/services/database.js';
import { MACHINE_FACTS, readMachineFacts, type EmulatedServiceRow } from '../../emulator/services/install-layout.js';

export const MACHINE_FILE = 'machine.json';

/** Who runs qsadmin on an emulated node unless its machine.json says otherwise: a domain administrator that the
 * emulator makes a RootAdmin of every site it creates (the account a restore must run as, guide §5.7). */
export const EMULATED_OPERATOR = { userDirectory: 'EMULATED', userId: 'qsadmin' };

interface MachineFile {
  user?: string;
  elevated?: boolean;
  rebootPending?: string[];
  /** Windows accounts of the machine (bare nodes); absent on sites made by code: every account then exists. */
  accounts?: Record<string, { passwordSha256?: string; admin?: boolean }>;
  /** Inventory overrides (a test plays an old OS, no AVX, .NET 4.7.2, a small disk, a skewed clock). */
  os?: MachineInventory['os'];
  avx?: boolean;
  memoryBytes?: number;
  freeBytes?: number;
  dotnetRelease?: number | null;
  powershellVersion?: string;
  executionPolicy?: string;
  clockSkewMs?: number;
  blankPassword?: boolean;
}

// A Windows Server 2022 machine with .NET 4.8.1 and Windows PowerShell 5.1: what the emulator plays by default.
const DEFAULT_OS = { caption: 'Microsoft Windows Server 2022 Datacenter', version: '10.0.20348', build: 20348 };

export class EmulatedMachine implements MachineState {
  constructor(
    private readonly root: string,
    private readonly hostname: string,
    /** The node's address and port offset: "localhost" of this node, and its documented ports moved by the offset. */
    private readonly address = '127.0.0.1',
    private readonly portOffset = 0,
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
    return rows.map((r) => ({ name: r.Name, account: r.StartName, commandLine: r.PathName }));
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

  async resolve(hostname: string): Promise<{ addresses: string[]; local: boolean }> {
    try {
      const a = await this.addressOf(hostname);
      return { addresses: [a], local: a === this.address || a === '127.0.0.1' };
    } catch {
      return { addresses: [], local: false };
    }
  }

  async inventory(): Promise<MachineInventory> {
    const m = this.read();
    const st = fs.statfsSync(this.root);
    return {
      os: m.os ?? DEFAULT_OS,
      avx: m.avx ?? true,
      memoryBytes: m.memoryBytes ?? 32 * 1024 ** 3,
      freeBytes: m.freeBytes ?? Number(st.bavail) * Number(st.bsize),
      dotnetRelease: m.dotnetRelease === undefined ? 533320 : m.dotnetRelease,
      powershellVersion: m.powershellVersion ?? '5.1.20348.2849',
      executionPolicy: m.executionPolicy ?? 'RemoteSigned',
      clockMs: Date.now() + (m.clockSkewMs ?? 0),
      blankPassword: m.blankPassword ?? false,
    };
  }

  // A documented port is in use when it cannot be bound on the node's address (its offset applied).
  async portsInUse(ports: number[]): Promise<number[]> {
    const used: number[] = [];
    for (const p of ports) {
      const free = await new Promise<boolean>((resolve) => {
        const srv = net.createServer();
        srv.once('error', () => resolve(false));
        srv.listen({ host: this.address, port: p + this.portOffset, exclusive: true }, () => srv.close(() => resolve(true)));
      });
      if (!free) used.push(p);
    }
    return used;
  }

  // A TCP connect from the node's own address, as a check run on the node would make it.
  async canConnect(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
    return portAccepts(host, port, timeoutMs, this.address);
  }

  async account(name: string, password?: string): Promise<AccountCheck> {
    const accounts = this.read().accounts;
    if (!accounts) return { exists: true, admin: true, password: 'unchecked' };
    const key = Object.keys(accounts).find((k) => k.toLowerCase() === name.toLowerCase());
    if (!key) return { exists: false, admin: false };
    const a = accounts[key];
    const check = password === undefined || !a.passwordSha256 ? 'unchecked' : passwordDigestOf(password) === a.passwordSha256 ? 'valid' : 'wrong';
    return { exists: true, admin: a.admin ?? false, password: check };
  }

  // "localhost" of an emulated node is its own address: the request leaves from it and goes to it.
  async postLocalForm(port: number, urlPath: string, fields: Record<string, string>): Promise<{ status: number; body: string }> {
    const body = new URLSearchParams(fields).toString();
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.address, port: port + this.portOffset, path: urlPath, method: 'POST', localAddress: this.address, timeout: 15_000, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`http://localhost:${port}${urlPath} on ${this.hostname} did not answer`)));
      req.on('error', (e) => reject(new Error(`http://localhost:${port}${urlPath} on ${this.hostname}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      req.end(body);
    });
  }
}
