// Secrets audit (issue 13): every runbook run with distinctive secrets (quotes, spaces, $, unicode). They must appear in
// no log, journal, plan, outputs file, --json or human output, backup set, certificate export, child argv (every execve
// of the process tree, recorded by strace), the environment of a child that does not need them, or a file others can
// read. Slow (a site, a backup, a deep verify, a restore): `npm run test:secrets`, not part of `npm test`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../src/postgres/client.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { filesUnder, notPrivate, qsadminTraced } from './helpers/private-modes.js';
import { destroySites, editSite, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { AZURITE_KEY, startObjectServers, type Servers } from './helpers/object-servers.js';

const RUN = process.env.QSADMIN_SECRETS_AUDIT === '1';
// Each holds an ASCII marker, found in any text encoding that escapes the quotes (JSON, shell, PowerShell).
const DB_PASSWORD = `db pw 'QZXDBMARK' "$HOME" \${x} ünïcødé ✓`;
const PFX_PASSWORD = `pfx 'QZXPFXMARK' "$(id)" \`x\` ñ ✓`;
const REPO_PASSPHRASE = `repo pp 'QZXREPOMARK' "$PATH" ü ✓`;
const MARKERS = ['QZXDBMARK', 'QZXPFXMARK', 'QZXREPOMARK', AZURITE_KEY.slice(0, 24)];
// Children that connect to PostgreSQL get the database password through PGPASSWORD (or a 0600 pgpass file).
const NEEDS_DB_PASSWORD = /\/(pg_dump|pg_dumpall|pg_restore|psql|createdb|dropdb)$/;

interface Exec {
  pid: number;
  parent?: number;
  file: string;
  argv: string[];
  env: string[];
}

// The execve calls of a trace made with -xx -v: every string is \xHH-escaped, so brackets and quotes are delimiters.
// Each carries its parent (from the trace's clone/fork/vfork returns, also when strace -f split a call across lines;
// the parent of a vfork-style clone gets its return only after the child's execve).
function execs(traceFile: string): Exec[] {
  const hex = (s: string) => Buffer.from(s.replace(/\\x/g, ''), 'hex').toString('utf8');
  const list = (s: string) => [...s.matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map((m) => hex(m[1]));
  const out: Exec[] = [];
  const parent = new Map<number, number>();
  for (const line of fs.readFileSync(traceFile, 'utf8').split('\n')) {
    const forked = /^(\d+) +(?:(?:clone3?|v?fork)\(|<\.\.\. (?:clone3?|v?fork) resumed>).*\) += (\d+)$/.exec(line);
    if (forked) parent.set(Number(forked[2]), Number(forked[1]));
    const m = /^(\d+) +execve\("((?:\\x[0-9a-f]{2})*)", \[([^\]]*)\], \[([^\]]*)\]/.exec(line);
    if (m) out.push({ pid: Number(m[1]), file: hex(m[2]), argv: list(m[3]), env: list(m[4]) });
  }
  // After the whole trace: a vfork-style clone returns in the parent only after the child's execve.
  for (const e of out) e.parent = parent.get(e.pid);
  return out;
}

// A process of a PostgreSQL tool's own (pg_dumpall runs `"pg_dump" -V` through /bin/sh to check its version): it
// inherits the environment the tool was given, which qsadmin does not choose.
function underPgTool(e: Exec, all: Exec[]): boolean {
  const seen = new Set<number>();
  for (let p = e.parent; p !== undefined && !seen.has(p); p = all.find((x) => x.pid === p)?.parent) {
    seen.add(p);
    if (all.some((x) => x.pid === p && NEEDS_DB_PASSWORD.test(x.file))) return true;
  }
  return false;
}

describe.skipIf(!RUN)('secrets audit: every runbook with hostile secrets', () => {
  let site: EmulatedSite;
  let dir: string;
  let state: string;
  let backups: string;
  let exported: string;
  const traces: { name: string; file: string; rootPid: number }[] = [];
  const outputs: { name: string; text: string }[] = [];
  let setDir = '';
  let servers: Servers;
  let repoDir: string;

  beforeAll(async () => {
    site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 30000, baseAddress: '127.0.0.210', startServices: true });
    // The superuser gets the hostile password; the emulator's own copy of it (its demo secret file) follows.
    const db = site.site.database;
    await withClient({ host: db.host, port: db.port, user: db.superuser, password: site.superuserPassword }, async (c) => {
      const literal = `'${DB_PASSWORD.replace(/'/g, "''")}'`;
      await c.query(`ALTER ROLE ${db.superuser} PASSWORD ${literal}`);
    });
    fs.writeFileSync(path.join(site.dir, 'secrets', 'db-password'), DB_PASSWORD + '\n', { mode: 0o600 });
    dir = tempDir('qsadmin-secrets-');
    state = path.join(dir, 'state');
    backups = path.join(dir, 'backups');
    exported = path.join(dir, 'certs');
    // Repositories: a folder and Azure (Azurite, on this file's own address), the passphrase and the storage key hostile
    // or distinctive; `backup create --to-all` uploads to both (state dir, staging, part journals, outputs).
    servers = await startObjectServers('127.0.0.26');
    await servers.azure.container('audit');
    repoDir = path.join(dir, 'repo');
    editSite(site, (s) => {
      s.repositories = [
        { name: 'folder', url: repoDir, encrypt: true },
        { name: 'azure', url: 'azure://devstoreaccount1/audit/site' },
      ];
    });
  }, 240_000);

  afterAll(async () => {
    await destroySites();
    await servers?.stop();
    cleanupTempDirs();
  });

  // Run one command traced; its exit code must be 0.
  async function run(name: string, args: string[]) {
    const file = path.join(dir, `trace-${traces.length}-${name.replace(/\W+/g, '-')}`);
    const r = await qsadminTraced(
      [...args, '--site', site.siteFile],
      file,
      { QSADMIN_STATE_DIR: state, QSADMIN_DB_PASSWORD: DB_PASSWORD, QSADMIN_CERT_PASSWORD: PFX_PASSWORD, QSADMIN_REPO_PASSPHRASE: REPO_PASSPHRASE, ...servers.azure.env },
      ['-xx', '-v', '-s', '65536', '-e', 'trace=execve,clone,clone3,fork,vfork'],
    );
    traces.push({ name, file, rootPid: r.pid });
    outputs.push({ name, text: r.stdout + r.stderr });
    expect(r.exitCode, `${name}: ${r.stderr}`).toBe(0);
    return r;
  }

  it('runs services, backup create/verify, certs export/check/import and restore', async () => {
    await run('services status', ['services', 'status', '--json']);
    await run('services stop', ['services', 'stop']);
    await run('services start', ['services', 'start']);
    const b = await run('backup create', ['backup', 'create', '--to', backups, '--json', '--table-archive-min-size', '1']);
    setDir = JSON.parse(b.stdout).outputs.backup.dir;
    await run('backup verify --deep', ['backup', 'verify', setDir, '--deep', '--json']);
    await run('certs export', ['certs', 'export', '--to', exported]);
    await run('certs check', ['certs', 'check']);
    await run('certs import --replace', ['certs', 'import', exported, '--replace', '--yes']);
    await run('restore', ['restore', setDir, '--yes', '--json']);
  }, 900_000);

  it('runs backup create --to-all (an encrypted folder repository and Azure), list and verify --deep from Azure', async () => {
    const b = await run('backup create --to-all', ['backup', 'create', '--to-all', '--json', '--skip-share']);
    const id = JSON.parse(b.stdout).outputs['backup.uploads'].azure.id;
    await run('backup list azure', ['backup', 'list', '--to', 'azure://devstoreaccount1/audit/site', '--json']);
    await run('backup verify azure --deep', ['backup', 'verify', id, '--to', 'azure://devstoreaccount1/audit/site', '--deep', '--json']);
    await run('backup verify folder', ['backup', 'verify', id, '--to', repoDir]);
  }, 600_000);

  it('keeps both secrets out of every output, run file, set and export', () => {
    for (const o of outputs) for (const m of MARKERS) expect(o.text.includes(m), `${m} in the output of ${o.name}`).toBe(false);
    for (const root of [state, backups, exported, repoDir]) {
      for (const f of filesUnder(root)) {
        const text = fs.readFileSync(f).toString('latin1');
        for (const m of MARKERS) expect(text.includes(m), `${m} in ${f}`).toBe(false);
      }
    }
    // The six runbook runs (services stop/start, backup create, certs export/import, restore) left their journals.
    expect(filesUnder(path.join(state, 'runs')).filter((f) => f.endsWith('journal.jsonl')).length).toBeGreaterThanOrEqual(6);
  });

  it('passes no secret on any command line of the process tree', () => {
    let seen = 0;
    for (const t of traces) {
      for (const e of execs(t.file)) {
        seen++;
        for (const m of MARKERS) expect(e.argv.some((a) => a.includes(m)), `${m} in the argv of ${e.file} (${t.name}): ${e.argv.join(' ')}`).toBe(false);
      }
    }
    expect(seen).toBeGreaterThan(20); // the trace saw the children (pg_dump, zstd, the services ...)
  });

  // Needs the engine branch's fix (issue 13 item 7: each secret only in the environment of the child that needs it);
  // on a branch without it this expectation fails, listing the children that got a secret they do not need.
  it('[engine branch, issue 13 item 7] gives a secret only to the children that need it', () => {
    const wrong = new Set<string>();
    for (const t of traces) {
      const all = execs(t.file);
      for (const e of all) {
        if (e.pid === t.rootPid || e.pid === all[0].pid) continue; // qsadmin itself and the test's wrapper shell, started with every secret by this test
        const env = e.env.join('\n');
        if (env.includes('QZXPFXMARK')) wrong.add(`${t.name}: ${path.basename(e.file)} got the PFX password`);
        if (env.includes('QZXREPOMARK')) wrong.add(`${t.name}: ${path.basename(e.file)} got the repository passphrase`);
        if (env.includes(AZURITE_KEY.slice(0, 24))) wrong.add(`${t.name}: ${path.basename(e.file)} got the Azure storage key`);
        if (env.includes('QZXDBMARK') && !NEEDS_DB_PASSWORD.test(e.file) && !underPgTool(e, all)) wrong.add(`${t.name}: ${path.basename(e.file)} got the database password (${e.argv.join(' ').slice(0, 300)})`);
      }
    }
    expect([...wrong]).toEqual([]);
  });

  it('leaves no file others can read in the state dir, the backup target or the export', () => {
    for (const root of [state, backups, exported]) expect(notPrivate(root), root).toEqual([]);
  });
});
