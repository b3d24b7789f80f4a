// Bad names given to --service and --node are bad input (exit 2, the known names listed), never "succeeded, nothing
// done" or a step failure; a flag a command would ignore is refused. The site keeps running throughout.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { qsadmin } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

let site: EmulatedSite;
let stateDir: string;

const run = (args: string[]) => qsadmin([...args, '--site', site.siteFile], { env: { QSADMIN_STATE_DIR: stateDir } });

async function pids(): Promise<string> {
  const list = await new EmulatedHost(site.site, site.site.nodes[0]).services.list();
  return list.map((s) => `${s.name}:${s.state}:${s.pid ?? ''}`).join(',');
}

beforeAll(async () => {
  stateDir = tempDir();
  site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 42000, baseAddress: '127.0.0.124', startServices: true });
});

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('names given to --service and --node', () => {
  it('refuses an unknown or mistyped service with exit 2 and the known names, touching nothing', async () => {
    const before = await pids();
    expect(before).toMatch(/QlikSenseRepositoryService:running/);
    for (const args of [['services', 'stop', '--service', 'QSR'], ['services', 'stop', '--service', 'QXX', '--yes'], ['services', 'start', '--service', 'nope', '--dry-run']]) {
      const r = await run(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`unknown service "${args[3]}"`));
      expect(r.stderr).toMatch(/QSD, QRS, QPS, QES, QSS, QPR/);
    }
    expect(await pids()).toBe(before);
  });

  it('takes abbreviations and full names in any case', async () => {
    const r = await run(['services', 'stop', '--service', 'qrs', '--service', 'qlikSenseProxyService', '--dry-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Stop Qlik Sense Repository Service/);
    expect(r.stdout).toMatch(/Stop Qlik Sense Proxy Service/);
    expect(r.stdout).not.toMatch(/Engine/);
  });

  it('refuses an unknown node with exit 2 in every command that takes --node', async () => {
    const before = await pids();
    for (const args of [['services', 'stop', '--node', 'rim9'], ['services', 'start', '--node', 'rim9'], ['services', 'status', '--node', 'rim9'], ['certs', 'check', '--node', 'rim9'], ['certs', 'export', '--node', 'rim9', '--dry-run']]) {
      const r = await run(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/no node "rim9"/);
      expect(r.stderr).toMatch(/central \(qs-central\.emulated\.test\)/);
    }
    expect(await pids()).toBe(before);
  });

  it('refuses --node where the runbook covers the whole site', async () => {
    const r = await run(['backup', 'create', '--node', 'central', '--to', tempDir(), '--dry-run']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--node/);
  });
});

describe('commands that do not exist', () => {
  it('suggests the closest command and exits 2', async () => {
    for (const [typed, want] of [['backup creat', 'qsadmin backup create'], ['sevrices', 'qsadmin services'], ['verify', 'qsadmin backup verify']] as const) {
      const r = await qsadmin(typed.split(' '));
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`"${typed}" is not a qsadmin command`));
      expect(r.stderr).toContain(`did you mean: ${want}`);
    }
    const none = await qsadmin(['frobnicate']);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/see: qsadmin help/);
    expect(none.stderr).not.toMatch(/did you mean/);
  });

  it('answers `qsadmin help` and `qsadmin help <command>` like --help', async () => {
    const top = await qsadmin(['help']);
    expect(top.exitCode).toBe(0);
    expect(top.stdout).toMatch(/TOPICS[\s\S]*backup/);
    const one = await qsadmin(['help', 'backup', 'verify']);
    expect(one.exitCode).toBe(0);
    expect(one.stdout).toMatch(/\$ qsadmin backup verify/);
    expect(one.stdout).toMatch(/EXIT CODES|Exit codes/i);
  });
});

describe('shell completion', () => {
  it('completes "qsadmin backup cr" to create in a real bash', async () => {
    const cache = tempDir();
    const r = await qsadmin(['autocomplete', '--refresh-cache'], { env: { XDG_CACHE_HOME: cache } });
    expect(r.exitCode, r.stderr).toBe(0);
    const fn = path.join(cache, 'qsadmin', 'autocomplete', 'functions', 'bash', 'qsadmin.bash');
    const script = `source '${fn}'; COMP_WORDS=(qsadmin backup cr); COMP_CWORD=2; COMP_LINE='qsadmin backup cr'; _qsadmin_autocomplete; echo "\${COMPREPLY[@]}"`;
    const out = await execa('bash', ['-c', script]);
    expect(out.stdout.trim()).toBe('create');
  });
});

describe('site check', () => {
  const variant = (change: (s: EmulatedSite['site']) => void) => {
    const s = JSON.parse(fs.readFileSync(site.siteFile, 'utf8')) as EmulatedSite['site'];
    change(s);
    const f = path.join(tempDir(), 'site.json');
    fs.writeFileSync(f, JSON.stringify(s, null, 2));
    return f;
  };
  const check = (file: string, json = false) => qsadmin(['site', 'check', '--site', file, ...(json ? ['--json'] : [])], { env: { QSADMIN_STATE_DIR: stateDir } });

  it('passes a config that matches its site, reaching the node and the database', async () => {
    const r = await check(site.siteFile, true);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; findings: Array<{ key: string; ok: boolean; message: string }> };
    expect(out.ok).toBe(true);
    expect(out.findings.map((f) => f.key)).toEqual(['nodes[0]', 'database', 'shareRoot']);
    expect(out.findings[0].message).toMatch(/7 of 7 services running/);
    expect(out.findings[1].message).toMatch(/^PostgreSQL \d+\.\d+/);
  });

  it('names the key that is wrong: a hostname, the share root, the database port', async () => {
    const host = await check(variant((s) => (s.nodes[0].hostname = 'qs-other.emulated.test')));
    expect(host.exitCode).toBe(2);
    expect(host.stderr).toMatch(/nodes\[0\]\.hostname: Host\.cfg on central names qs-central\.emulated\.test/);
    expect(host.stdout).toMatch(/FAIL nodes\[0\]\.hostname: qs-other\.emulated\.test is not a node of this site in QSR/);
    const share = await check(variant((s) => (s.shareRoot = '/srv/elsewhere')));
    expect(share.exitCode).toBe(2);
    expect(share.stderr).toMatch(/shareRoot: QSR's share root is .* the config says \/srv\/elsewhere/);
    const port = await check(variant((s) => (s.database.port = 1)));
    expect(port.exitCode).toBe(2);
    expect(port.stderr).toMatch(/database: the repository database at .*:1 is not usable/);
  });
});
