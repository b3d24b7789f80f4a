// The emulated Host driver: one node of an emulated site (DESIGN.md "Host drivers", "The emulated site").
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import type { DatabaseLocation, ExecOptions, ExecResult, Host, MachineState, ShareCapture, SitePaths } from '../types.js';
import { defaultSitePaths } from '../paths.js';
import { databasePassword } from '../../emulator/services/database.js';
import { SITE_ENV } from '../../emulator/services/spawn.js';
import { EmulatedCertStore } from './certstore.js';
import { EmulatedFiles } from './files.js';
import { EmulatedMachine } from './machine.js';
import { HardlinkShares } from './shares.js';
import { childEnv, ownGroup, track } from '../../runbook/children.js';
import { EmulatedServiceControl } from './services.js';

export { EmulatedCertStore } from './certstore.js';
export { EmulatedFiles } from './files.js';
export { EmulatedServiceControl } from './services.js';

export class EmulatedHost implements Host {
  readonly name: string;
  readonly services: EmulatedServiceControl;
  readonly files: EmulatedFiles;
  readonly certs: EmulatedCertStore;
  readonly paths: SitePaths;
  readonly shares: ShareCapture = new HardlinkShares();
  readonly machine: MachineState;

  // A host for one node of an emulated site; the database password comes from database.passwordEnv or, for the demo, site.emulator.passwordFile.
  constructor(
    readonly site: SiteConfig,
    readonly node: NodeConfig,
  ) {
    if (!node.root) throw new Error(`node ${node.name} of site ${site.name} has no "root" directory: an emulated node needs one`);
    this.name = node.hostname;
    this.files = new EmulatedFiles(node.root);
    this.certs = new EmulatedCertStore(node.root, site.serviceAccount);
    this.paths = defaultSitePaths();
    this.services = new EmulatedServiceControl(site, node, () => databasePassword(site));
    this.machine = new EmulatedMachine(node.root, node.hostname, node.address, node.portOffset ?? 0);
  }

  // Run a program on the node: Windows paths map into the node; a .exe is one of the emulator's fake executables (a Node script).
  async exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const local = /^[A-Za-z]:[\\/]/.test(file) ? this.files.resolve(file) : file;
    const fake = /\.exe$/i.test(local) && path.isAbsolute(local);
    if (fake && !fs.existsSync(local)) {
      return { exitCode: 9009, stdout: '', stderr: `'${file}' is not recognized as an internal or external command, operable program or batch file.` };
    }
    const command = fake ? process.execPath : local;
    const argv = fake ? [local, ...args] : args;
    // A Windows program exits with a 32-bit code (setup's -1 is 4294967295 as Node reads it there); a POSIX process
    // keeps 8 bits, so a fake .exe writes its full code to a file named in its environment, read back below.
    const exitFile = fake ? path.join(os.tmpdir(), `qsadmin-exit-${process.pid}-${randomUUID()}`) : undefined;
    // Only what the caller names reaches the program (children.ts): none of our secrets by inheritance.
    const r = await track(
      execa(command, argv, {
        reject: false,
        cwd: opts.cwd ? this.files.resolve(opts.cwd) : this.node.root,
        env: childEnv({
          ...opts.env,
          [SITE_ENV]: JSON.stringify(this.site),
          QSADMIN_EMULATOR_NODE: this.node.name,
          QSADMIN_EMULATOR_NODE_ROOT: this.node.root!,
          ...(exitFile ? { QSADMIN_EMULATOR_EXIT_FILE: exitFile } : {}),
        }),
        extendEnv: false,
        ...ownGroup(),
        ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
        ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
      }),
    );
    let exitCode = r.exitCode ?? (r.timedOut ? 1460 : 1);
    if (exitFile) {
      const full = fs.existsSync(exitFile) ? Number(fs.readFileSync(exitFile, 'utf8')) : NaN;
      fs.rmSync(exitFile, { force: true });
      if (Number.isFinite(full) && exitCode !== 0) exitCode = full;
    }
    return { exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  // The emulated database service is the site's own cluster: its folders are in the config.
  async database(): Promise<DatabaseLocation | null> {
    const db = this.site.database;
    if (!db.service || db.node !== this.node.name) return null;
    return { service: db.service, binDir: db.binDir, dataDir: db.dataDir, dataDirWindows: db.dataDir, account: db.service === 'postgresql-x64-14' ? 'NT AUTHORITY\\NetworkService' : 'LocalSystem' };
  }

  // Nothing to release: the emulated driver holds no sessions between calls.
  async close(): Promise<void> {}
}
