// The machine state of an emulated node: who qsadmin runs as, elevation and a pending reboot, read from the node's
// `machine.json` (a test or the demo writes it to play a non-elevated caller or a machine waiting for a reboot);
// without it, an elevated local administrator on a machine with no reboot pending.
import fs from 'node:fs';
import path from 'node:path';
import type { Identity, MachineState } from '../types.js';

export const MACHINE_FILE = 'machine.json';

interface MachineFile {
  user?: string;
  elevated?: boolean;
  rebootPending?: string[];
}

export class EmulatedMachine implements MachineState {
  constructor(
    private readonly root: string,
    private readonly hostname: string,
  ) {}

  private read(): MachineFile {
    const file = path.join(this.root, MACHINE_FILE);
    if (!fs.existsSync(file)) return {};
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as MachineFile;
    } catch (e) {
      throw new Error(`the emulated node's ${file} is not valid JSON (${(e as Error).message}): fix or delete it`);
    }
  }

  async identity(): Promise<Identity> {
    const m = this.read();
    const computer = this.hostname.split('.')[0].toUpperCase();
    return { user: m.user ?? `${computer}\\Administrator`, elevated: m.elevated ?? true, computer };
  }

  async rebootPending(): Promise<string[]> {
    return this.read().rebootPending ?? [];
  }
}
