// Passwords and names with quotes, spaces, `$`, backticks and unicode: a database superuser password and a PFX password
// like that work end to end (backup, certificate export and import), run nothing they spell, and appear nowhere; a
// hostname like that given to restore is refused with exit 2 before anything changes.
// Long (a site and a backup): runs with `npm run test:reliability`, skipped in `npm test`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../../src/emulator/site.js';
import { withClient } from '../../src/postgres/client.js';
import { destroySites, makeSite } from '../helpers/site.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { lastLine, runCli, serviceStates, siteConn, treeHashes } from './harness.js';

const LONG = !!process.env.QSADMIN_RELIABILITY_LONG;
let s: EmulatedSite;
let marker: string;
let dbPassword: string;
let certPassword: string;
let set: string;

// Every text a run leaves behind in a state dir (plans, journals, outputs, logs).
function stateText(stateDir: string): string {
  return Object.keys(treeHashes(stateDir))
    .filter((p) => /\.(json|jsonl|log)$/.test(p))
    .map((p) => fs.readFileSync(path.join(stateDir, p), 'utf8'))
    .join('\n');
}

beforeAll(async () => {
  if (!LONG) return;
  marker = path.join(tempDir(), 'pwned');
  // each would run something if it reached a shell (POSIX or PowerShell) unquoted
  dbPassword = `p'a"s s$(touch ${marker})\`touch ${marker}\`;ü€ $env:PATH`;
  certPassword = `c'e"r t $(touch ${marker}) ü€ & echo`;
  s = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 47600, baseAddress: '127.0.0.240', hostnames: ['qs-secrets.test'], startServices: true });
  await withClient(siteConn(s.site), (c) => c.query(`ALTER ROLE postgres PASSWORD '${dbPassword.replace(/'/g, "''")}'`));
  process.env.QSADMIN_DB_PASSWORD = dbPassword; // for this process's own checks (services, connections)
});

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe.skipIf(!LONG)('hostile passwords and names (npm run test:reliability)', { timeout: 240_000 }, () => {
  it('a backup with such passwords succeeds, runs nothing, and shows them nowhere', async () => {
    const stateDir = tempDir();
    const target = tempDir();
    const env = { QSADMIN_STATE_DIR: stateDir, QSADMIN_DB_PASSWORD: dbPassword, QSADMIN_CERT_PASSWORD: certPassword };
    const r = await runCli(['backup', 'create', '--site', s.siteFile, '--to', target, '--json'], env);
    expect(r.exitCode, lastLine(r.stderr)).toBe(0);
    set = JSON.parse(r.stdout).outputs.backup.dir as string;
    const v = await runCli(['backup', 'verify', set, '--deep'], env);
    expect(v.exitCode, lastLine(v.stderr)).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
    for (const secret of [dbPassword, certPassword]) {
      expect(r.stdout + r.stderr + v.stdout + v.stderr).not.toContain(secret);
      expect(stateText(stateDir)).not.toContain(secret);
    }
    // the PFX files of the set open with the password as given
    const exported = await runCli(['certs', 'import', set, '--site', s.siteFile, '--node', 'central', '--replace', '--yes', '--json'], env);
    expect(exported.exitCode, lastLine(exported.stderr)).toBe(0);
    expect(Object.values(await serviceStates(s.site)).every((x) => x === 'running')).toBe(true);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a certificate export and import with such a password round-trips', async () => {
    const stateDir = tempDir();
    const to = path.join(tempDir(), 'export');
    const env = { QSADMIN_STATE_DIR: stateDir, QSADMIN_DB_PASSWORD: dbPassword, QSADMIN_CERT_PASSWORD: certPassword };
    const e = await runCli(['certs', 'export', '--site', s.siteFile, '--to', to, '--json'], env);
    expect(e.exitCode, lastLine(e.stderr)).toBe(0);
    const i = await runCli(['certs', 'import', to, '--site', s.siteFile, '--node', 'central', '--replace', '--yes', '--json'], env);
    expect(i.exitCode, lastLine(i.stderr)).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
    expect(stateText(stateDir)).not.toContain(certPassword);
  });

  for (const bad of [`qs"; touch ${'$'}HOME/x`, 'qs central', 'qs$(id)', 'qs-zürich', "qs'x"]) {
    it(`restore --hostname ${JSON.stringify(bad)} is refused with exit 2, nothing changed`, async () => {
      const stateDir = tempDir();
      const before = await serviceStates(s.site);
      const r = await runCli(['restore', set, '--site', s.siteFile, '--hostname', bad, '--yes', '--json'], { QSADMIN_STATE_DIR: stateDir, QSADMIN_DB_PASSWORD: dbPassword, QSADMIN_CERT_PASSWORD: certPassword });
      expect(r.exitCode, lastLine(r.stderr)).toBe(2);
      expect(JSON.parse(r.stdout).error.message).toMatch(/hostname/i);
      expect(await serviceStates(s.site)).toEqual(before);
    });
  }
});
