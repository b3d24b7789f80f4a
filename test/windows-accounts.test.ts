// The Windows driver's accounts, groups, ACLs and Log On (guide §2.11) through the recording fake PowerShell: every
// script passes the real PowerShell grammar and the fake's allowlist of documented cmdlets, types and members; the
// password travels only as a parameter over the session's stdin; a Log On with a password that is not the account's
// fails at start with 1069, and an account that does not exist is refused with 1057, as on Windows.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WindowsHost } from '../src/host/windows/index.js';
import * as accountScripts from '../src/host/windows/ps/accounts.js';
import type { SiteConfig } from '../src/site/model.js';
import { ROOT } from './helpers/cli.js';
import { powershellErrors } from './helpers/powershell.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { qlikServiceRows } from './helpers/windows-machine.js';

const FAKE = path.join(ROOT, 'test', 'fixtures', 'powershell', 'fake-powershell.mjs');
const ACCOUNT = 'CORP\\qliksvc';
const PASSWORD = "it's a 'pa$$word' ‘x’; Remove-Item C:\\";
let dir: string;
let stateFile: string;
let logFile: string;

const site = (): SiteConfig => ({
  name: 'win-accounts', driver: 'windows',
  nodes: [{ name: 'central', hostname: 'qs-central.corp.example', role: 'central', address: '127.0.0.74', portOffset: 45000, reach: { via: 'local' } }],
  database: { host: '127.0.0.74', port: 49432, service: 'QlikSenseRepositoryDatabase', node: 'central', superuser: 'postgres', passwordEnv: 'QSADMIN_DB_PASSWORD' },
  serviceAccount: 'CORP\\qservice', shareRoot: '\\\\fs\\QlikShare',
});
const recorded = () => fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { script: string; args: Record<string, unknown> });

beforeAll(() => {
  dir = tempDir();
  stateFile = path.join(dir, 'machine.json');
  logFile = path.join(dir, 'ps.log');
  Object.assign(process.env, { QSADMIN_EMULATOR_PS_STATE: stateFile, QSADMIN_EMULATOR_PS_LOG: logFile });
  fs.writeFileSync(stateFile, JSON.stringify({
    services: qlikServiceRows('CORP\\qservice', '14'),
    identity: { user: 'CORP\\admin', elevated: true, computer: 'QS-CENTRAL' },
    accounts: { [ACCOUNT.toLowerCase()]: { password: PASSWORD, groups: [] }, 'corp\\qservice': { password: 'old', admin: true } },
  }));
});

afterAll(() => {
  delete process.env.QSADMIN_EMULATOR_PS_STATE;
  delete process.env.QSADMIN_EMULATOR_PS_LOG;
  cleanupTempDirs();
});

describe('Windows accounts (PowerShell)', () => {
  it('every accounts script parses with the PowerShell grammar', async () => {
    for (const s of Object.values(accountScripts)) expect(await powershellErrors(s.text), s.name).toEqual([]);
  });

  it('looks up, checks, grants and sets the Log On; Windows refusals come back as 1057 and 1069', async () => {
    const h = new WindowsHost(site(), site().nodes[0], { powershell: FAKE });
    try {
      expect(await h.accounts.lookup('CORP\\nobody')).toMatchObject({ exists: false });
      expect(await h.accounts.lookup(ACCOUNT)).toEqual({ account: ACCOUNT, exists: true, administrator: false, groups: [] });
      expect(await h.accounts.checkPassword(ACCOUNT, 'wrong')).toBe(false);
      expect(await h.accounts.checkPassword(ACCOUNT, PASSWORD)).toBe(true);
      await h.accounts.addToGroup(ACCOUNT, 'Qlik Sense Service Users');
      await h.accounts.addToGroup(ACCOUNT, 'Performance Monitor Users');
      expect((await h.accounts.lookup(ACCOUNT)).groups).toEqual(['Qlik Sense Service Users', 'Performance Monitor Users']);
      expect(await h.accounts.hasFullControl('C:\\ProgramData\\Qlik\\Sense', ACCOUNT)).toBe(false);
      await h.accounts.grantFullControl('C:\\ProgramData\\Qlik\\Sense', ACCOUNT);
      expect(await h.accounts.hasFullControl('C:\\ProgramData\\Qlik\\Sense', ACCOUNT)).toBe(true);
      await expect(h.accounts.setServiceLogon('QlikSenseEngineService', 'CORP\\nobody', 'x')).rejects.toMatchObject({ code: 'INVALID_ACCOUNT', windowsError: 1057 });
      await h.services.stop('QlikSenseEngineService');
      await h.accounts.setServiceLogon('QlikSenseEngineService', ACCOUNT, 'not-the-password');
      expect(await h.accounts.serviceLogon('QlikSenseEngineService')).toBe(ACCOUNT);
      await expect(h.services.start('QlikSenseEngineService')).rejects.toMatchObject({ code: 'LOGON', windowsError: 1069 });
      await h.accounts.setServiceLogon('QlikSenseEngineService', ACCOUNT, PASSWORD);
      await h.services.start('QlikSenseEngineService');
      expect((await h.services.status('QlikSenseEngineService')).state).toBe('running');
      // the password only ever travelled as a parameter of the two scripts that need it
      const withPassword = recorded().filter((r) => JSON.stringify(r.args).includes('pa$$word'));
      expect([...new Set(withPassword.map((r) => r.script))].sort()).toEqual(['account.check-password', 'service.set-logon']);
    } finally {
      await h.close();
    }
  }, 60_000);
});
