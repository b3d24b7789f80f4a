// QRS's certificate unlock port 4570 (plain HTTP, localhost only, open while the node waits for its certificates;
// guide §1.3 "Certificate password verification port ... closed immediately after the certificate has been unlocked").
// POST /certificateSetup with the form field __pwd opens the package the central node distributed. On an emulated
// node, "localhost" is the node's own address: a request from any other address is refused (403).
import http from 'node:http';

export type UnlockAnswer = 'unlocked' | 'wrong-password' | 'no-package';

// A server that passes the password to `unlock` and answers as the browser page does.
export function createUnlockServer(localAddress: string, log: (message: string) => void, unlock: (password: string) => Promise<UnlockAnswer>): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (from !== localAddress) {
      log(`Certificate unlock refused: request from ${from}, the port answers only localhost`);
      return send(403, 'the certificate unlock port answers only requests from this machine (localhost)');
    }
    let body = '';
    req.on('data', (chunk: Buffer) => {
      if (body.length < 4096) body += chunk.toString('utf8');
    });
    req.on('end', () => {
      if (req.method !== 'POST' || path.toLowerCase() !== '/certificatesetup') return send(404, `${req.method} ${path} is not served on the certificate unlock port`);
      log('Certificate unlock request received on the unlock port');
      const password = new URLSearchParams(body).get('__pwd');
      if (!password) return send(400, 'the form field __pwd (the password from the central node) is missing');
      unlock(password).then(
        (answer) => {
          if (answer === 'unlocked') return send(200, 'Successfully licensed');
          if (answer === 'no-package') return send(409, 'no certificate package has been distributed to this node yet: register the node on the central node first');
          log('Certificate unlock: wrong password');
          return send(403, 'the password does not open the certificate package');
        },
        (err: unknown) => send(500, `certificate unlock failed: ${err instanceof Error ? err.message : String(err)}`),
      );
    });
  });
}
