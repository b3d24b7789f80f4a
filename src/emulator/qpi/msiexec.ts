// The emulated msiexec.exe, for the clean-up after QPI (guide §2.6): `/x <msi> /qn` uninstalls the old database MSI
// and `/qb /i "PostgreSQL14.msi" SKIPINSTALLDBSERVICE="1" INSTALLDIR="..."` reinstalls the client binaries without a
// database service. The exit codes are Windows Installer's own: 0, 1605 (product not installed), 1619 (package
// cannot be opened), 1639 (invalid command line). An emulated .msi is a JSON file naming its product and files.
import fs from 'node:fs';
import path from 'node:path';
import { windowsToEmulated } from '../../host/paths.js';
import { PRODUCTS_FILE } from '../../host/emulated/machine.js';

interface EmulatedMsi {
  product: string;
  version: string;
  /** Client binaries laid under INSTALLDIR on an install. */
  files: string[];
}

function main(): number {
  const root = process.env.QSADMIN_EMULATOR_NODE_ROOT;
  if (!root) return 1639;
  const argv = process.argv.slice(2);
  const mode = argv.findIndex((a) => /^\/[ix]$/i.test(a));
  if (mode < 0 || !argv[mode + 1]) {
    console.error('msiexec: invalid command line (expected /i or /x and a package)');
    return 1639;
  }
  const props: Record<string, string> = {};
  for (const a of argv.slice(mode + 2)) {
    const m = /^([A-Z][A-Z0-9_]*)="?(.*?)"?$/.exec(a);
    if (m) props[m[1]] = m[2];
    else if (!/^\/(qn|qb|quiet|passive|norestart)$/i.test(a)) {
      console.error(`msiexec: invalid command line argument ${a}`);
      return 1639;
    }
  }
  const cwd = process.cwd();
  // msiexec takes the package path quoted ("C:\ProgramData\Package Cache\{...}\x.msi") or bare
  const name = argv[mode + 1].replace(/^"(.*)"$/, '$1');
  const pkg = path.isAbsolute(name) || /^[A-Za-z]:/.test(name) ? windowsToEmulated(root, name) : path.join(cwd, name);
  if (!fs.existsSync(pkg)) {
    console.error(`This installation package could not be opened: ${argv[mode + 1]}`);
    return 1619;
  }
  const msi = JSON.parse(fs.readFileSync(pkg, 'utf8')) as EmulatedMsi;
  const file = path.join(root, '.emulator', PRODUCTS_FILE);
  const products = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ name: string; version: string }>;
  const installed = products.some((p) => p.name === msi.product);
  if (/^\/x$/i.test(argv[mode])) {
    if (!installed) return 1605;
    fs.writeFileSync(file, JSON.stringify(products.filter((p) => p.name !== msi.product), null, 2) + '\n');
    return 0;
  }
  const dir = props.INSTALLDIR ? windowsToEmulated(root, props.INSTALLDIR) : windowsToEmulated(root, 'C:\\Program Files\\Qlik\\Sense');
  for (const f of msi.files) {
    const target = path.join(dir, ...f.split('\\'));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, `#!/usr/bin/env node\n// emulated ${f} (client binaries of ${msi.product}${props.SKIPINSTALLDBSERVICE === '1' ? ', no database service' : ''})\n`);
  }
  if (!installed) fs.writeFileSync(file, JSON.stringify([...products, { name: msi.product, version: msi.version }], null, 2) + '\n');
  return 0;
}

process.exitCode = main();
