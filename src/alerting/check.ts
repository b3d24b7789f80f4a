// `qsadmin alerting check`: is Qlik Alerting healthy beside the site? Read-only, on the Alerting node:
// MongoDB answers (a mongoexport of the users collection through the node's own tools: MongoDB listens on localhost
// by default, so the check runs where it runs), the Gateway service runs and answers on the ports default.json names,
// and the users: at least one administrator (seed: "always have at least one administrator"), users without an email
// address (they cannot receive alerts), users holding both a Professional and an Analyzer licence (seed: an
// inconsistent experience; remove the Analyzer one).
//
// The users' fields are an ASSUMPTION (the seed documents the UI, not the database): collection "users", documents
// with userDirectory, userId, email, role ("admin" for an administrator) and licenses (["professional",
// "analyzer", ...]). Not checked, and reported as such: the Sense licence's Alerting attributes (the seed names no
// attribute and QRS serves no licence detail qsadmin reads) and the last user sync (no documented source).
import net from 'node:net';
import type { Host } from '../host/types.js';
import type { ServiceName } from '../site/services.js';
import type { SiteConfig } from '../site/model.js';
import { Redactor } from '../runbook/redact.js';
import { alertingOf, alertingPaths, ALERTING_DB, GATEWAY_DISPLAY, readAlertingSettings, type AlertingSettings } from './config.js';
import { runTool } from './tools.js';

export type FindingStatus = 'ok' | 'fail' | 'warn' | 'skipped';

export interface AlertingFinding {
  check: string;
  status: FindingStatus;
  message: string;
  /** Users a finding is about (DIRECTORY\userId). */
  users?: string[];
}

export interface AlertingCheckResult {
  node: string;
  ok: boolean;
  findings: AlertingFinding[];
}

interface AlertingUser {
  userDirectory?: string;
  userId?: string;
  name?: string;
  email?: string | null;
  role?: string;
  licenses?: string[];
}

function answers(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(timeoutMs);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

const who = (u: AlertingUser) => `${u.userDirectory ?? '?'}\\${u.userId ?? u.name ?? '?'}`;

/** Run every check; a finding never throws. privateDir holds the --config file while a tool runs. */
export async function checkAlerting(site: SiteConfig, host: Host, privateDir: string): Promise<AlertingCheckResult> {
  const a = alertingOf(site);
  const p = alertingPaths(a);
  const findings: AlertingFinding[] = [];
  // a tool's error may quote what it was given: every message goes out without MongoDB's password
  const redactor = new Redactor();
  const add = (check: string, status: FindingStatus, message: string, users?: string[]) => findings.push({ check, status, message: redactor.text(message), ...(users ? { users } : {}) });
  let settings: AlertingSettings | null = null;
  try {
    settings = await readAlertingSettings(host, p.defaultJson, redactor);
    add('config', 'ok', `${p.defaultJson}: gateway ${settings.gateway.ip} http ${settings.gateway.httpPort}${settings.gateway.https ? `, https ${settings.gateway.httpsPort}` : ''}; MongoDB ${settings.mongo.host}:${settings.mongo.port}`);
  } catch (e) {
    add('config', 'fail', `cannot read ${p.defaultJson}: ${(e as Error).message}`);
  }

  let users: AlertingUser[] | null = null;
  if (settings) {
    try {
      const r = await runTool({ host, binDir: p.mongoBinDir, conn: settings.mongo, privateDir }, 'mongoexport', [`--db=${ALERTING_DB}`, '--collection=users', '--jsonArray', '--quiet'], { timeoutMs: 60_000 });
      users = JSON.parse(r.stdout || '[]') as AlertingUser[];
      add('mongodb', 'ok', `MongoDB at ${settings.mongo.host}:${settings.mongo.port} answers: ${users.length} users in ${ALERTING_DB}.users`);
    } catch (e) {
      add('mongodb', 'fail', `MongoDB at ${settings.mongo.host}:${settings.mongo.port} is not usable from ${a.node}: ${(e as Error).message}`);
    }
  }

  const st = await host.services.status(p.gatewayService as ServiceName).catch(() => null);
  if (st?.state === 'running') add('gateway.service', 'ok', `${GATEWAY_DISPLAY} (${p.gatewayService}) is running`);
  else add('gateway.service', 'fail', `${GATEWAY_DISPLAY} (${p.gatewayService}) is ${st?.state ?? 'not known to the service control'}: start it (qsadmin restore --only alerting starts it too)`);
  if (settings) {
    const g = settings.gateway;
    for (const [what, port] of [['http', g.httpPort], ...(g.https ? [['https', g.httpsPort]] : [])] as Array<[string, number]>) {
      if (await answers(g.ip, port)) add(`gateway.${what}`, 'ok', `the Gateway answers on ${g.ip}:${port} (${what})`);
      else add(`gateway.${what}`, 'fail', `nothing answers on ${g.ip}:${port} (gateway.${what}Port in default.json): ${st?.state === 'running' ? 'the Gateway reads default.json at start: restart it after a change (seed: "Changing the ports")' : 'the Gateway is not running'}`);
    }
  }

  if (users) {
    const admins = users.filter((u) => u.role === 'admin');
    if (admins.length) add('users.admin', 'ok', `${admins.length} administrator(s): ${admins.map(who).join(', ')}`);
    else add('users.admin', 'fail', 'no Qlik Alerting administrator: there must always be at least one (Admin > User Management > Users > edit > administrator)');
    const noEmail = users.filter((u) => !u.email);
    if (noEmail.length) add('users.email', 'warn', `${noEmail.length} user(s) without an email address cannot receive alerts: add it in Qlik Sense's user directory or in Alerting (Admin > User Management > Users)`, noEmail.map(who));
    else add('users.email', 'ok', 'every user has an email address');
    const both = users.filter((u) => u.licenses?.includes('professional') && u.licenses.includes('analyzer'));
    if (both.length) add('users.licences', 'warn', `${both.length} user(s) hold both a Professional and an Analyzer licence: their Alerting access may switch between the two; remove the Analyzer licence in the QMC`, both.map(who));
    else add('users.licences', 'ok', 'no user holds both a Professional and an Analyzer licence');
  }
  add('licence.attributes', 'skipped', 'not checked: the seed names no licence attribute for Alerting, and qsadmin reads no licence detail from QRS');
  add('users.sync', 'skipped', 'not checked: the last user sync (every 30 minutes after the previous one) has no documented source to read');
  return { node: a.node, ok: findings.every((f) => f.status !== 'fail'), findings };
}
