// QRS's state from http://<node>:4444/status/servicestate (0 initializing, 1 certificates not installed,
// 2 running); null when nothing answers. The same request on every driver.
import http from 'node:http';

export function fetchRepositoryState(host: string, port: number, timeoutMs = 2000): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/status/servicestate', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => {
        try {
          const value = (JSON.parse(body) as { value?: unknown }).value;
          resolve(typeof value === 'number' ? value : null);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
