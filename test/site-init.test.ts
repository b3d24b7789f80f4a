// `qsadmin site init` reads a site from its central node and writes its config through the one writer: on an
// emulated site it writes what the emulator (demo) wrote; it refuses a rim, a missing database, an existing file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../src/emulator/site.js';
import { portOfPostgresConf } from '../src/site/init.js';
import { qsadmin } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

let emu: EmulatedSite;
let dir: string;

beforeAll(async () => {
  emu = await makeSite({ nodes: 3, size: 'tiny', portOffset: 48000, baseAddress: '127.0.0.144', startServices: false, serviceAccount: 'CORP\\qlik-svc' });
  dir = tempDir('qsadmin-init-');
}, 180_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('site init', () => {
  it('writes, from the central node of an emulated site, the config the emulator wrote; site check accepts it', async () => {
    const out = path.join(dir, 'site.json');
    const r = await qsadmin(['site', 'init', '--emulated-node', emu.site.nodes[0].root!, '--out', out, '--json'], { env: {} });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const written = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(written).toEqual(JSON.parse(fs.readFileSync(emu.siteFile, 'utf8')));
    expect(JSON.parse(r.stdout).found.join('\n')).toMatch(new RegExp(`:${emu.site.database.port} \\(port from postgresql.conf\\)`));
    expect(fs.readFileSync(out, 'utf8')).not.toContain(emu.superuserPassword);
    const check = await qsadmin(['site', 'check', '--site', out, '--json'], { env: { QSADMIN_DB_PASSWORD: emu.superuserPassword } });
    expect(check.exitCode, check.stdout).toBe(0);
  }, 60_000);

  it('refuses an existing file without --force, keeps a .bak with it, and --dry-run writes nothing', async () => {
    const out = path.join(dir, 'exists.json');
    fs.writeFileSync(out, '{"mine": true}\n');
    const args = ['site', 'init', '--emulated-node', emu.site.nodes[0].root!, '--out', out];
    const r = await qsadmin(args, { env: {} });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/already exists/);
    expect(r.stderr).toMatch(/--force/);
    expect(fs.readFileSync(out, 'utf8')).toBe('{"mine": true}\n');
    const forced = await qsadmin([...args, '--force'], { env: {} });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(fs.readFileSync(`${out}.bak`, 'utf8')).toBe('{"mine": true}\n');
    const dry = path.join(dir, 'dry.json');
    const d = await qsadmin(['site', 'init', '--emulated-node', emu.site.nodes[0].root!, '--out', dry, '--dry-run'], { env: {} });
    expect(d.exitCode, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout.slice(d.stdout.indexOf('{')))).toMatchObject({ driver: 'emulated', serviceAccount: 'CORP\\qlik-svc' });
    expect(fs.existsSync(dry)).toBe(false);
  }, 60_000);

  it('refuses a rim node (QSR names another central), a folder that is no node, and a wrong password, writing nothing', async () => {
    const out = path.join(dir, 'never.json');
    const rim = await qsadmin(['site', 'init', '--emulated-node', emu.site.nodes[1].root!, '--out', out, '--db-host', emu.site.database.host, '--db-port', String(emu.site.database.port)], { env: {} });
    expect(rim.exitCode).toBe(2);
    expect(rim.stderr).toMatch(new RegExp(`${emu.site.nodes[1].hostname} is not the central node of this site: QSR names ${emu.site.nodes[0].hostname}`));
    const none = await qsadmin(['site', 'init', '--emulated-node', dir, '--out', out], { env: {} });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/not a Qlik Sense node: .*Host.cfg cannot be read/);
    const pw = await qsadmin(['site', 'init', '--emulated-node', emu.site.nodes[0].root!, '--out', out], { env: { QSADMIN_DB_PASSWORD: 'wrong' } });
    expect(pw.exitCode).toBe(2);
    expect(pw.stderr).toMatch(/cannot read QSR .*password authentication failed/);
    expect(pw.stderr).not.toContain('wrong');
    expect(fs.existsSync(out)).toBe(false);
  }, 60_000);

  it('reads the port the way PostgreSQL does: the last setting, quoted or not, comments ignored', () => {
    expect(portOfPostgresConf('#port = 5432\nport = 4432\n')).toBe(4432);
    expect(portOfPostgresConf("port='4433' # moved\nport = 4434")).toBe(4434);
    expect(portOfPostgresConf('listen_addresses = *')).toBe(5432);
  });
});
