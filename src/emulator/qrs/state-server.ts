// QRS's plain-HTTP service state endpoint on 4444: GET /status/servicestate → {"value": 0|1|2}
// (0 initializing, 1 certificates not installed, 2 running; reference/qrs-api.md, digest §4.4). While the node waits
// for its certificates (state 1), the same port takes the central node's certificate package (distribution.ts).
import http from 'node:http';
import { PACKAGE_PATH } from './distribution.js';

export const SERVICE_STATE = { initializing: 0, certificatesNotInstalled: 1, running: 2 } as const;

// A server that reports whatever the current state is when asked; `onPackage` takes a distributed certificate package.
export function createStateServer(current: () => number, onPackage?: (pkg: Buffer) => void): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0].toLowerCase();
    if (req.method === 'GET' && path === '/status/servicestate') {
      const body = JSON.stringify({ value: current() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (req.method === 'POST' && path === PACKAGE_PATH && onPackage) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (current() !== SERVICE_STATE.certificatesNotInstalled) {
          res.writeHead(409, { 'content-type': 'text/plain' });
          res.end('this node is not waiting for certificates');
          return;
        }
        onPackage(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('certificate package received: enter the password on the node');
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`${req.method} ${path} is not served on the QRS state port`);
  });
}
