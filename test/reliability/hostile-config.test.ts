// Hostile site config files: wrong types, unknown keys, and names with quotes, spaces, `$`, separators or unicode are
// refused with exit 2 and one line naming the key, before anything is written or run.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSiteConfig } from '../../src/site/config.js';
import { InputError } from '../../src/runbook/errors.js';
import { qsadmin } from '../helpers/cli.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { treeHashes } from './harness.js';

afterAll(cleanupTempDirs);

// A valid emulated site config (nothing runs behind it: every case below must be refused before anything connects).
function validSite(dir: string): Record<string, unknown> {
  return {
    name: 'hostile',
    driver: 'emulated',
    nodes: [{ name: 'central', hostname: 'qs-hostile.test', role: 'central', address: '127.0.15.224', root: path.join(dir, 'nodes', 'central'), portOffset: 47100 }],
    database: { host: '127.0.15.224', port: 51532, service: 'QlikSenseRepositoryDatabase', node: 'central', superuser: 'postgres', passwordEnv: 'QSADMIN_DB_PASSWORD' },
    serviceAccount: 'qservice',
    shareRoot: path.join(dir, 'share'),
    emulator: {},
  };
}

type Site = ReturnType<typeof validSite> & { nodes: Array<Record<string, unknown>>; database: Record<string, unknown> };

// [what is wrong, the change, the key the message must name]
const CASES: Array<[string, (s: Site) => void, string]> = [
  ['an unknown top-level key (a typo)', (s) => ((s as Record<string, unknown>).shareRot = '/srv/share'), '"shareRot"'],
  ['an unknown node key', (s) => (s.nodes[0].hostnme = 'x'), 'nodes[0]."hostnme"'],
  ['an unknown database key', (s) => (s.database.password = 'plain-text'), 'database."password"'],
  ['a port given as a string', (s) => (s.database.port = '4432'), '"database"'],
  ['a port out of range', (s) => (s.database.port = 70000), 'database.port'],
  ['nodes as an object', (s) => ((s as Record<string, unknown>).nodes = { central: {} }), '"nodes"'],
  ['a node that is not an object', (s) => ((s as Record<string, unknown>).nodes = ['central']), 'nodes[0]'],
  ['a node name that climbs out of a set folder', (s) => (s.nodes[0].name = '../../evil'), 'nodes[0].name'],
  ['a node name with a Windows separator', (s) => (s.nodes[0].name = 'a\\b'), 'nodes[0].name'],
  ['a hostname with a quote and a command', (s) => (s.nodes[0].hostname = 'qs"; Remove-Item -Recurse C:\\'), 'nodes[0].hostname'],
  ['a hostname with a space', (s) => (s.nodes[0].hostname = 'qs central'), 'nodes[0].hostname'],
  ['a hostname with $', (s) => (s.nodes[0].hostname = 'qs$(whoami)'), 'nodes[0].hostname'],
  ['a hostname in unicode (not its xn-- form)', (s) => (s.nodes[0].hostname = 'qs-zürich.test'), 'nodes[0].hostname'],
  ['a database host with a quote', (s) => (s.database.host = "db'host"), 'database.host'],
  ['a superuser with a quote', (s) => (s.database.superuser = 'postgres"; DROP'), 'database.superuser'],
  ['a password instead of a variable name', (s) => (s.database.passwordEnv = 'my secret $pw'), 'database.passwordEnv'],
  ['a service account ".."', (s) => (s.serviceAccount = '..'), '"serviceAccount"'],
  ['a WinRM password instead of a variable name', (s) => (s.nodes[0].reach = { via: 'winrm', usernameEnv: 'QS_USER', passwordEnv: 'hunter2 $x' }), 'nodes[0].reach.passwordEnv'],
  ['an unknown way to reach a node', (s) => (s.nodes[0].reach = { via: 'ssh' }), 'nodes[0].reach.via'],
  ['a reach key that does not exist', (s) => (s.nodes[0].reach = { via: 'winrm', password: 'x' }), 'nodes[0].reach."password"'],
  ['a service account with a quote', (s) => (s.serviceAccount = 'DOM\\q"svc'), '"serviceAccount"'],
  ['a role that is a number', (s) => (s.nodes[0].role = 1), 'nodes[0].role'],
  ['a portOffset as a string', (s) => (s.nodes[0].portOffset = '100'), 'nodes[0].portOffset'],
  ['a portOffset that pushes port 9200 past 65535', (s) => (s.nodes[0].portOffset = 57000), 'nodes[0].portOffset'],
  ['an unknown service on a node', (s) => (s.nodes[0].services = ['QlikSenseRepositoryServce']), 'nodes[0].services'],
  ['emulator options as a list', (s) => ((s as Record<string, unknown>).emulator = []), '"emulator"'],
  ['two nodes with one name', (s) => s.nodes.push({ ...s.nodes[0], role: 'rim', hostname: 'qs-rim.test' }), '"nodes"'],
];

describe('hostile site config', () => {
  it('accepts the valid config the cases start from', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'site.json');
    fs.writeFileSync(file, JSON.stringify(validSite(dir)));
    const r = await qsadmin(['services', 'start', '--site', file, '--dry-run', '--state-dir', path.join(dir, 'state')]);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  // Each case in-process (the loader every command uses), and three through the CLI for the exit code and the untouched folder.
  for (const [what, change, key] of CASES) {
    it(`refuses ${what}, naming ${key}`, () => {
      const dir = tempDir();
      const site = validSite(dir) as Site;
      change(site);
      const file = path.join(dir, 'site.json');
      fs.writeFileSync(file, JSON.stringify(site));
      let err: unknown;
      try {
        loadSiteConfig(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(key);
      expect((err as Error).message).toContain(file);
    });
  }

  for (const [what, change, key] of [CASES[0], CASES[7], CASES[9]]) {
    it(`qsadmin refuses ${what} with exit 2 and one line naming ${key}, writing nothing`, async () => {
      const dir = tempDir();
      const site = validSite(dir) as Site;
      change(site);
      const file = path.join(dir, 'site.json');
      fs.writeFileSync(file, JSON.stringify(site));
      const before = treeHashes(dir);
      const r = await qsadmin(['services', 'stop', '--site', file, '--yes', '--state-dir', path.join(dir, 'state')], { env: { QSADMIN_DB_PASSWORD: 'x' } });
      expect(r.exitCode, r.stderr).toBe(2);
      const first = r.stderr.trim().split('\n')[0];
      expect(first).toContain(key);
      expect(first).toContain(file);
      expect(treeHashes(dir)).toEqual(before); // no state dir, no run folder, nothing else
    });
  }
});
