// The emulated Alerting node's two services, each a real child process run by the emulated service control:
// - MongoDB (EMULATION: a stand-in, not a MongoDB server): a TCP listener on mongod.cfg's net.port that accepts
//   connections and answers nothing; the fake tools check it listens, then use its data folder (store.ts).
// - the Qlik Alerting Gateway: reads config\default.json at start (the seed: restart it to pick up new settings),
//   refuses to start without MongoDB, and serves HTTP on gateway.httpPort and, with https true, HTTPS with
//   config\certificates\server.pem and server_key.pem (no passphrase, seed l.209) on gateway.httpsPort.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { windowsToEmulated } from '../../host/paths.js';
import { alertingOf, alertingPaths, parseDefaultJson } from '../../alerting/config.js';
import { portAccepts } from '../services/database.js';
import type { ServiceRuntime } from '../services/runtime.js';
import { readMongodCfg } from './store.js';

export async function runMongoStandIn(rt: ServiceRuntime): Promise<void> {
  const p = alertingPaths(alertingOf(rt.site));
  const cfg = readMongodCfg(windowsToEmulated(rt.root, p.mongoBinDir), rt.root);
  if (!fs.existsSync(cfg.dbPath)) rt.fail(`Data directory ${cfg.dbPath} not found. Create the missing directory or specify another path using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option in the configuration file.`);
  const server = net.createServer((s) => s.on('error', () => undefined));
  // EMULATION: bindIp 127.0.0.1 means the node's own loopback address.
  await rt.listen(server, cfg.port, cfg.bindIp === '127.0.0.1' || cfg.bindIp === 'localhost' ? rt.node.address : cfg.bindIp);
  rt.running(`MongoDB stand-in (emulated) waiting for connections on port ${cfg.port}`);
}

export async function runGateway(rt: ServiceRuntime): Promise<void> {
  const p = alertingPaths(alertingOf(rt.site));
  const local = (w: string) => windowsToEmulated(rt.root, w);
  let settings;
  try {
    settings = parseDefaultJson(fs.readFileSync(local(p.defaultJson), 'utf8'), p.defaultJson);
  } catch (e) {
    rt.fail(`cannot read ${p.defaultJson}: ${(e as Error).message}`);
  }
  const mongoHost = ['localhost', '127.0.0.1'].includes(settings.mongo.host) ? rt.node.address : settings.mongo.host;
  if (!(await portAccepts(mongoHost, settings.mongo.port))) rt.fail(`cannot connect to MongoDB at ${settings.mongo.host}:${settings.mongo.port}: connection refused`);
  const g = settings.gateway;
  const ip = ['localhost', '127.0.0.1'].includes(g.ip) ? rt.node.address : g.ip;
  const answer = (port: number) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ service: 'Qlik Alerting Gateway', emulated: true, port }));
  };
  await rt.listen(http.createServer(answer(g.httpPort)), g.httpPort, ip);
  if (g.https) {
    let key: Buffer, cert: Buffer;
    try {
      key = fs.readFileSync(local(`${p.certificatesDir}\\server_key.pem`));
      cert = fs.readFileSync(local(`${p.certificatesDir}\\server.pem`));
    } catch (e) {
      rt.fail(`cannot read the web certificate in ${p.certificatesDir}: ${(e as Error).message}`);
    }
    let server: https.Server;
    try {
      server = https.createServer({ key, cert }, answer(g.httpsPort));
    } catch (e) {
      rt.fail(`the web certificate in ${p.certificatesDir} is not usable (server_key.pem must have no passphrase): ${(e as Error).message}`);
    }
    await rt.listen(server, g.httpsPort, ip);
  }
  rt.running(`Qlik Alerting Gateway (emulated) listening on ${ip} ports ${g.https ? `${g.httpPort}, ${g.httpsPort}` : g.httpPort}`);
}
