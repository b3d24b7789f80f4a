#!/usr/bin/env node
// Proof that a backup set's manifest never describes bytes that are not on disk: one `backup create` of a tiny
// emulated site under `strace -f -e trace=fsync,fdatasync,rename,openat -y`, then a check that every file the
// manifest lists was flushed (fsync'd under its final name, or by a syncfs after its last write) before manifest.json was renamed into place, that the manifest's
// temp file was fsync'd before its rename, and that the set's folder was fsync'd after it.
//
// Usage: npm run build && node scripts/trace-backup-fsync.mjs   (needs strace; Linux only)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { createEmulatedSite, destroySite } = await import(path.join(root, 'dist/src/emulator/site.js'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-trace-'));
const trace = path.join(work, 'strace.txt');
const to = path.join(work, 'backups');
const site = await createEmulatedSite({ dir: path.join(work, 'site'), layout: 'manual', size: 'tiny', portOffset: 42100, baseAddress: '127.0.0.121', startServices: true });
let failed = false;
try {
  const env = { ...process.env, QSADMIN_STATE_DIR: path.join(work, 'state'), QSADMIN_CERT_PASSWORD: 'trace-test-password', QSADMIN_RENDERER: 'simple', CI: 'true', NODE_ENV: 'production' };
  const args = ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,openat', '-o', trace, process.execPath, path.join(root, 'bin/run.js'), 'backup', 'create', '--site', site.siteFile, '--to', to, '--no-logs', '--json'];
  // The services the backup starts again are its children, so strace would follow them for ever: once the result is
  // printed, strace is stopped (it detaches from what it still traces).
  const st = spawn('strace', args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise((resolve) => {
    st.stdout.on('data', (d) => {
      out += d;
      try {
        JSON.parse(out);
        setTimeout(resolve, 1000);
      } catch {
        // not complete yet
      }
    });
    st.on('exit', resolve);
  });
  st.kill('SIGTERM');
  const result = JSON.parse(out);
  if (result.status !== 'succeeded') throw new Error(`backup failed: ${JSON.stringify(result.error)}`);
  const set = result.outputs.backup.dir;
  const lines = fs.readFileSync(trace, 'utf8').split('\n');
  const renameAt = lines.findIndex((l) => l.includes(`rename("${set}/manifest.json.`) && l.includes(`"${set}/manifest.json")`));
  const firstSync = new Map();
  lines.forEach((l, i) => {
    const m = /fsync\(\d+<([^>]+)>/.exec(l);
    if (m && m[1].startsWith(set) && !firstSync.has(m[1])) firstSync.set(m[1], i);
  });
  // On Linux the set is flushed by one syncfs of its file system (`sync -f`, a child): it covers every file written
  // (opened for writing, or renamed to its name) before it.
  // (A call strace split, "<unfinished ...>", counts once the same pid's "<... syncfs resumed>) = 0" follows.)
  const syncfsAt = lines.findIndex((l, i) => {
    if (i >= renameAt || !/syncfs\(\d+</.test(l) || !l.includes(`<${set}`)) return false;
    if (/\) = 0/.test(l)) return true;
    const pid = l.split(' ')[0];
    return l.includes('<unfinished') && lines.slice(i + 1, renameAt).some((x) => x.startsWith(`${pid} `) && /<\.\.\. syncfs resumed>.*\) = 0/.test(x));
  });
  const lastWrite = new Map();
  lines.forEach((l, i) => {
    for (const m of l.matchAll(/"([^"]+)"/g)) if (m[1].startsWith(set) && (/^\d+ +rename/.test(l) || /O_WRONLY|O_RDWR/.test(l))) lastWrite.set(m[1], i);
  });
  const listed = JSON.parse(fs.readFileSync(path.join(set, 'manifest.json'), 'utf8')).files.map((f) => f.path);
  const flushed = (f) => (firstSync.get(f) ?? Infinity) < renameAt || (syncfsAt >= 0 && (lastWrite.get(f) ?? -1) < syncfsAt);
  const late = listed.filter((f) => !flushed(path.join(set, f)));
  if (syncfsAt >= 0) console.log(`the set's file system flushed (syncfs) at trace line ${syncfsAt + 1}`);
  const tmpSync = lines.findIndex((l) => /fsync\(\d+<[^>]*manifest\.json\.\d+\.tmp>/.test(l));
  const dirSync = lines.findIndex((l, i) => i > renameAt && l.includes('fsync(') && l.includes(`<${set}>`));
  console.log(`manifest.json renamed into place at trace line ${renameAt + 1} of ${lines.length}`);
  console.log(`${listed.length} files listed; fsync'd before that rename: ${listed.length - late.length}${late.length ? `; NOT: ${late.slice(0, 10).join(', ')}` : ''}`);
  console.log(`manifest temp file fsync'd at line ${tmpSync + 1}; the set folder fsync'd after the rename at line ${dirSync + 1}`);
  failed = renameAt < 0 || late.length > 0 || tmpSync < 0 || tmpSync > renameAt || dirSync < 0;
  console.log(failed ? 'FAILED' : 'ok: the manifest never describes bytes that are not on disk');
} finally {
  await destroySite(site.dir ?? path.join(work, 'site'));
  fs.rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
