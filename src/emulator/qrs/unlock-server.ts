// QRS's certificate unlock port 4570 (plain HTTP, localhost only, open while the node waits for its certificates).
// Placeholder: POST /certificateSetup is answered 404 until cluster join (certificate distribution) is emulated.
import http from 'node:http';

// A server that accepts the unlock request and says it is not emulated yet.
export function createUnlockServer(log: (message: string) => void): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    let body = '';
    req.on('data', (chunk: Buffer) => {
      if (body.length < 4096) body += chunk.toString('utf8');
    });
    req.on('end', () => {
      if (req.method === 'POST' && path.toLowerCase() === '/certificatesetup') {
        const hasPassword = new URLSearchParams(body).has('__pwd');
        log(`Certificate unlock requested (${hasPassword ? 'password given' : 'no __pwd field'}); certificate distribution is not emulated yet`);
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('certificate unlock is not emulated yet: no certificate package to unlock');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`${req.method} ${path} is not served on the certificate unlock port`);
    });
  });
}
