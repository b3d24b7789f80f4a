// Security rules against emulated sites (issue #20): the emulated QRS's systemrule endpoints refuse what QRS refuses
// (a stale modifiedDate: 409; deleting a default rule), `rules import` of the demo set (dry run first: nothing
// changes), export → import into a fresh site → export gives identical files, --prune never touches default rules,
// a killed import resumes to the same end, and `rules diff` between a live site, an export folder and a backup set.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { QrsClient, QrsError } from '../src/qrs/client.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { ROOT, qsadmin, qsadminJson } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const DEMO = path.join(ROOT, 'templates', 'rules', 'demo');
const CERT_PASSWORD = 'rules-site-test-pfx-password';
let a: EmulatedSite; // the demo site the rules go onto
let b: EmulatedSite; // a fresh site for the round trip
let stateDir: string;
let exportA: string;

const env = () => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD });
function run(site: EmulatedSite, args: string[], extra: Record<string, string> = {}) {
  return qsadminJson([...args, '--site', site.siteFile, '--json'], { env: { ...env(), ...extra }, timeout: 180_000 });
}
const qsr = <T>(site: EmulatedSite, fn: (c: import('pg').Client) => Promise<T>) =>
  withClient({ host: site.site.database.host, port: site.site.database.port, user: 'postgres', password: site.superuserPassword, database: 'QSR' }, fn);
const rulesRows = (site: EmulatedSite) => qsr(site, async (c) => (await c.query(`SELECT "ID","Name","Rule","ResourceFilter","Actions","Type","SeedId","Disabled","ModifiedDate" FROM "SystemRules" ORDER BY "ID"`)).rows);

async function qrsClient(site: EmulatedSite): Promise<QrsClient> {
  const n = site.site.nodes[0];
  const h = new EmulatedHost(site.site, n);
  const pem = async (f: string) => (await h.files.read(path.win32.join(h.paths.localCertificates, f))).toString('utf8');
  return new QrsClient({ host: n.address, port: 4242 + (n.portOffset ?? 0), servername: n.hostname, auth: { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') } });
}

// Every file of a folder with its content.
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  stateDir = tempDir();
  [a, b] = await Promise.all([
    makeSite({ layout: 'manual', size: 'tiny', portOffset: 36000, baseAddress: '127.0.0.50', hostnames: ['qs-a.rules.test'], startServices: true, rulesDemo: true }),
    makeSite({ layout: 'manual', size: 'tiny', portOffset: 36500, baseAddress: '127.0.0.54', hostnames: ['qs-b.rules.test'], startServices: true, rulesDemo: true }),
  ]);
}, 240_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('emulated QRS /qrs/systemrule', () => {
  it('serves GET with a filter, refuses a stale modifiedDate (409), a bad condition (400) and deleting a default rule (400)', async () => {
    const q = await qrsClient(a);
    try {
      const all = await q.get<Array<Record<string, unknown>>>(`/qrs/systemrule/full?filter=${encodeURIComponent("category eq 'Security'")}`);
      expect(all.length).toBeGreaterThan(5);
      expect(all.every((r) => r.category === 'Security')).toBe(true);
      const made = await q.post<Record<string, unknown>>('/qrs/systemrule', { name: 'Probe', rule: 'user.name = "x"', resourceFilter: 'Stream_*', actions: 2, category: 'Security', ruleContext: 0 });
      expect(made).toMatchObject({ name: 'Probe', type: 'Custom', actions: 2 });
      const fresh = await q.put<Record<string, unknown>>(`/qrs/systemrule/${made.id}`, { ...made, comment: 'first' });
      expect(fresh.comment).toBe('first');
      // the first PUT moved modifiedDate on: the old one is stale now
      const stale = await q.put(`/qrs/systemrule/${made.id}`, { ...made, comment: 'second' }).catch((e: unknown) => e);
      expect(stale).toBeInstanceOf(QrsError);
      expect((stale as QrsError).status).toBe(409);
      const bad = await q.put(`/qrs/systemrule/${made.id}`, { ...fresh, rule: 'user.name = "x' }).catch((e: unknown) => e);
      expect((bad as QrsError).status).toBe(400);
      const def = all.find((r) => r.type === 'Default')!;
      const del = await q.delete(`/qrs/systemrule/${def.id}`).catch((e: unknown) => e);
      expect((del as QrsError).status).toBe(400);
      expect((del as QrsError).message).toMatch(/cannot be deleted, only edited or disabled/);
      await q.delete(`/qrs/systemrule/${made.id}`);
      const gone = await q.get(`/qrs/systemrule/${made.id}`).catch((e: unknown) => e);
      expect((gone as QrsError).status).toBe(404);
      // a data connection's password is not served
      const dcs = await q.get<Array<Record<string, unknown>>>('/qrs/dataconnection/full');
      expect(dcs.length).toBeGreaterThan(0);
      expect(JSON.stringify(dcs)).not.toMatch(/ENC:/);
    } finally {
      q.close();
    }
  });
});

describe('rules import and export', () => {
  it('--dry-run prints the difference and changes nothing', async () => {
    const before = await rulesRows(a);
    const r = await qsadmin(['rules', 'import', DEMO, '--dry-run', '--site', a.siteFile], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\+ rule TeamAdminRead \(added\)/);
    expect(r.stdout).toMatch(/~ rule CreateApp\n/);
    expect(r.stdout).toMatch(/rules-import\.rules/);
    expect(await rulesRows(a)).toEqual(before);
  });

  it('imports the demo set: rules created, the two edited default rules updated in place, values on the demo objects', async () => {
    const before = await rulesRows(a);
    const r = await run(a, ['rules', 'import', DEMO]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.outputs).toMatchObject({ 'rules.created': 4, 'rules.updated': 2 });
    const after = await rulesRows(a);
    expect(after.length).toBe(before.length + 4);
    const createApp = after.filter((x) => x.Name === 'CreateApp');
    expect(createApp).toHaveLength(1);
    expect(createApp[0]).toMatchObject({ Type: 'Default', SeedId: '5eed0000-0000-4000-8000-000000000007', Rule: '!user.IsAnonymous() and user.group = "role_dev"', ID: before.find((x) => x.Name === 'CreateApp')!.ID });
    const safety = r.json.outputs['safety.dir'];
    expect(fs.existsSync(path.join(safety, 'systemrules.json'))).toBe(true);
    expect(fs.readFileSync(path.join(safety, 'rules', 'CreateApp.json'), 'utf8')).toMatch(/"!user.IsAnonymous\(\)"/); // what the site had
    const vals = await qsr(a, async (c) => (await c.query(`SELECT d."Name" AS def, v."Value", v."ObjectType" FROM "CustomPropertyValues" v JOIN "CustomPropertyDefinitions" d ON d."ID" = v."DefinitionID" JOIN "Streams" s ON s."ID" = v."ObjectID" WHERE s."Name" = 'Proj1_Aud1' ORDER BY 1`)).rows);
    expect(vals).toEqual([{ def: 'AdminGroup', Value: 'proj1_admin', ObjectType: 'Stream' }, { def: 'GroupAccess', Value: 'proj1_aud1', ObjectType: 'Stream' }]);
    // a second import has nothing to do
    const again = await run(a, ['rules', 'import', DEMO]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.json.outputs['rules.created'] ?? 0).toBe(0);
    expect(again.json.outputs['rules.updated'] ?? 0).toBe(0);
  });

  it('export writes the demo set back as it is (plus the site\'s own custom rules), no ids or dates; its demo rules lint clean', async () => {
    exportA = path.join(tempDir(), 'export-a');
    const r = await run(a, ['rules', 'export', '--to', exportA]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = tree(exportA);
    const demo = tree(DEMO);
    for (const [f, text] of Object.entries(demo)) expect(got[f], f).toBe(text);
    // the tiny site's generated custom rules are there too; the unedited default rules are not
    expect(Object.keys(got).filter((f) => f.startsWith('rules/Custom rule')).length).toBe(10);
    expect(got['rules/RootAdmin.json']).toBeUndefined();
    expect(r.json.defaultRulesLeftOut).toBe(6); // 8 default security rules, 2 of them edited
    expect(JSON.stringify(got)).not.toMatch(/"id"|modifiedDate|createdDate/);
    const lint = await run(a, ['rules', 'lint', exportA]);
    const demoRules = Object.keys(demo).filter((f) => f.startsWith('rules/')).map((f) => path.basename(f, '.json'));
    expect(lint.json.findings.filter((f: { rule: string }) => demoRules.includes(f.rule))).toEqual([]);
    // audit of the live site (its exported rules: custom and edited default ones)
    const au = await run(a, ['rules', 'audit', '--user', 'CORP\\carol', '--groups', 'proj1_aud1', '--resource', 'Stream_*', '--action', 'read']);
    expect(au.exitCode, au.stderr).toBe(0);
    expect(au.json.source).toBe(`site ${a.site.name}`);
    const streams = Object.fromEntries(au.json.resources.map((x: { name: string; grants: Array<{ rules: string[] }> }) => [x.name, x.grants.flatMap((g) => g.rules)]));
    expect(streams).toMatchObject({ Proj1_Aud1: ['ResourceAccess'], Proj1_Aud2: [] });
  });

  it('export → import into a fresh site (--prune) → export gives identical files; default rules are never pruned', async () => {
    await qsr(b, (c) => c.query(`INSERT INTO "SystemRules" ("ID","Name","Rule","ResourceFilter","Actions","Category","Type") VALUES (md5('extra')::uuid, 'Only on B', 'user.name="x"', 'Stream_*', 2, 'Security', 'Custom'), (md5('lic')::uuid, 'Licence on B', 'user.name="x"', 'License_*', 2, 'License', 'Custom')`));
    const defaultsBefore = await qsr(b, async (c) => (await c.query(`SELECT "ID" FROM "SystemRules" WHERE "Type" = 'Default' ORDER BY 1`)).rows);
    const r = await run(b, ['rules', 'import', exportA, '--prune', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    const names = await qsr(b, async (c) => (await c.query(`SELECT "Name" FROM "SystemRules"`)).rows.map((x) => x.Name));
    expect(names).not.toContain('Only on B');
    expect(names).toContain('Licence on B');
    expect(await qsr(b, async (c) => (await c.query(`SELECT "ID" FROM "SystemRules" WHERE "Type" = 'Default' ORDER BY 1`)).rows)).toEqual(defaultsBefore);
    const exportB = path.join(tempDir(), 'export-b');
    const e = await run(b, ['rules', 'export', '--to', exportB]);
    expect(e.exitCode, e.stderr).toBe(0);
    expect(tree(exportB)).toEqual(tree(exportA));
    const d = await run(b, ['rules', 'diff', a.siteFile, b.siteFile]);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.json.same).toBe(true);
  });

  it('an import killed after its first rule resumes (runs resume) to the same end as an uninterrupted run', async () => {
    // B drifts from the folder: two rules changed, one gone
    await qsr(b, (c) => c.query(`UPDATE "SystemRules" SET "Rule" = 'user.name="drift"', "ModifiedDate" = now() WHERE "Name" IN ('TeamAdminCreate', 'ResourceAccess')`));
    await qsr(b, (c) => c.query(`DELETE FROM "SystemRules" WHERE "Name" = 'TeamAdminSections'`));
    // what is left to do: the drifted rules, and the missing one
    const pending = () => qsr(b, async (c) => (await c.query(`SELECT count(*)::int AS n FROM "SystemRules" WHERE "Rule" = 'user.name="drift"'`)).rows[0].n + 1 - (await c.query(`SELECT count(*)::int AS n FROM "SystemRules" WHERE "Name" = 'TeamAdminSections'`)).rows[0].n);
    expect(await pending()).toBe(3);
    const killed = await run(b, ['rules', 'import', exportA], { QSADMIN_FAULT: 'kill-at:rules-import.rule:written' });
    expect(killed.exitCode).not.toBe(0);
    const runId = newestRun(stateDir, 'rules-import-');
    expect(await pending()).toBe(2); // one of the three changes was made before the kill
    const r = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const exportB = path.join(tempDir(), 'export-b2');
    expect((await run(b, ['rules', 'export', '--to', exportB])).exitCode).toBe(0);
    expect(tree(exportB)).toEqual(tree(exportA));
  });

  it('bad input: a folder with a syntax error or a value outside its choices is refused before anything changes (exit 2)', async () => {
    const dir = path.join(tempDir(), 'bad');
    fs.cpSync(DEMO, dir, { recursive: true });
    const f = path.join(dir, 'rules', 'ResourceAccess.json');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('user.group = resource.@GroupAccess', 'user.group = (resource.@GroupAccess'));
    const before = await rulesRows(a);
    const r = await run(a, ['rules', 'import', dir]);
    expect(r.exitCode).toBe(2);
    expect(r.json.error.message).toMatch(/ResourceAccess \(line 1, column 14\)/);
    fs.cpSync(path.join(DEMO, 'rules'), path.join(dir, 'rules'), { recursive: true });
    const v = path.join(dir, 'values.json');
    fs.writeFileSync(v, fs.readFileSync(v, 'utf8').replace('"proj1_aud2"', '"proj9_nobody"'));
    const r2 = await run(a, ['rules', 'import', dir]);
    expect(r2.exitCode).toBe(2);
    expect(r2.json.error.message).toMatch(/"proj9_nobody" is not among the choice values of GroupAccess/);
    expect(await rulesRows(a)).toEqual(before);
  });
});

describe('rules diff', () => {
  it('site against its export: the same; a changed rule on the site shows; a backup set compares as the site was', async () => {
    const same = await run(a, ['rules', 'diff', a.siteFile, exportA]);
    expect(same.exitCode, same.stderr).toBe(0);
    const backup = await run(a, ['backup', 'create', '--to', tempDir(), '--skip-share', '--no-logs']);
    expect(backup.exitCode, backup.stderr).toBe(0);
    const setDir = backup.json.outputs.backup.dir as string;
    await qsr(a, (c) => c.query(`UPDATE "SystemRules" SET "Actions" = 6 WHERE "Name" = 'ResourceAccess'`));
    const d = await run(a, ['rules', 'diff', exportA, a.siteFile]);
    expect(d.exitCode).toBe(4);
    expect(d.json.changes).toEqual([{ what: 'rule', key: 'ResourceAccess', change: 'changed', fields: [{ field: 'actions', a: '["Read"]', b: '["Read","Update"]' }] }]);
    const fromSet = await run(a, ['rules', 'diff', setDir, exportA]);
    expect(fromSet.exitCode, fromSet.stderr + fromSet.stdout).toBe(0);
    const setVsSite = await qsadmin(['rules', 'diff', setDir, a.siteFile, '--site', a.siteFile], { env: env() });
    expect(setVsSite.exitCode).toBe(4);
    expect(setVsSite.stdout).toMatch(/~ rule ResourceAccess\n {4}actions:\n {6}- \["Read"\]\n {6}\+ \["Read","Update"\]/);
  });
});
