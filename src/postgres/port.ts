// Free TCP ports for throwaway database servers.
import net from 'node:net';

// Whether nothing listens on host:port right now (a later bind can still lose a race).
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// A port the OS reports free on host.
export function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// A free port in [lo, hi], tried in random order (so concurrent test runs rarely collide); skips ports in `avoid`.
export async function pickFreePort(host: string, range: [number, number], avoid: number[] = []): Promise<number> {
  const [lo, hi] = range;
  const ports: number[] = [];
  for (let p = lo; p <= hi; p++) if (!avoid.includes(p)) ports.push(p);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ports[i], ports[j]] = [ports[j], ports[i]];
  }
  for (const p of ports) if (await isPortFree(host, p)) return p;
  throw new Error(`no free TCP port on ${host} in ${lo}-${hi}: stop leftover test servers or widen the range`);
}
