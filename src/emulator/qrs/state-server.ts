// QRS's plain-HTTP service state endpoint on 4444: GET /status/servicestate → {"value": 0|1|2}
// (0 initializing, 1 certificates not installed, 2 running; reference/qrs-api.md, digest §4.4).
import http from 'node:http';

export const SERVICE_STATE = { initializing: 0, certificatesNotInstalled: 1, running: 2 } as const;

// A server that reports whatever the current state is when asked.
export function createStateServer(current: () => number): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0].toLowerCase();
    if (req.method === 'GET' && path === '/status/servicestate') {
      const body = JSON.stringify({ value: current() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`${req.method} ${path} is not served on the QRS state port`);
  });
}
